import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isGovError } from '../../governor/errors.js';
import { DEFAULT_CLIENTS, generateTrace, parseCsvTrace, readCsvTrace, resolveTrace, TRACE_NAMES, trafficAt } from '../../governor/simulator/traces.js';

const minuteMeans = (rates: Float64Array) =>
  Array.from({ length: Math.floor(rates.length / 60) }, (_, m) => rates.slice(m * 60, m * 60 + 60).reduce((a, b) => a + b, 0) / 60);

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a throw');
}

describe('generated traces', () => {
  it('are reproducible from their seed and differ between seeds', () => {
    for (const name of TRACE_NAMES) {
      const a = generateTrace(name, { seed: 3, durationS: 3600 });
      expect(generateTrace(name, { seed: 3, durationS: 3600 }).rates).toEqual(a.rates);
      expect(generateTrace(name, { seed: 4, durationS: 3600 }).rates).not.toEqual(a.rates);
      expect(a.rates.length).toBe(3600);
      expect(a.rates.every((r) => Number.isFinite(r) && r >= 0)).toBe(true);
    }
  });

  it('diurnal: two peaks, at lunch and dinner, at 5x the trough', () => {
    const trace = generateTrace('diurnal', { seed: 1, baseRate: 100 });
    expect(trace.rates.length).toBe(86_400);
    const minutes = minuteMeans(trace.rates);
    const peakAt = (from: number, to: number) => {
      const slice = minutes.slice(from * 60, to * 60);
      return from * 60 + slice.indexOf(Math.max(...slice));
    };
    expect(Math.abs(peakAt(10, 16) - 12.5 * 60)).toBeLessThan(30);
    expect(Math.abs(peakAt(17, 23) - 19.5 * 60)).toBeLessThan(30);
    const ratio = Math.max(...minutes) / Math.min(...minutes);
    expect(ratio).toBeGreaterThan(4.5);
    expect(ratio).toBeLessThan(5.6);
  });

  it('flash crowd: 10x within 60 s, held for 20 minutes, marked as a surge', () => {
    const trace = generateTrace('flash-crowd', { seed: 1, baseRate: 100 });
    const { at, until } = trace.surge!;
    expect(until - at).toBe(60 + 20 * 60);
    expect(trace.rates[at - 5]).toBeLessThan(110);
    expect(trace.rates[at + 60]).toBeGreaterThan(950);
    expect(trace.rates[until - 1]).toBeGreaterThan(950);
    expect(trace.rates[until + 300]).toBeLessThan(110);
  });

  it('dos: 3 addresses add 8x the base for 20 minutes; the rest comes from many addresses', () => {
    const trace = generateTrace('dos', { seed: 1, baseRate: 100 });
    const at = Math.floor(trace.rates.length / 3);
    expect(trafficAt(trace, at - 1)).toEqual({ rate: trace.rates[at - 1], clients: DEFAULT_CLIENTS });
    const during = trafficAt(trace, at + 1);
    expect(during.clients).toBe(DEFAULT_CLIENTS);
    expect(during.attack!.addresses).toBe(3);
    expect(during.attack!.rate / during.rate).toBeCloseTo(8 / 9, 9);
    expect(trace.rates[at + 1] / trace.rates[at - 1]).toBeGreaterThan(8);
    expect(trafficAt(trace, at + 20 * 60).attack).toBeUndefined();
  });

  it('slow ramp climbs to 8x', () => {
    const trace = generateTrace('slow-ramp', { seed: 1, baseRate: 100, durationS: 6000 });
    expect(trace.rates[10]).toBeLessThan(110);
    expect(trace.rates[5990]).toBeGreaterThan(750);
  });

  it('refuses unknown names and bad parameters with coded errors', () => {
    expect(isGovError(errorOf(() => generateTrace('nope', { seed: 1 })), 'GOV_ERR_SIM_TRACE')).toBe(true);
    expect(isGovError(errorOf(() => generateTrace('diurnal', { seed: 1, durationS: 10 })), 'GOV_ERR_SIM_INVALID')).toBe(true);
  });
});

describe('CSV traces', () => {
  it('reads seconds with a header, interpolating rate and clients second by second', () => {
    const trace = parseCsvTrace('time,rate,clients\n# comment\n0,100,10\n\n10,200,20\n', 'ops.csv');
    expect(trace.rates.length).toBe(11);
    expect(trace.rates[0]).toBe(100);
    expect(trace.rates[5]).toBe(150);
    expect(trace.rates[10]).toBe(200);
    expect(trace.clients![5]).toBe(15);
  });

  it('reads ISO timestamps relative to the first row, without clients', () => {
    const trace = parseCsvTrace('2026-01-01T00:00:00Z,10\n2026-01-01T00:01:00Z,70\n', 'iso.csv');
    expect(trace.rates.length).toBe(61);
    expect(trace.rates[30]).toBe(40);
    expect(trace.clients).toBeUndefined();
  });

  it.each([
    ['0,10\n0,20\n', 'ops.csv:2: time must increase'],
    ['0,-1\n', 'ops.csv:1: rate must be a number >= 0'],
    ['time,rate\n0,10,0\n', 'ops.csv:2: clients must be a number >= 1'],
    ['0,10\nlater,5\n', 'ops.csv:2: time must be seconds or an ISO 8601 timestamp'],
    ['0,10\n2026-01-01T00:00:00Z,5\n', 'ops.csv:2: mixes timestamps and seconds'],
    ['0\n', 'ops.csv:1: expected time,rate[,clients]'],
    ['time,rate\n', 'no data rows'],
  ])('names the line of a malformed file: %j', (text, message) => {
    const err = errorOf(() => parseCsvTrace(text, 'ops.csv'));
    expect(isGovError(err, 'GOV_ERR_SIM_TRACE')).toBe(true);
    expect((err as Error).message).toContain(message);
  });

  it('reads a file, and resolveTrace takes a path that is not a trace name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'governor-sim-'));
    try {
      const file = join(dir, 'mine.csv');
      await writeFile(file, '0,5\n120,5\n');
      expect(readCsvTrace(file).rates.length).toBe(121);
      expect(resolveTrace(file, { seed: 1 }).name).toBe(file);
      expect(isGovError(errorOf(() => readCsvTrace(join(dir, 'missing.csv'))), 'GOV_ERR_SIM_TRACE')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
