import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Blackboard, toJsonSafe } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';

describe('Blackboard', () => {
  let clock: VirtualClock;
  beforeEach(() => {
    clock = new VirtualClock();
  });
  afterEach(() => clock.uninstall());

  it('gets, sets, deletes and lists keys by prefix', () => {
    const bb = new Blackboard(clock);
    bb.set('fleet.size', 3);
    bb.set('fleet.myRank', 0);
    bb.set('control.paused', false);
    expect(bb.get<number>('fleet.size')).toBe(3);
    expect(bb.has('control.paused')).toBe(true);
    expect(bb.keys('fleet.')).toEqual(['fleet.myRank', 'fleet.size']);
    expect(bb.keys()).toHaveLength(3);
    expect(bb.delete('fleet.size')).toBe(true);
    expect(bb.delete('fleet.size')).toBe(false);
    expect(bb.get('fleet.size')).toBeUndefined();
    expect(() => bb.set('', 1)).toThrow(TypeError);
  });

  it('calls exact and prefix watchers after writes and deletes, until unsubscribed', () => {
    const bb = new Blackboard(clock);
    const exact = vi.fn();
    const prefix = vi.fn();
    const unsubscribe = bb.watch('intents.scale-up', exact);
    bb.watch('intents.*', prefix);
    bb.set('intents.scale-up', { n: 1 });
    bb.set('intents.hold', true);
    bb.set('other', 1);
    bb.delete('intents.hold');
    expect(exact.mock.calls).toEqual([['intents.scale-up', { n: 1 }]]);
    expect(prefix.mock.calls).toEqual([
      ['intents.scale-up', { n: 1 }],
      ['intents.hold', true],
      ['intents.hold', undefined],
    ]);
    unsubscribe();
    bb.set('intents.scale-up', { n: 2 });
    expect(exact).toHaveBeenCalledTimes(1);
    expect(prefix).toHaveBeenCalledTimes(4);
  });

  it('never lets a throwing watcher break the writer or the other watchers', () => {
    const errors: string[] = [];
    const bb = new Blackboard(clock, { onWatcherError: (_err, key) => errors.push(key) });
    const after = vi.fn();
    bb.watch('*', () => {
      throw new Error('boom');
    });
    bb.watch('k', after);
    expect(() => bb.set('k', 1)).not.toThrow();
    expect(bb.get('k')).toBe(1);
    expect(after).toHaveBeenCalledWith('k', 1);
    expect(errors).toEqual(['k']);
  });

  it('creates series on demand with the configured capacity', () => {
    const bb = new Blackboard(clock, { seriesCapacity: 2 });
    expect(bb.existingSeries('busy')).toBeUndefined();
    const busy = bb.series('busy');
    expect(bb.existingSeries('busy')).toBe(busy);
    expect(bb.series('busy')).toBe(busy);
    busy.push(1);
    busy.push(2);
    busy.push(3);
    expect(busy.count(Infinity)).toBe(2);
    expect(bb.seriesNames()).toEqual(['busy']);
    expect(bb.existingSeries('idle')).toBeUndefined();
    expect(bb.seriesNames()).toEqual(['busy']); // looking never creates
    expect(() => new Blackboard(clock, { seriesCapacity: -1 })).toThrow(RangeError);
  });

  it('snapshots a JSON-safe deep copy with series summaries', async () => {
    const bb = new Blackboard(clock);
    const fleet = { members: [{ id: 'i-1', launchTime: 5 }] };
    bb.set('fleet', fleet);
    bb.set('weird', { nan: Number.NaN, fn: () => 1, when: new Date(0), big: 10n });
    const busy = bb.series('busy');
    for (let i = 0; i < 120; i++) {
      busy.push(i < 60 ? 0 : 1);
      await clock.advance(1000);
    }
    const snap = bb.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    fleet.members[0].id = 'changed';
    expect(snap.values.fleet).toEqual({ members: [{ id: 'i-1', launchTime: 5 }] });
    expect(snap.values.weird).toEqual({ nan: null, when: '1970-01-01T00:00:00.000Z', big: '10' });
    expect(snap.series.busy).toEqual({ last: 1, avg1m: 1, avg5m: 0.5, avg15m: 0.5, samples: 120 });
  });

  it('turns cycles, maps, sets and errors into JSON', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    expect(toJsonSafe(cyclic)).toEqual({ a: 1, self: '[Circular]' });
    expect(toJsonSafe(new Map([['k', new Set([1, undefined])]]))).toEqual({ k: [1, null] });
    expect(toJsonSafe(Object.assign(new Error('no'), { code: 'X' }))).toEqual({ name: 'Error', message: 'no', code: 'X' });
  });
});
