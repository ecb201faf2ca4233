import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Blackboard } from '../../governor/blackboard.js';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { Journal, RECENT_ENTRIES } from '../../governor/journal.js';
import type { JournalEntry } from '../../governor/journal-types.js';
import { createLogger } from '../../governor/log.js';

function captureLogger() {
  const lines: Array<{ level: number; msg: string }> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  return { log: createLogger('info', stream), lines };
}

describe('Journal', () => {
  let clock: VirtualClock;
  beforeEach(() => {
    clock = new VirtualClock();
  });
  afterEach(() => clock.uninstall());

  it('records entries with increasing seq and the clock time', async () => {
    const journal = new Journal({ clock });
    const a = journal.record({ kind: 'intent', name: 'scale-up', reason: 'busy 0.9 > 0.7 for 60s' });
    await clock.advance(1500);
    const b = journal.record({ kind: 'action', name: 'scale-up', reason: 'launched 1', data: { id: 'i-2' } });
    expect(a.seq).toBe(1);
    expect(b.seq).toBe(2);
    expect(b.at - a.at).toBe(1500);
    expect(Object.isFrozen(b)).toBe(true);
    expect(journal.query()).toEqual([a, b]);
  });

  it('filters by since, kind and name and returns the newest `limit` oldest first', () => {
    const journal = new Journal({ clock });
    for (let i = 0; i < 10; i++) {
      journal.record({ kind: i % 2 ? 'suppressed' : 'action', name: i < 5 ? 'scale-up' : 'scale-down', reason: `r${i}` });
    }
    expect(journal.query({ since: 8 }).map((e) => e.seq)).toEqual([9, 10]);
    expect(journal.query({ kind: 'suppressed' }).map((e) => e.seq)).toEqual([2, 4, 6, 8, 10]);
    expect(journal.query({ kind: 'suppressed', name: 'scale-down' }).map((e) => e.seq)).toEqual([6, 8, 10]);
    expect(journal.query({ limit: 3 }).map((e) => e.seq)).toEqual([8, 9, 10]);
    expect(journal.query({ limit: 0 })).toEqual([]);
    expect(() => journal.query({ limit: -1 })).toThrow(RangeError);
  });

  it('is bounded: the oldest entries are dropped beyond capacity', () => {
    const journal = new Journal({ clock, capacity: 5 });
    for (let i = 0; i < 12; i++) journal.record({ kind: 'info', name: 'n', reason: String(i) });
    expect(journal.query().map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
  });

  it('mirrors the newest entries and the total count to the blackboard', () => {
    const blackboard = new Blackboard(clock);
    const journal = new Journal({ clock, blackboard, capacity: 60 });
    for (let i = 0; i < 70; i++) journal.record({ kind: 'info', name: 'n', reason: String(i) });
    const recent = blackboard.get<JournalEntry[]>('journal.recent')!;
    expect(recent).toHaveLength(RECENT_ENTRIES);
    expect(recent[0].seq).toBe(21);
    expect(recent[RECENT_ENTRIES - 1].seq).toBe(70);
    expect(blackboard.get('journal.count')).toBe(70);
  });

  it('logs every entry, errors at warn level', () => {
    const { log, lines } = captureLogger();
    const journal = new Journal({ clock, log });
    journal.record({ kind: 'rules', name: 'reload', reason: '3 rules' });
    journal.record({ kind: 'error', name: 'fleet', reason: 'cloud unavailable' });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [30, 'rules reload: 3 rules'],
      [40, 'error fleet: cloud unavailable'],
    ]);
  });

  it('rejects an unknown kind and a bad capacity', () => {
    const journal = new Journal({ clock });
    expect(() => journal.record({ kind: 'bogus' as 'info', name: 'n', reason: 'r' })).toThrow(/kind must be one of/);
    expect(() => new Journal({ clock, capacity: 0 })).toThrow(RangeError);
  });
});
