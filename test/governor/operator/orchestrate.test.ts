import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TimerHandle } from '../../../governor/clock.js';
import { VirtualClock } from '../../../governor/virtual-clock.js';
import { isGovError } from '../../../governor/errors.js';
import { CONTROL_KEYS } from '../../../governor/operator/control.js';
import { commandChannel, type OperatorChannel } from '../../../governor/operator/channels.js';
import { formatOperatorEvent } from '../../../governor/operator/format.js';
import {
  pauseRegion,
  resumeRegion,
  shutdownInstance,
  shutdownRegion,
  type OperatorEvent,
} from '../../../governor/operator/orchestrate.js';
import commands from '../../../tasks/commands.js';
import controlledShutdown, { SHUTDOWN_KEYS } from '../../../tasks/controlled-shutdown.js';
import { FLEET, REGION, TaskHarness, TestRegion, drive, testConfig } from '../../tasks/context.js';
import { FakeProxy } from '../../tasks/fake-proxy.js';

const shutdown = { notReadyMs: 1000, drainTimeoutMs: 2000, phaseTimeoutMs: 2000 };

/**
 * The governors of a test region, each running its commands task every 2 s of virtual time
 * (controlled-shutdown runs when invoked), until its instance has shut down. `timeline`
 * records when each one started and finished its controlled shutdown.
 */
class Governors {
  readonly byId = new Map<string, TaskHarness>();
  readonly timeline: string[] = [];
  private timer?: TimerHandle;

  constructor(
    private readonly region: TestRegion,
    private readonly clock: VirtualClock,
  ) {}

  add(id: string): TaskHarness {
    const h = new TaskHarness({ clock: this.clock, config: testConfig({ shutdown }), cloud: this.region.cloudFor(id), proxy: new FakeProxy() });
    h.register(controlledShutdown);
    h.blackboard.watch(SHUTDOWN_KEYS.request, (_k, v) => v !== undefined && this.timeline.push(`start ${id}`));
    h.blackboard.watch(SHUTDOWN_KEYS.done, () => this.timeline.push(`done ${id}`));
    this.byId.set(id, h);
    return h;
  }

  start(): void {
    const tick = () => {
      for (const h of this.byId.values()) {
        if (h.blackboard.get(SHUTDOWN_KEYS.done) !== true) void h.run(commands).catch(() => undefined);
      }
      this.timer = this.clock.setTimeout(tick, 2000);
    };
    tick();
  }

  stop(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
  }
}

describe('operator orchestration over the cloud command channel', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let ids: string[];
  let governors: Governors;
  let channel: OperatorChannel;
  let events: OperatorEvent[];

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    ids = await region.addRunning(3);
    governors = new Governors(region, clock);
    for (const id of ids) governors.add(id);
    channel = commandChannel({ registry: region.registry, fleet: FLEET, region: REGION, clock, ttlMs: 30_000, pollMs: 500 });
    events = [];
  });
  afterEach(async () => {
    governors.stop();
    clock.uninstall();
    await region.cleanup();
  });

  const run = () => ({ clock, pollMs: 500, follow: (e: OperatorEvent) => events.push(e) });
  const state = async (id: string) => (await region.registry.get(id))!.state;
  const sent = (kind: string) => events.filter((e) => e.type === 'sent' && e.kind === kind).map((e) => (e as { instanceId: string }).instanceId);

  it('shutdownInstance asks one instance to leave and follows its progress until it is gone', async () => {
    governors.start();
    const report = await drive(clock, shutdownInstance(channel, { ...run(), instanceId: ids[1] }));

    expect(report.instanceId).toBe(ids[1]);
    expect(report.outcome).toMatch(/^accepted: controlled shutdown started/);
    expect(await state(ids[1])).toBe('terminated');
    expect([await state(ids[0]), await state(ids[2])]).toEqual(['running', 'running']);
    const seen = events.filter((e) => e.type === 'progress').map((e) => (e as { observation: { state: string } }).observation.state);
    expect(seen[0]).toMatch(/running|leaving/);
    expect(seen.at(-1)).toBe('gone');
    expect(formatOperatorEvent(events[0], clock.now())).toBe(`-> shutdown ${ids[1]} via cloud command channel (${region.stateDir})`);
  });

  it('shutdownInstance names an instance that is not a member, and a refusal of the last instance', async () => {
    governors.start();
    await expect(drive(clock, shutdownInstance(channel, { ...run(), instanceId: 'i-nope' }))).rejects.toSatisfy((e) => isGovError(e, 'GOV_ERR_OPERATOR_TARGET'));

    await region.registry.markTerminated(ids[0], 'test');
    await region.registry.markTerminated(ids[1], 'test');
    const refused = drive(clock, shutdownInstance(channel, { ...run(), instanceId: ids[2] }));
    await expect(refused).rejects.toSatisfy((e) => isGovError(e, 'GOV_ERR_SHUTDOWN_REFUSED') && /last serving instance/.test((e as Error).message));
    expect(await state(ids[2])).toBe('running');
  });

  it('a command nobody reads expires: the operator gets a timeout and the registry records it as expired', async () => {
    // only the governors of the other instances run: nobody reads the command for ids[0]
    governors.byId.delete(ids[0]);
    governors.start();
    const attempt = drive(clock, shutdownInstance(channel, { ...run(), instanceId: ids[0] }), 500);
    await expect(attempt).rejects.toSatisfy((e) => isGovError(e, 'GOV_ERR_OPERATOR_TIMEOUT') && /expired/.test((e as Error).message));
    // the next read of any governor moves it to the history
    await drive(clock, clock.sleep(3000));
    const history = await region.registry.commands.history();
    expect(history.map((a) => [a.command.target, a.outcome])).toEqual([[ids[0], 'expired']]);
    expect(await state(ids[0])).toBe('running');
  });

  it('shutdownRegion pauses, then takes instances out oldest first, one at a time, and keeps the last one', async () => {
    governors.start();
    const report = await drive(clock, shutdownRegion(channel, run()));

    expect(report.pause.results.map((r) => r.outcome)).toEqual(ids.map(() => expect.stringMatching(/^accepted: paused/)));
    expect(report.taken.map((t) => t.instanceId)).toEqual([ids[0], ids[1]]);
    expect(report.kept).toBe(ids[2]);
    expect(sent('shutdown')).toEqual([ids[0], ids[1]]);
    expect(governors.timeline).toEqual([`start ${ids[0]}`, `done ${ids[0]}`, `start ${ids[1]}`, `done ${ids[1]}`]);
    expect(await state(ids[2])).toBe('running');
    expect(governors.byId.get(ids[2])!.blackboard.get(CONTROL_KEYS.paused)).toBe(true);
  });

  it('shutdownRegion with includingLast takes the last one out too', async () => {
    governors.start();
    const report = await drive(clock, shutdownRegion(channel, { ...run(), includingLast: true }));
    expect(report.taken.map((t) => t.instanceId)).toEqual(ids);
    expect(report.kept).toBeUndefined();
    expect(governors.timeline.filter((t) => t.startsWith('start'))).toEqual(ids.map((id) => `start ${id}`));
    expect(await region.registry.list(FLEET, REGION)).toEqual([]);
  });

  it('pauseRegion and resumeRegion reach every member with one decision time', async () => {
    governors.start();
    const paused = await drive(clock, pauseRegion(channel, run()));
    expect(paused.results.map((r) => r.instanceId)).toEqual(ids);
    for (const h of governors.byId.values()) {
      expect(h.blackboard.get(CONTROL_KEYS.paused)).toBe(true);
      expect(h.blackboard.get(CONTROL_KEYS.since)).toBe(paused.decidedAt);
    }
    await clock.advance(1000);
    const resumed = await drive(clock, resumeRegion(channel, run()));
    expect(resumed.results.every((r) => r.outcome.startsWith('accepted: resumed'))).toBe(true);
    for (const h of governors.byId.values()) expect(h.blackboard.get(CONTROL_KEYS.paused)).toBe(false);
  });
});
