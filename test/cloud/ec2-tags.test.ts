import { describe, expect, it } from 'vitest';
import { decodeCommand, decodeSummary, encodeCommand, encodeSummary, memberState } from '../../governor/cloud/ec2-tags.js';
import type { SignalSummary } from '../../governor/cloud/port.js';

const summary: SignalSummary = {
  at: 1_767_225_600_000,
  busyNow: 0.6666666,
  busy1m: 0.5,
  busy5m: 0.25,
  busy15m: 0.125,
  queueWaitP95Ms: 12.3456,
  queueWaitNowMs: 0,
  queueDepth: 3,
  rps: 1234.5,
  inFlight: 7,
  ready: true,
  windowsFilled: false,
};

describe('ec2 tag encodings', () => {
  it('a summary round-trips through one tag value, rounded to 3 decimals and whole seconds', () => {
    const value = encodeSummary({ ...summary, at: summary.at + 999 });
    expect(value).toBe('t=1767225600;b0=0.667;b1=0.5;b5=0.25;b15=0.125;w=12.346;w0=0;q=3;r=1234.5;f=7;rd=1;wf=0');
    expect(decodeSummary(value)).toEqual({ ...summary, busyNow: 0.667, queueWaitP95Ms: 12.346 });
  });

  it('carries the optional Stop! state only when present', () => {
    const paused = { ...summary, busyNow: 0.5, queueWaitP95Ms: 12, paused: true, controlSince: 1_767_225_000_123 };
    const value = encodeSummary(paused);
    expect(value.endsWith(';p=1;cs=1767225000123')).toBe(true);
    expect(decodeSummary(value)).toEqual(paused);
  });

  it('carries the optional demand figure only when present', () => {
    const shedding = { ...summary, busyNow: 1, queueWaitP95Ms: 12, demandNow: 2.71828 };
    const value = encodeSummary(shedding);
    expect(value.endsWith(';d0=2.718')).toBe(true);
    expect(decodeSummary(value)).toEqual({ ...shedding, demandNow: 2.718 });
    expect(encodeSummary(summary)).not.toContain('d0=');
    expect(decodeSummary(value.replace('d0=2.718', 'd0=x'))).toBeUndefined();
  });

  it('an unreadable summary decodes to undefined', () => {
    const good = encodeSummary(summary);
    expect(decodeSummary(good.replace('rd=1', 'rd=yes'))).toBeUndefined();
    expect(decodeSummary(good.replace(/;b5=[^;]*/, ''))).toBeUndefined();
    expect(decodeSummary(good.replace('q=3', 'q=NaN'))).toBeUndefined();
    expect(decodeSummary(`${good};p=2`)).toBeUndefined();
    expect(decodeSummary('')).toBeUndefined();
  });

  it('a summary that would not fit in a tag is refused', () => {
    const huge = 1.2345678901234567e300;
    const numbers = { busyNow: huge, busy1m: huge, busy5m: huge, busy15m: huge, queueWaitP95Ms: huge, queueWaitNowMs: huge, queueDepth: huge, rps: huge, inFlight: huge };
    expect(() => encodeSummary({ ...summary, ...numbers })).toThrow(
      expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST', details: expect.objectContaining({ field: 'summary' }) }),
    );
  });

  it('a command is one governor:cmd:<id> tag on its target, validated both ways', () => {
    const command = { id: 'cmd-1', target: 'i-0abc', fleet: 'edge', kind: 'shutdown' as const, issuedAt: 10, expiresAt: 20, params: { drainMs: 500 } };
    const tag = encodeCommand(command);
    expect(tag).toEqual({ Key: 'governor:cmd:cmd-1', Value: '{"k":"shutdown","f":"edge","i":10,"e":20,"p":{"drainMs":500}}' });
    expect(decodeCommand(tag.Key, tag.Value, 'i-0abc')).toEqual(command);
    expect(() => decodeCommand('governor:cmd:../x', tag.Value, 'i-0abc')).toThrow(expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' }));
    expect(() => decodeCommand(tag.Key, '{"k":"shutdown"}', 'i-0abc')).toThrow(expect.objectContaining({ code: 'GOV_ERR_CLOUD_BAD_REQUEST' }));
  });

  it.each([
    ['pending', undefined, 'pending'],
    ['running', undefined, 'pending'],
    ['running', 'running', 'running'],
    ['running', 'leaving', 'leaving'],
    ['pending', 'leaving', 'pending'],
    ['shutting-down', 'running', 'leaving'],
    ['stopping', 'running', undefined],
    ['stopped', undefined, undefined],
    ['terminated', 'running', undefined],
  ])('EC2 state %s with governor:state %s is member state %s', (ec2State, tag, expected) => {
    expect(memberState(ec2State, tag)).toBe(expected);
  });
});
