import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isGovError } from '../../../governor/errors.js';
import { formatLoadTick, runLoad, validateLoad, type LoadOptions, type LoadTick } from '../../../governor/region/load.js';
import { plannedBy, rateAt, type RatePlan } from '../../../governor/region/load-schedule.js';

let server: Server;
let target: string;
let received = 0;

beforeEach(async () => {
  received = 0;
  server = createServer((req, res) => {
    received++;
    const url = new URL(req.url ?? '/', 'http://x');
    const delay = Number(url.searchParams.get('delay') ?? 0);
    setTimeout(() => {
      res.writeHead(url.pathname === '/fail' ? 500 : 200);
      res.end('ok');
    }, delay);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  target = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const base = (over: Partial<LoadOptions> = {}): LoadOptions => ({ target, mode: 'steps', rate: 100, durationSec: 1, ...over });

function refusal(opts: LoadOptions): string {
  try {
    validateLoad(opts);
  } catch (err) {
    expect(isGovError(err, 'GOV_ERR_LOAD_INVALID')).toBe(true);
    return (err as Error).message;
  }
  throw new Error('expected a refusal');
}

describe('load plan', () => {
  const steps: RatePlan = { mode: 'steps', rate: 400, fromRate: 0, durationSec: 8, steps: 4 };
  const ramp: RatePlan = { mode: 'ramp', rate: 100, fromRate: 20, durationSec: 10, steps: 1 };

  it('climbs in equal plateaus in steps mode', () => {
    expect([0, 1.9, 2, 4.5, 7.99, 8, 30].map((t) => rateAt(steps, t))).toEqual([100, 100, 200, 300, 400, 400, 400]);
    expect(plannedBy(steps, 2)).toBe(200);
    expect(plannedBy(steps, 3)).toBe(400);
    expect(plannedBy(steps, 8)).toBe(2000);
    expect(plannedBy(steps, 100)).toBe(2000);
    expect(plannedBy({ ...steps, steps: 1 }, 8)).toBe(3200);
  });

  it('rises linearly in ramp mode', () => {
    expect([0, 5, 10].map((t) => rateAt(ramp, t))).toEqual([20, 60, 100]);
    expect(plannedBy(ramp, 10)).toBe(600);
    expect(plannedBy(ramp, 5)).toBe(200);
  });
});

describe('load limits', () => {
  it('refuses targets that are not on this machine, before sending anything', async () => {
    for (const host of ['10.0.0.1', '192.168.1.10', '8.8.8.8', 'example.com', 'localhost.example.com', '[::2]', '128.0.0.1']) {
      expect(refusal(base({ target: `http://${host}:8080` }))).toMatch(/is not on this machine: load is only sent to 127\.0\.0\.0\/8/);
    }
    await expect(runLoad(base({ target: 'http://10.1.2.3:80' }))).rejects.toThrow(/not on this machine/);
    for (const ok of ['http://127.0.0.1:1', 'http://127.4.5.6:1', 'http://localhost:1', 'http://[::1]:1']) {
      expect(validateLoad(base({ target: ok })).url.protocol).toBe('http:');
    }
  });

  it('lists every out-of-bounds parameter in one error', () => {
    const message = refusal({
      target: 'https://127.0.0.1',
      mode: 'steps',
      rate: 0,
      fromRate: 9e9,
      durationSec: 99_999,
      steps: 1.5,
      maxConcurrency: 0,
      path: 'x',
    });
    for (const part of [
      'target must use http:',
      'rate must be above 0',
      'fromRate must be a number from 0 to 5000',
      'durationSec must be a number from 0 to 3600',
      'steps must be an integer from 1 to 100',
      'maxConcurrency must be an integer from 1 to 1000',
      'path must start with /',
    ]) {
      expect(message).toContain(part);
    }
    expect(refusal(base({ target: 'not a url' }))).toMatch(/target must be a URL/);
  });
});

describe('runLoad', () => {
  it('holds its rate within tolerance and ticks every second', async () => {
    const ticks: LoadTick[] = [];
    const report = await runLoad(base({ rate: 100, durationSec: 2, fleetSize: async () => 3, onTick: (t) => ticks.push(t) }));

    expect(report).toMatchObject({ planned: 200, sent: 200, completed: 200, ok: 200, errors: 0, drops: 0, aborted: false });
    expect(received).toBe(200);
    expect(report.achievedRate).toBeGreaterThan(85);
    expect(report.achievedRate).toBeLessThan(115);
    expect(report.elapsedSec).toBeLessThan(3);
    expect(ticks.length).toBeGreaterThanOrEqual(2);
    expect(ticks.length).toBeLessThanOrEqual(3);
    expect(ticks[0].second).toBe(1);
    expect(ticks[0].targetRate).toBeCloseTo(100, 6);
    expect(ticks[0].rate).toBeGreaterThan(70);
    expect(ticks[0].rate).toBeLessThan(130);
    expect(ticks[0].fleetSize).toBe(3);
    expect(ticks.reduce((sum, t) => sum + t.errors, 0)).toBe(0);
  });

  it('ramps from fromRate to rate', async () => {
    const report = await runLoad(base({ mode: 'ramp', fromRate: 0, rate: 200, durationSec: 0.5 }));
    expect(report).toMatchObject({ planned: 50, sent: 50, ok: 50 });
  });

  it('counts non-2xx/3xx answers and network failures as errors', async () => {
    const failing = await runLoad(base({ path: '/fail', rate: 50, durationSec: 0.5 }));
    expect(failing).toMatchObject({ sent: 25, errors: 25, ok: 0, errorsByKind: { http_500: 25 } });
    expect(failing.url).toBe(`${target}/fail`);

    const refused = await runLoad(base({ target: 'http://127.0.0.1:1', rate: 20, durationSec: 0.5 }));
    expect(refused).toMatchObject({ sent: 10, errors: 10, errorsByKind: { ECONNREFUSED: 10 } });
  });

  it('drops requests instead of queueing them when maxConcurrency are open', async () => {
    const report = await runLoad(base({ path: '/slow?delay=300', rate: 40, durationSec: 0.5, maxConcurrency: 3 }));
    expect(report.planned).toBe(20);
    expect(report.sent + report.drops).toBe(20);
    expect(report.sent).toBeLessThanOrEqual(6);
    expect(report.drops).toBeGreaterThanOrEqual(14);
    expect(report.ok).toBe(report.sent);
  });

  it('abandons a request open longer than requestTimeoutMs as a timeout error', async () => {
    const report = await runLoad(base({ path: '/hang?delay=2000', rate: 4, durationSec: 0.5, requestTimeoutMs: 100 }));
    expect(report).toMatchObject({ sent: 2, errors: 2, errorsByKind: { timeout: 2 } });
    expect(report.elapsedSec).toBeLessThan(1.5);
  });

  it('stops early on abort, cutting open requests without counting them as errors', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const report = await runLoad(base({ path: '/slow?delay=5000', rate: 20, durationSec: 10, signal: controller.signal }));
    expect(report.aborted).toBe(true);
    expect(report.elapsedSec).toBeLessThan(1);
    expect(report.sent).toBeGreaterThan(0);
    expect(report.sent).toBeLessThan(12);
    expect(report.cancelled).toBe(report.sent);
    expect(report.errors).toBe(0);
  });

  it('holds the last line until the requests still open have ended', async () => {
    const ticks: LoadTick[] = [];
    const report = await runLoad(base({ path: '/slow?delay=400', rate: 10, durationSec: 1, onTick: (t) => ticks.push(t) }));
    expect(report).toMatchObject({ sent: 10, ok: 10 });
    expect(report.elapsedSec).toBeGreaterThan(1.3);
    expect(ticks).toHaveLength(1);
    expect(ticks[0]).toMatchObject({ second: 1, inFlight: 0, errors: 0 });
    expect(ticks[0].p50Ms).toBeGreaterThanOrEqual(395);
  });

  it('formats a live line', () => {
    const line = formatLoadTick({
      second: 12,
      targetRate: 400,
      sentRate: 399.6,
      rate: 401.2,
      errors: 0,
      drops: 3,
      inFlight: 7,
      p50Ms: 2,
      p99Ms: 14,
      fleetSize: 2,
    });
    expect(line).toBe('  12s  target   400/s  rate   401/s  errors    0  drops    3  p50     2 ms  p99    14 ms  in flight    7  fleet 2');
    expect(formatLoadTick({ second: 1, targetRate: 1, sentRate: 1, rate: 1, errors: 0, drops: 0, inFlight: 0, p50Ms: 0, p99Ms: 0 })).toMatch(/fleet \?$/);
  });
});
