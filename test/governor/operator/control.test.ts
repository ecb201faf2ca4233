import { describe, expect, it } from 'vitest';
import { Blackboard } from '../../../governor/blackboard.js';
import { VirtualClock } from '../../../governor/virtual-clock.js';
import type { InstanceInfo, SignalSummary } from '../../../governor/cloud/port.js';
import { normalizeSummary } from '../../../governor/cloud/port-input.js';
import { isGovError } from '../../../governor/errors.js';
import { Journal } from '../../../governor/journal.js';
import {
  CONTROL_KEYS,
  adoptPeerControl,
  applyControl,
  newestPeerControl,
  readControl,
  supersedes,
  withControlState,
} from '../../../governor/operator/control.js';
import { formatShutdownProgress } from '../../../governor/operator/format.js';
import { outcomeText, parseOutcome } from '../../../governor/operator/outcome.js';

const summary = (over: Partial<SignalSummary> = {}): SignalSummary => ({
  at: 1,
  busyNow: 0.5,
  busy1m: 0.5,
  busy5m: 0.5,
  busy15m: 0.5,
  queueWaitP95Ms: 0,
  queueWaitNowMs: 0,
  queueDepth: 0,
  rps: 1,
  inFlight: 0,
  ready: true,
  windowsFilled: true,
  ...over,
});
const member = (id: string, s?: SignalSummary): InstanceInfo => ({ id, fleet: 'edge', region: 'r', state: 'running', launchTime: 0, ...(s ? { summary: s } : {}) });

describe('Stop!/Go! control state', () => {
  it('the later decision wins; at the same time a pause wins', () => {
    const pause = { paused: true, since: 10, by: 'a' };
    const resume = { paused: false, since: 20, by: 'b' };
    expect(supersedes(pause, undefined)).toBe(true);
    expect(supersedes(resume, pause)).toBe(true);
    expect(supersedes(pause, resume)).toBe(false);
    expect(supersedes({ ...resume, since: 10 }, pause)).toBe(false);
    expect(supersedes(pause, { ...resume, since: 10 })).toBe(true);
    expect(supersedes(pause, pause)).toBe(false);
  });

  it('newestPeerControl reads the peers summaries only, ignoring members without a decision', () => {
    const fleet = [
      member('i-self', summary({ paused: false, controlSince: 99 })),
      member('i-a', summary({ paused: true, controlSince: 10 })),
      member('i-b', summary({ paused: false, controlSince: 30 })),
      member('i-c', summary()),
      member('i-d'),
    ];
    expect(newestPeerControl('i-self', fleet)).toEqual({ paused: false, since: 30, by: 'peer i-b' });
    expect(newestPeerControl('i-self', [member('i-c', summary())])).toBeUndefined();
  });

  it('applyControl journals a change of the flag, moves since forward quietly, and answers superseded for an older decision', () => {
    const clock = new VirtualClock();
    try {
      const bb = new Blackboard(clock);
      const journal = new Journal({ clock });
      expect(applyControl(bb, journal, { paused: true, since: 10, by: 'op' })).toEqual({ status: 'accepted', detail: expect.stringMatching(/^paused \(Stop!\)/) });
      expect(applyControl(bb, journal, { paused: true, since: 20, by: 'op2' }).status).toBe('accepted');
      expect(readControl(bb)).toEqual({ paused: true, since: 20, by: 'op2' });
      expect(applyControl(bb, journal, { paused: false, since: 15, by: 'late' })).toEqual({
        status: 'superseded',
        detail: `a newer decision stands: paused (Stop!) at ${new Date(20).toISOString()} by op2`,
      });
      expect(applyControl(bb, journal, { paused: true, since: 20, by: 'again' }).detail).toMatch(/^already paused/);
      expect(journal.query().map((e) => e.name)).toEqual(['control']);
      expect(adoptPeerControl(bb, journal, 'me', [member('p', summary({ paused: false, controlSince: 25 }))])).toEqual({ paused: false, since: 25, by: 'peer p' });
      expect(bb.get(CONTROL_KEYS.paused)).toBe(false);
      expect(adoptPeerControl(bb, journal, 'me', [member('p', summary({ paused: true, controlSince: 21 }))])).toBeUndefined();
      expect(journal.query().map((e) => e.name)).toEqual(['control', 'control']);
    } finally {
      clock.uninstall();
    }
  });

  it('the published summary carries the decision, and the cloud keeps it (and refuses a wrong type)', () => {
    const s = summary();
    expect(withControlState(s, undefined)).toBe(s);
    const published = withControlState(s, { paused: true, since: 42, by: 'op' });
    expect(normalizeSummary(published)).toMatchObject({ paused: true, controlSince: 42 });
    expect(normalizeSummary(s)).not.toHaveProperty('paused');
    expect(() => normalizeSummary({ ...s, paused: 'yes' } as unknown as SignalSummary)).toThrow(
      expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' }),
    );
    let error: unknown;
    try {
      normalizeSummary({ ...s, controlSince: Number.NaN });
    } catch (err) {
      error = err;
    }
    expect(isGovError(error, 'GOV_ERR_CLOUD_BAD_REQUEST')).toBe(true);
  });
});

describe('outcomes and the progress display', () => {
  it('outcome texts round-trip and stay within an acknowledgement', () => {
    expect(parseOutcome(outcomeText({ status: 'refused', detail: 'last one: no' }))).toEqual({ status: 'refused', detail: 'last one: no' });
    expect(parseOutcome('expired')).toEqual({ status: 'expired', detail: '' });
    expect(parseOutcome('weird')).toEqual({ status: 'unknown', detail: 'weird' });
    expect(outcomeText({ status: 'accepted', detail: 'x'.repeat(900) })).toHaveLength(500);
  });

  it('formats a shutdown in progress phase by phase', () => {
    const request = { by: 'operator', reason: 'test', at: 0 };
    const progress = {
      phase: 'drain' as const,
      startedAt: 0,
      request,
      phases: [
        { name: 'not-ready' as const, startedAt: 0, endedAt: 2000, outcome: 'ok' as const },
        { name: 'drain' as const, startedAt: 2000 },
      ],
    };
    expect(formatShutdownProgress('i-1', { state: 'leaving', progress }, 5100)).toBe(
      'i-1 leaving  2/4 drain  [not-ready ok 2.0 s | drain 3.1 s... | flush - | terminate -]',
    );
    expect(formatShutdownProgress('i-1', { state: 'running' }, 0)).toBe('i-1 running  (no progress: its admin API is not reachable from here)');
    expect(formatShutdownProgress('i-1', { state: 'gone' }, 0)).toBe('i-1 gone');
  });
});
