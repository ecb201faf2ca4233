import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { newCommandId } from '../../governor/cloud/ids.js';
import type { LocalCloud } from '../../governor/cloud/local.js';
import type { Cloud, Command } from '../../governor/cloud/port.js';
import { PLAIN_FACTS, type EventType } from '../../governor/facts.js';
import { CONTROL_KEYS } from '../../governor/operator/control.js';
import commands, { COMMAND_KEYS } from '../../tasks/commands.js';
import controlledShutdown, { SHUTDOWN_KEYS, type ShutdownProgress } from '../../tasks/controlled-shutdown.js';
import fleet from '../../tasks/fleet.js';
import scaleDown from '../../tasks/scale-down.js';
import scaleUp from '../../tasks/scale-up.js';
import signals from '../../tasks/signals.js';
import { FLEET, REGION, TaskHarness, TestRegion, drive, testConfig } from './context.js';
import { FakeProxy, sampleOf } from './fake-proxy.js';

const shutdown = { notReadyMs: 1000, drainTimeoutMs: 2000, phaseTimeoutMs: 2000 };
const MIN = 60_000;

describe('commands task', () => {
  let clock: VirtualClock;
  let region: TestRegion;
  let ids: string[];

  beforeEach(async () => {
    clock = new VirtualClock();
    region = await TestRegion.create(clock);
    ids = await region.addRunning(3);
  });
  afterEach(async () => {
    clock.uninstall();
    await region.cleanup();
  });

  function governor(id: string, cloud: Cloud = region.cloudFor(id)): TaskHarness {
    const h = new TaskHarness({ clock, config: testConfig({ shutdown }), cloud, proxy: new FakeProxy() });
    return h.register(controlledShutdown);
  }
  async function send(target: string, kind: Command['kind'], params?: Record<string, unknown>, ttlMs = MIN): Promise<Command> {
    const issuedAt = clock.now();
    return region.registry.commands.write({ id: newCommandId(), target, fleet: FLEET, kind, issuedAt, expiresAt: issuedAt + ttlMs, params });
  }
  const ackOf = async (id: string) => (await region.registry.commands.history()).find((a) => a.command.id === id);
  const stateOf = async (id: string) => (await region.registry.get(id))!.state;

  it('runs every 2 s within its interval', () => {
    expect(commands).toMatchObject({ name: 'commands', schedule: '*/2 * * * * *' });
    expect(commands.timeoutMs).toBeLessThan(2000);
  });

  it('a shutdown command runs the controlled shutdown through every phase until the instance is terminated', async () => {
    const h = governor(ids[0]);
    const cmd = await send(ids[0], 'shutdown', { reason: 'kernel update' });
    await h.run(commands);

    expect(h.invoked).toEqual(['controlled-shutdown']);
    const ack = await ackOf(cmd.id);
    expect(ack).toMatchObject({ ackedBy: ids[0], outcome: 'accepted: controlled shutdown started; 2 other serving member(s) remain' });
    expect(h.blackboard.get(SHUTDOWN_KEYS.request)).toMatchObject({ by: `operator (command ${cmd.id})`, reason: 'kernel update' });

    await drive(clock, h.invoke('controlled-shutdown')); // joins the run in progress
    const progress = h.blackboard.get<ShutdownProgress>(SHUTDOWN_KEYS.progress)!;
    expect(progress.phases.map((p) => [p.name, p.outcome])).toEqual([
      ['not-ready', 'ok'],
      ['drain', 'ok'],
      ['flush', 'ok'],
      ['terminate', 'ok'],
    ]);
    expect(h.blackboard.get(SHUTDOWN_KEYS.done)).toBe(true);
    expect(await stateOf(ids[0])).toBe('terminated');
    expect(await stateOf(ids[1])).toBe('running');
    expect(h.entries('operator-shutdown')[0]).toMatchObject({ kind: 'action' });
  });

  it('refuses to shut down the last serving instance, unless params.includingLast', async () => {
    await region.registry.markTerminated(ids[1], 'test');
    await region.registry.update(ids[2], (r) => ({ ...r, state: 'leaving' }));
    const h = governor(ids[0]);
    const refused = await send(ids[0], 'shutdown');
    await h.run(commands);

    expect(h.invoked).toEqual([]);
    expect(h.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
    expect((await ackOf(refused.id))?.outcome).toMatch(/^refused: this is the last serving instance of the region/);
    expect(h.journal.query({ kind: 'suppressed', name: 'operator-shutdown' })).toHaveLength(1);

    const bad = await send(ids[0], 'shutdown', { includingLast: 'yes' });
    await h.run(commands);
    expect((await ackOf(bad.id))?.outcome).toBe('rejected: params.includingLast must be true or false, got "yes"');
    expect(h.invoked).toEqual([]);

    const forced = await send(ids[0], 'shutdown', { includingLast: true });
    await h.run(commands);
    expect((await ackOf(forced.id))?.outcome).toBe('accepted: controlled shutdown started; the region goes dark (includingLast)');
    await drive(clock, h.invoke('controlled-shutdown'));
    expect(await stateOf(ids[0])).toBe('terminated');
  });

  it('answers a second shutdown command while one is under way without starting another', async () => {
    const h = governor(ids[0]);
    await send(ids[0], 'shutdown');
    await h.run(commands);
    const second = await send(ids[0], 'shutdown');
    await h.run(commands);
    expect((await ackOf(second.id))?.outcome).toMatch(/^accepted: a controlled shutdown is already under way/);
    expect(h.invoked).toEqual(['controlled-shutdown']);
    await drive(clock, h.invoke('controlled-shutdown'));
  });

  it('never receives commands for another instance or fleet from the registry: they stay open for their target', async () => {
    const other = await send(ids[1], 'pause');
    const now = clock.now();
    const otherFleet = await region.registry.commands.write({
      id: newCommandId(),
      target: ids[0],
      fleet: 'other-fleet',
      kind: 'pause',
      issuedAt: now,
      expiresAt: now + MIN,
    });
    const h = governor(ids[0]);
    await h.run(commands);
    expect(h.blackboard.has(CONTROL_KEYS.paused)).toBe(false);
    expect(await region.registry.commands.history()).toEqual([]);
    // the target reads its own
    await governor(ids[1]).run(commands);
    expect((await ackOf(other.id))?.ackedBy).toBe(ids[1]);
    expect(await ackOf(otherFleet.id)).toBeUndefined();
  });

  it('ignores and journals (once) a command an adapter wrongly returns for another instance or fleet, and rejects an unknown kind', async () => {
    const now = clock.now();
    const base = { issuedAt: now, expiresAt: now + MIN };
    const foreign: Command[] = [
      { ...base, id: 'cmd-other-target', target: ids[1], fleet: FLEET, kind: 'shutdown' },
      { ...base, id: 'cmd-other-fleet', target: ids[0], fleet: 'other-fleet', kind: 'pause' },
      { ...base, id: 'cmd-unknown-kind', target: ids[0], fleet: FLEET, kind: 'reboot' as Command['kind'] },
    ];
    const { cloud, acks } = leakyCloud(region.cloudFor(ids[0]), foreign);
    const h = governor(ids[0], cloud);
    await h.run(commands);
    await h.run(commands);

    expect(h.invoked).toEqual([]);
    expect(h.blackboard.has(SHUTDOWN_KEYS.request)).toBe(false);
    expect(h.blackboard.has(CONTROL_KEYS.paused)).toBe(false);
    const ignored = h.journal.query({ kind: 'suppressed', name: 'commands' }).filter((e) => e.reason.startsWith('ignored'));
    expect(ignored.map((e) => (e.data?.command as Command).id)).toEqual(['cmd-other-target', 'cmd-other-fleet']);
    expect(h.blackboard.get(COMMAND_KEYS.ignored)).toEqual(['cmd-other-target', 'cmd-other-fleet']);
    // only the command for this instance is acknowledged (each run: it is re-read until the adapter drops it)
    expect(acks[0]).toEqual({ id: 'cmd-unknown-kind', outcome: 'rejected: unknown command kind "reboot"' });
    expect(new Set(acks.map((a) => a.id))).toEqual(new Set(['cmd-unknown-kind']));
  });

  it('does not act on an expired command: the registry acknowledges it as expired, and the task rejects one an adapter still returns', async () => {
    const h = governor(ids[0]);
    const cmd = await send(ids[0], 'pause', undefined, 5000);
    await clock.advance(6000);
    await h.run(commands);
    expect(h.blackboard.has(CONTROL_KEYS.paused)).toBe(false);
    expect(await ackOf(cmd.id)).toMatchObject({ outcome: 'expired' });
    expect((await ackOf(cmd.id))?.ackedBy).toBeUndefined();

    const now = clock.now();
    const stale: Command = { id: 'cmd-stale', target: ids[0], fleet: FLEET, kind: 'shutdown', issuedAt: now - 10_000, expiresAt: now - 1 };
    const { cloud, acks } = leakyCloud(region.cloudFor(ids[0]), [stale]);
    const h2 = governor(ids[0], cloud);
    await h2.run(commands);
    expect(h2.invoked).toEqual([]);
    expect(acks).toEqual([{ id: 'cmd-stale', outcome: expect.stringMatching(/^rejected: expired at .*: not acted on$/) }]);
  });

  describe('Stop! / Go!', () => {
    function want(h: TaskHarness, type: EventType): void {
      h.blackboard.set(`intents.${type}`, { type, rule: 'test', file: 'rules/test.json', params: {}, facts: {}, at: clock.now() });
    }
    const members = async () => (await region.registry.list(FLEET, REGION)).length;

    it('pause suppresses scale-up and scale-down (journaled) while signals go on; resume lets scaling act again', async () => {
      await clock.advance(3 * MIN); // past the scale-up spacing after the last launch
      const proxy = new FakeProxy();
      const h = new TaskHarness({ clock, config: testConfig({ shutdown }), cloud: region.cloudFor(ids[0]), proxy }).register(controlledShutdown);
      h.blackboard.set(PLAIN_FACTS.windowsFilled, true);
      await h.run(fleet);

      const pause = await send(ids[0], 'pause');
      await h.run(commands);
      expect((await ackOf(pause.id))?.outcome).toMatch(/^accepted: paused \(Stop!\)/);
      expect(h.blackboard.get(CONTROL_KEYS.paused)).toBe(true);
      expect(h.blackboard.get(CONTROL_KEYS.by)).toBe(`operator (command ${pause.id})`);
      expect(h.entries('control')).toHaveLength(1);

      want(h, 'scale-up');
      want(h, 'scale-down');
      await h.run(scaleUp);
      await h.run(scaleDown);
      expect(h.journal.query({ kind: 'suppressed', name: 'scale-up' }).map((e) => e.data?.code)).toEqual(['paused']);
      expect(h.journal.query({ kind: 'suppressed', name: 'scale-down' }).map((e) => e.data?.code)).toEqual(['paused']);
      expect(await members()).toBe(3);
      expect(h.invoked).toEqual([]);

      // serving and sampling go on
      proxy.next = sampleOf({ busy: 0.9, requests: 100 });
      for (let i = 0; i < 3; i++) {
        await h.run(signals);
        await clock.advance(1000);
      }
      expect(h.blackboard.series('busy').count(60)).toBe(3);
      expect(proxy.readyCalls).toEqual([]);

      const resume = await send(ids[0], 'resume');
      await h.run(commands);
      expect((await ackOf(resume.id))?.outcome).toMatch(/^accepted: resumed \(Go!\)/);
      expect(h.blackboard.get(CONTROL_KEYS.paused)).toBe(false);
      want(h, 'scale-up');
      await h.run(scaleUp);
      expect(await members()).toBe(4);
    });

    it('a new instance inherits the pause from its peers, and a later resume wins over an older pause', async () => {
      const [a, b] = ids.map((id) => governor(id));
      const publish = async (h: TaskHarness) => {
        await h.run(signals);
        await h.run(fleet);
      };
      const pause = await send(ids[0], 'pause');
      await a.run(commands);
      await publish(a);

      const { id: newcomer } = await region.registry.createInstance({ fleet: FLEET, region: REGION, launchedBy: ids[0] });
      await region.cloudFor(newcomer).markRunning({});
      const n = governor(newcomer);
      await n.run(fleet);
      expect(n.blackboard.has(CONTROL_KEYS.paused)).toBe(false);
      await n.run(commands);
      expect(n.blackboard.get(CONTROL_KEYS.paused)).toBe(true);
      expect(n.blackboard.get(CONTROL_KEYS.since)).toBe(pause.issuedAt);
      expect(n.blackboard.get(CONTROL_KEYS.by)).toBe(`peer ${ids[0]}`);
      expect(n.entries('control')[0].reason).toBe(`paused (Stop!) by peer ${ids[0]}: scaling decisions stop, serving continues`);

      // an operator resumes through b only; a still holds the older pause
      await clock.advance(10_000);
      await send(ids[1], 'resume');
      await b.run(commands);
      await publish(b);
      await publish(a);
      for (const h of [n, a]) {
        await h.run(fleet);
        await h.run(commands);
        expect(h.blackboard.get(CONTROL_KEYS.paused)).toBe(false);
      }
      // the older pause, read late, no longer applies
      const late = await region.registry.commands.write({ ...pause, id: newCommandId(), target: newcomer });
      await n.run(commands);
      expect((await ackOf(late.id))?.outcome).toMatch(/^superseded: a newer decision stands: resumed \(Go!\)/);
      expect(n.blackboard.get(CONTROL_KEYS.paused)).toBe(false);
    });
  });
});

/** A Cloud that also returns `extra` commands from readCommands (as a faulty adapter might) and records their acks. */
function leakyCloud(inner: LocalCloud, extra: Command[]): { cloud: Cloud; acks: Array<{ id: string; outcome: string }> } {
  const acks: Array<{ id: string; outcome: string }> = [];
  const cloud: Cloud = {
    identity: () => inner.identity(),
    listFleet: () => inner.listFleet(),
    launch: (req) => inner.launch(req),
    markRunning: (e) => inner.markRunning(e),
    markLeaving: () => inner.markLeaving(),
    terminateSelf: () => inner.terminateSelf(),
    publishSummary: (s) => inner.publishSummary(s),
    readCommands: async () => [...extra, ...(await inner.readCommands())],
    async ackCommand(id, outcome) {
      if (!extra.some((c) => c.id === id)) return inner.ackCommand(id, outcome);
      acks.push({ id, outcome });
    },
  };
  return { cloud, acks };
}
