import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../governor/admin.js';
import { Blackboard } from '../../governor/blackboard.js';
import { RealClock } from '../../governor/clock.js';
import { Journal } from '../../governor/journal.js';
import { createMetrics } from '../../governor/metrics.js';
import type { TaskRunRecord } from '../../governor/task.js';
import type { ProxyControl, ProxyTotals } from '../../proxy/types.js';

/**
 * Parses the Prometheus text format strictly: every line is a comment, blank, or `name{labels} value`
 * (NaN and Inf in any case, as Prometheus reads them with Go's ParseFloat).
 */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|[+-]Inf)$/i;
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = sample.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

/** The proxy's side of the contract: cumulative totals the test moves forward. */
class TotalsOnlyProxy implements ProxyControl {
  current: ProxyTotals = {
    requests: 120,
    shed: 3,
    status: { '1xx': 0, '2xx': 100, '3xx': 5, '4xx': 12, '5xx': 3 },
    bytesIn: 4096,
    bytesOut: 65536,
    errors: { GOV_ERR_PROXY_SHED: 3 },
  };
  totals(): ProxyTotals {
    return this.current;
  }
  sample(): never {
    throw new Error('metrics must not take interval samples (that belongs to the signals task)');
  }
  isReady(): boolean {
    return true;
  }
  setReady(): void {}
  drain(): Promise<{ completed: number; abandoned: number }> {
    return Promise.resolve({ completed: 0, abandoned: 0 });
  }
}

function taskRecord(name: string, over: Partial<TaskRunRecord> = {}): TaskRunRecord {
  return { name, lastStart: 0, durationMs: 12, outcome: 'ok', runs: 10, failures: 0, skipped: 0, ...over };
}

describe('GET /metrics', () => {
  let server: AdminServer;
  let blackboard: Blackboard;
  let journal: Journal;
  let proxy: TotalsOnlyProxy;

  beforeEach(async () => {
    const clock = new RealClock();
    blackboard = new Blackboard(clock);
    journal = new Journal({ clock, blackboard });
    proxy = new TotalsOnlyProxy();
    const metrics = createMetrics({ blackboard, journal, proxy });
    server = await startAdminServer({ blackboard, journal, isReady: () => true, routes: [metrics.route] });
  });
  afterEach(() => server.close());

  async function scrape(): Promise<Map<string, number>> {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    return parseExposition(await res.text());
  }

  it('parses, and leaves out what the blackboard does not have', async () => {
    const m = await scrape();
    expect(m.has('governor_busy_ratio')).toBe(false);
    expect(m.has('governor_fleet_members')).toBe(false);
    expect(m.get('governor_proxy_requests_total')).toBe(120);
    // process and Node.js default metrics carry the prefix too
    expect(m.get('governor_process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect([...m.keys()].every((k) => k.startsWith('governor_'))).toBe(true);
  });

  it('follows the blackboard: signals, fleet, control, rules, tasks, cache', async () => {
    blackboard.series('busy').push(0.25);
    blackboard.series('queue.waitP95Ms').push(40);
    blackboard.series('rps').push(310);
    blackboard.series('fleet.busy').push(0.6);
    blackboard.series('fleet.sizeSeries').push(3);
    blackboard.set('fleet.size', 3);
    blackboard.set('fleet.running', 2);
    blackboard.set('control.paused', false);
    blackboard.set('rules.active', [{ file: 'a.json', name: 'up', event: 'scale-up' }]);
    blackboard.set('rules.errors', []);
    blackboard.set('rules.lastReload', { at: 1_767_225_600_000, ok: true, files: ['a.json'] });
    blackboard.set('tasks.signals', taskRecord('signals'));
    blackboard.set('tasks.fleet', taskRecord('fleet', { outcome: 'error', failures: 2, runs: 7, durationMs: 1500 }));
    blackboard.set('cache.hits', 42);
    blackboard.set('cache.label', 'not a number');

    let m = await scrape();
    expect(m.get('governor_busy_ratio')).toBe(0.25);
    expect(m.get('governor_queue_wait_p95_milliseconds')).toBe(40);
    expect(m.get('governor_requests_per_second')).toBe(310);
    expect(m.get('governor_fleet_busy_ratio')).toBe(0.6);
    expect(m.get('governor_fleet_members')).toBe(3);
    expect(m.get('governor_fleet_running')).toBe(2);
    expect(m.get('governor_paused')).toBe(0);
    expect(m.get('governor_rules_active')).toBe(1);
    expect(m.get('governor_rule_errors')).toBe(0);
    expect(m.get('governor_rules_last_reload_timestamp_seconds')).toBe(1_767_225_600);
    expect(m.get('governor_task_runs_total{task="fleet"}')).toBe(7);
    expect(m.get('governor_task_failures_total{task="fleet"}')).toBe(2);
    expect(m.get('governor_task_failing{task="fleet"}')).toBe(1);
    expect(m.get('governor_task_failing{task="signals"}')).toBe(0);
    expect(m.get('governor_task_last_duration_seconds{task="fleet"}')).toBe(1.5);
    expect(m.get('governor_cache{stat="hits"}')).toBe(42);
    expect(m.has('governor_cache{stat="label"}')).toBe(false);

    blackboard.series('busy').push(0.75);
    blackboard.set('control.paused', true);
    blackboard.set('tasks.fleet', taskRecord('fleet', { runs: 8, failures: 2 }));
    blackboard.set('rules.errors', [{ file: 'b.json', path: '$', message: 'bad', expected: 'good' }]);
    m = await scrape();
    expect(m.get('governor_busy_ratio')).toBe(0.75);
    expect(m.get('governor_paused')).toBe(1);
    expect(m.get('governor_task_runs_total{task="fleet"}')).toBe(8);
    expect(m.get('governor_task_failing{task="fleet"}')).toBe(0);
    expect(m.get('governor_rule_errors')).toBe(1);
  });

  it('counts journal entries and rule reloads once each, across scrapes', async () => {
    journal.record({ kind: 'intent', name: 'scale-up', reason: 'busy' });
    journal.record({ kind: 'suppressed', name: 'scale-up', reason: 'cooldown' });
    journal.record({ kind: 'rules', name: 'reload', reason: 'loaded', data: { ok: true } });
    let m = await scrape();
    expect(m.get('governor_journal_entries_total{kind="intent",name="scale-up"}')).toBe(1);
    expect(m.get('governor_journal_entries_total{kind="suppressed",name="scale-up"}')).toBe(1);
    expect(m.get('governor_rule_reloads_total{outcome="ok"}')).toBe(1);

    m = await scrape();
    expect(m.get('governor_journal_entries_total{kind="intent",name="scale-up"}')).toBe(1);

    journal.record({ kind: 'suppressed', name: 'scale-up', reason: 'cooldown' });
    journal.record({ kind: 'rules', name: 'reload', reason: 'rejected', data: { ok: false } });
    m = await scrape();
    expect(m.get('governor_journal_entries_total{kind="suppressed",name="scale-up"}')).toBe(2);
    expect(m.get('governor_rule_reloads_total{outcome="ok"}')).toBe(1);
    expect(m.get('governor_rule_reloads_total{outcome="rejected"}')).toBe(1);
  });

  it('mirrors proxy totals and admin rejections', async () => {
    proxy.current = { ...proxy.current, requests: 500, status: { ...proxy.current.status, '2xx': 470 }, bytesOut: 1 << 20 };
    blackboard.set('admin.rejected', { GOV_ERR_ADMIN_BAD_SIGNATURE: 4 });
    const m = await scrape();
    expect(m.get('governor_proxy_requests_total')).toBe(500);
    expect(m.get('governor_proxy_shed_total')).toBe(3);
    expect(m.get('governor_proxy_responses_total{class="2xx"}')).toBe(470);
    expect(m.get('governor_proxy_bytes_total{direction="out"}')).toBe(1 << 20);
    expect(m.get('governor_proxy_errors_total{code="GOV_ERR_PROXY_SHED"}')).toBe(3);
    expect(m.get('governor_admin_rejected_total{code="GOV_ERR_ADMIN_BAD_SIGNATURE"}')).toBe(4);
  });

  it('registers no proxy metrics without a proxy, and keeps to its own registry', async () => {
    const clock = new RealClock();
    const bb = new Blackboard(clock);
    const own = createMetrics({ blackboard: bb, journal: new Journal({ clock }) });
    const text = await own.registry.metrics();
    expect(text).not.toContain('governor_proxy_');
    expect(text).toContain('governor_fleet_members');
    const { register } = await import('prom-client');
    expect(await register.metrics()).not.toContain('governor_');
  });

  it('answers HEAD without a body', async () => {
    const res = await fetch(`${server.url}/metrics`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('');
  });
});
