import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../governor/admin.js';
import { Blackboard } from '../../governor/blackboard.js';
import { RealClock } from '../../governor/clock.js';
import type { RankedInstance } from '../../governor/coordination.js';
import { Journal } from '../../governor/journal.js';
import { packageRoot } from '../../governor/package-info.js';
import { CHART_MAX_POINTS, downsample, statusPageRoutes } from '../../governor/status-page/routes.js';
import type { TaskRunRecord } from '../../governor/task.js';

/**
 * The status page in real headless Chromium (Debian's `chromium` package). Without it the test
 * is skipped on a developer machine and FAILS under CI, which must install it.
 * Screenshots go to test/artifacts/; with UPDATE_SCREENSHOTS=1 the README's docs/status-page.png too.
 */

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const underCi = Boolean(process.env.CI) && process.env.CI !== 'false' && process.env.CI !== '0';
const ARTIFACTS = join(packageRoot(), 'test', 'artifacts');

/** The page's DOM as the predicates below read it (this file is compiled without the DOM library). */
interface PageElement {
  textContent: string | null;
  clientWidth: number;
  dataset: Record<string, string | undefined>;
}
declare const document: {
  querySelectorAll(selector: string): { length: number };
  querySelector(selector: string): PageElement | null;
  getElementById(id: string): PageElement | null;
};

const MINUTE = 60_000;
const SELF = 'i-0b7c41d2e9';

/** An hour of plausible signals, one sample every 5 s, ending at `now` (deterministic). */
function fillHistory(blackboard: Blackboard, now: number): void {
  for (let t = now - 60 * MINUTE; t <= now; t += 5000) {
    const minute = (t - (now - 60 * MINUTE)) / MINUTE; // 0..60
    const wave = Math.sin(minute / 4) * 0.05 + Math.sin(minute / 1.3) * 0.02;
    const load = 0.25 + 0.55 * Math.min(1, minute / 35); // traffic grows for 35 minutes, then holds
    const size = minute < 41 ? 2 : 3; // the third instance joined at -19m
    const busy = Math.min(0.97, (load + wave) * (size === 2 ? 1 : 2 / 3));
    const queueWait = (b: number) => 2 + Math.max(0, b - 0.6) ** 2 * 1200;
    blackboard.series('busy').push(busy, t);
    blackboard.series('fleet.busy').push(busy * 0.95, t);
    blackboard.series('queue.waitP95Ms').push(queueWait(busy), t);
    blackboard.series('fleet.queueWaitP95Ms').push(queueWait(busy * 0.95), t);
    blackboard.series('rps').push(Math.round(820 * (load + wave)), t);
    blackboard.series('fleet.sizeSeries').push(size, t);
  }
}

function instance(id: string, rank: number, state: RankedInstance['state'], launchTime: number, busy?: number): RankedInstance {
  const entry: RankedInstance = { id, fleet: 'edge', region: 'eu-west-1', state, launchTime, rank };
  if (busy !== undefined) {
    entry.summary = {
      at: launchTime,
      busyNow: busy,
      busy1m: busy,
      busy5m: busy,
      busy15m: busy,
      queueWaitP95Ms: busy * 40,
      queueWaitNowMs: busy * 40,
      queueDepth: Math.round(busy * 6),
      rps: Math.round(busy * 900),
      inFlight: 8,
      ready: true,
      windowsFilled: true,
    };
  }
  return entry;
}

function task(name: string, now: number, over: Partial<TaskRunRecord> = {}): TaskRunRecord {
  return { name, lastStart: now - 1200, durationMs: 3, outcome: 'ok', runs: 3412, failures: 0, skipped: 0, ...over };
}

function fillState(blackboard: Blackboard, journal: Journal, now: number): void {
  fillHistory(blackboard, now);
  blackboard.set('fleet.self', SELF);
  blackboard.set('fleet.view', [
    instance('i-0a1f93c6b2', 0, 'running', now - 193 * MINUTE, 0.61),
    instance(SELF, 1, 'running', now - 52 * MINUTE, 0.66),
    instance('i-0c2e5f7a18', 2, 'pending', now - 40_000),
  ]);
  blackboard.set('fleet.viewAt', now - 1500);
  blackboard.set('fleet.size', 3);
  blackboard.set('fleet.running', 2);
  blackboard.set('fleet.pending', 1);
  blackboard.set('fleet.leaving', 0);
  blackboard.set('fleet.myRank', 1);
  blackboard.set('control.paused', false);
  blackboard.set('rules.active', [
    { file: 'scale.json', name: 'busy-high', event: 'scale-up' },
    { file: 'scale.json', name: 'queue-slow', event: 'scale-up' },
    { file: 'scale.json', name: 'busy-low', event: 'scale-down' },
    { file: 'clients.json', name: 'one-client-flood', event: 'block-client' },
  ]);
  blackboard.set('rules.errors', [
    { file: 'night.json', path: '$.rules[0].conditions.all[1].fact', message: 'unknown fact "fleet.sise"', expected: 'a fact from the catalog, e.g. fleet.size' },
  ]);
  blackboard.set('rules.lastReload', { at: now - 4 * MINUTE, ok: false, files: ['clients.json', 'night.json', 'scale.json'] });
  blackboard.set('intents.scale-up', {
    type: 'scale-up',
    rule: 'busy-high',
    file: 'scale.json',
    params: {},
    facts: { 'fleet.busy': 0.71 },
    at: now - 3 * MINUTE,
  });
  for (const name of ['signals', 'fleet', 'rules', 'scale-up', 'scale-down', 'controlled-shutdown']) {
    blackboard.set(`tasks.${name}`, task(name, now, name === 'fleet' ? { failures: 2, durationMs: 41, runs: 684 } : {}));
  }
  journal.record({ kind: 'rules', name: 'reload', reason: 'loaded 4 rule(s) from 2 file(s) in /etc/governor/rules', data: { ok: true } });
  journal.record({ kind: 'intent', name: 'scale-up', reason: 'busy-high: fleet busy 71 % above 65 % for 120 s', facts: { 'fleet.busy': 0.71 } });
  journal.record({ kind: 'action', name: 'launch', reason: 'launched 1 instance (slot 7-0): desired 3 at target 50 %', data: { ids: ['i-0c2e5f7a18'] } });
  journal.record({ kind: 'suppressed', name: 'scale-up', reason: 'suppressed: launch already pending (1 booting)' });
  journal.record({
    kind: 'rules',
    name: 'reload',
    reason: 'rejected the rule set: 1 error(s), kept the last good set (4 rule(s)); first: night.json:$.rules[0].conditions.all[1].fact: unknown fact',
    data: { ok: false },
  });
}

describe('downsample', () => {
  it('averages runs so that at most maxPoints remain', () => {
    const points = Array.from({ length: 10 }, (_, i): [number, number] => [i * 1000, i]);
    expect(downsample(points, 20)).toBe(points);
    expect(downsample(points, 5)).toEqual([
      [1000, 0.5],
      [3000, 2.5],
      [5000, 4.5],
      [7000, 6.5],
      [9000, 8.5],
    ]);
    expect(downsample(points, 3).length).toBeLessThanOrEqual(3);
  });
});

describe('GET /status.json', () => {
  it('carries the fleet, an hour of each chart line, journal, rules, tasks and Stop/Go', async () => {
    const clock = new RealClock();
    const blackboard = new Blackboard(clock);
    const journal = new Journal({ clock, blackboard });
    const now = clock.now();
    fillState(blackboard, journal, now);
    const server = await startAdminServer({ blackboard, journal, isReady: () => true, routes: statusPageRoutes({ blackboard, journal, clock }) });
    try {
      const s = (await (await fetch(`${server.url}/status.json`)).json()) as {
        control: { paused: boolean };
        fleet: { name: string; instances: Array<{ id: string; self: boolean; busy: number | null }> };
        charts: Record<string, Record<string, Array<[number, number]>>>;
        journal: unknown[];
        rules: { active: unknown[]; errors: unknown[] };
        tasks: unknown[];
        intents: unknown[];
      };
      expect(s.control.paused).toBe(false);
      expect(s.fleet.name).toBe('edge');
      expect(s.fleet.instances.map((i) => [i.id, i.self])).toEqual([
        ['i-0a1f93c6b2', false],
        [SELF, true],
        ['i-0c2e5f7a18', false],
      ]);
      expect(s.fleet.instances[2].busy).toBeNull();
      for (const [chart, line] of [['busy', 'local'], ['busy', 'fleet'], ['queueWaitP95Ms', 'local'], ['rps', 'local'], ['fleetSize', 'fleet']]) {
        const points = s.charts[chart][line];
        expect(points.length, `${chart}.${line}`).toBeGreaterThan(CHART_MAX_POINTS / 2);
        expect(points.length).toBeLessThanOrEqual(CHART_MAX_POINTS);
        expect(points[0][0]).toBeGreaterThan(now - 3600_000);
      }
      expect(s.charts.fleetSize.fleet.at(-1)![1]).toBe(3);
      expect(s.journal).toHaveLength(5);
      expect(s.rules.active).toHaveLength(4);
      expect(s.rules.errors).toHaveLength(1);
      expect(s.tasks).toHaveLength(6);
      expect(s.intents).toHaveLength(1);

      const page = await fetch(`${server.url}/`);
      expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
      expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(await page.text()).toContain('/status-page/app.js');
      expect((await fetch(`${server.url}/status-page/app.js`)).headers.get('content-type')).toBe('text/javascript; charset=utf-8');
      expect((await fetch(`${server.url}/status-page/style.css`)).status).toBe(200);
    } finally {
      await server.close();
    }
  });
});

if (!haveChromium && underCi) {
  describe('status page in headless Chromium', () => {
    it('needs Debian chromium', () => {
      throw new Error(`${CHROMIUM} is missing: CI must install it (apt-get update && apt-get install -y chromium)`);
    });
  });
}

describe.skipIf(!haveChromium)('status page in headless Chromium', () => {
  let browser: Browser;
  let server: AdminServer;
  let blackboard: Blackboard;
  let journal: Journal;
  let page: Page;
  const requested: string[] = [];
  const pageErrors: string[] = [];

  beforeAll(async () => {
    const clock = new RealClock();
    blackboard = new Blackboard(clock);
    journal = new Journal({ clock, blackboard });
    fillState(blackboard, journal, clock.now());
    server = await startAdminServer({ blackboard, journal, isReady: () => true, routes: statusPageRoutes({ blackboard, journal, clock }) });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('request', (req) => requested.push(req.url()));
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    await page.goto(`${server.url}/?poll=500`);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /**
   * Waits until `predicate`, run in the page, is truthy. A function, not a string: the page's
   * content security policy forbids the eval that string predicates need.
   */
  const waitFor = (predicate: () => unknown) => page.waitForFunction(predicate, undefined, { timeout: 10_000 });

  it('shows the fleet by rank with state, age, busy and queue', async () => {
    await waitFor(() => document.querySelectorAll('#fleet tbody tr').length === 3);
    const rows = await page.$$eval('#fleet tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent?.trim())));
    expect(rows.map((r) => r.slice(0, 3))).toEqual([
      ['0', 'i-0a1f93c6b2', 'running'],
      ['1', `${SELF}this`, 'running'],
      ['2', 'i-0c2e5f7a18', 'pending'],
    ]);
    expect(rows[0][3]).toBe('3 h 13 m');
    expect(rows[1][4]).toBe('66 %');
    expect(rows[2][4]).toBe('–');
    expect(await page.textContent('#stopgo')).toBe('GO');
    expect(await page.textContent('#identity')).toBe(`edge · eu-west-1 · ${SELF} (rank 1)`);
  });

  it('draws every chart', async () => {
    await waitFor(() => Number(document.getElementById('chart-busy')?.dataset.points) > 0);
    const charts = await page.evaluate<Array<{ chart: string; points: number; inkedShare: number }>>(`
      [...document.querySelectorAll('canvas[data-chart]')].map((c) => {
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let inked = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
        return { chart: c.dataset.chart, points: Number(c.dataset.points), inkedShare: inked / (c.width * c.height) };
      })`);
    expect(charts).toHaveLength(4);
    for (const c of charts) {
      expect(c.points, c.chart).toBeGreaterThan(100);
      // Lines and the filled area ink a good part of the plot; an empty canvas inks nothing.
      expect(c.inkedShare, c.chart).toBeGreaterThan(0.1);
    }
    expect(await page.textContent('[data-value-of="fleetSize"]')).toBe('3');
  });

  it('shows the journal, rules with their errors, and task health', async () => {
    await waitFor(() => document.querySelectorAll('#journal li').length === 5);
    expect(await page.textContent('#journal li:first-child')).toContain('rejected the rule set');
    expect(await page.textContent('#rule-errors')).toContain('night.json:$.rules[0].conditions.all[1].fact unknown fact "fleet.sise"');
    expect(await page.$$eval('#rules tbody tr', (trs) => trs.length)).toBe(4);
    expect(await page.textContent('#intents')).toContain('scale-up by busy-high');
    expect(await page.$$eval('#tasks tbody tr', (trs) => trs.map((tr) => tr.querySelector('td')?.textContent))).toEqual([
      'controlled-shutdown',
      'fleet',
      'rules',
      'scale-down',
      'scale-up',
      'signals',
    ]);
  });

  it('updates live: a new decision and a Stop appear without a reload', async () => {
    await page.evaluate(`window.notReloaded = true`);
    journal.record({ kind: 'action', name: 'leave', reason: 'rank 0 leaves: busy if one less 38 % below 45 % for 600 s' });
    blackboard.set('control.paused', true);
    blackboard.set('control.since', Date.now());
    blackboard.set('control.by', 'admin API');
    await waitFor(() => document.querySelector('#journal li')?.textContent?.includes('rank 0 leaves'));
    await waitFor(() => document.getElementById('stopgo')?.textContent === 'STOP');
    expect(await page.textContent('#control-note')).toMatch(/^since \d\d:\d\d:\d\d · admin API$/);
    expect(await page.evaluate(`window.notReloaded`)).toBe(true);
    expect(await page.$$eval('#journal li', (lis) => lis.length)).toBe(6);
    blackboard.set('control.paused', false);
    await waitFor(() => document.getElementById('stopgo')?.textContent === 'GO');
  });

  it('loads nothing from outside the admin server, with no script or policy errors', async () => {
    expect(requested.length).toBeGreaterThan(3);
    expect(requested.filter((url) => !url.startsWith(`${server.url}/`))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it('saves a desktop screenshot', async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'status-page.png'), fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS === '1') {
      const docs = join(packageRoot(), 'docs', 'status-page.png');
      mkdirSync(dirname(docs), { recursive: true });
      await page.screenshot({ path: docs, fullPage: true });
    }
    expect(existsSync(join(ARTIFACTS, 'status-page.png'))).toBe(true);
  });

  it('is usable 375 px wide: no sideways scrolling, charts fit', async () => {
    await page.setViewportSize({ width: 375, height: 812 });
    await waitFor(() => (document.getElementById('chart-busy')?.clientWidth ?? 375) < 375);
    // Let the next poll redraw at the new size.
    await page.waitForTimeout(700);
    const layout = await page.evaluate<{ pageWidth: number; charts: Array<{ width: number; points: number }>; fleetVisible: boolean }>(`({
      pageWidth: document.documentElement.scrollWidth,
      charts: [...document.querySelectorAll('canvas')].map((c) => ({ width: c.getBoundingClientRect().width, points: Number(c.dataset.points) })),
      fleetVisible: document.getElementById('fleet').getBoundingClientRect().height > 0,
    })`);
    expect(layout.pageWidth).toBeLessThanOrEqual(375);
    for (const c of layout.charts) {
      expect(c.width).toBeLessThanOrEqual(355);
      expect(c.points).toBeGreaterThan(100);
    }
    expect(layout.fleetVisible).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'status-page-phone.png'), fullPage: true });
  });
});
