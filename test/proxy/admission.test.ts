import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { VirtualClock } from '../../governor/virtual-clock.js';
import { Admission, type AdmissionLimits, type Refusal, type Ticket } from '../../proxy/admission.js';

let clock: VirtualClock;
beforeEach(() => {
  clock = new VirtualClock();
});
afterEach(() => clock.uninstall());

/** A request's view of admission: what happened to it, in order. */
interface Probe {
  ticket: Ticket;
  admittedAfter?: number;
  refused?: Refusal;
}

function setup(limits: Partial<AdmissionLimits> = {}) {
  const admission = new Admission({ maxInFlight: 2, maxQueue: 2, queueTimeoutMs: 1_000, ...limits }, clock);
  const order: string[] = [];
  const enter = (name: string): Probe => {
    const probe = {} as Probe;
    probe.ticket = admission.enter({
      admitted: (waitedMs) => {
        probe.admittedAfter = waitedMs;
        order.push(name);
      },
      refused: (reason) => {
        probe.refused = reason;
      },
    });
    return probe;
  };
  return { admission, enter, order };
}

describe('Admission', () => {
  it('admits up to maxInFlight at once, queues up to maxQueue, refuses the rest at once', () => {
    const { admission, enter } = setup();
    const probes = ['a', 'b', 'c', 'd', 'e'].map(enter);

    expect(probes.map((p) => p.admittedAfter)).toEqual([0, 0, undefined, undefined, undefined]);
    expect(probes.map((p) => p.refused)).toEqual([undefined, undefined, undefined, undefined, 'queue-full']);
    expect(admission.inFlight).toBe(2);
    expect(admission.queueDepth).toBe(2);
  });

  it('admits queued requests in arrival order as slots free, with their waiting time', async () => {
    const { admission, enter, order } = setup({ maxInFlight: 1, maxQueue: 3 });
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map(enter);

    await clock.advance(100);
    a.ticket.leave();
    await clock.advance(50);
    b.ticket.leave();
    c.ticket.leave();

    expect(order).toEqual(['a', 'b', 'c', 'd']);
    expect([b.admittedAfter, c.admittedAfter, d.admittedAfter]).toEqual([100, 150, 150]);
    expect(admission.inFlight).toBe(1);
    expect(admission.queueDepth).toBe(0);
  });

  it('does not let a newcomer overtake the queue when a slot frees', () => {
    const { enter, order } = setup({ maxInFlight: 1, maxQueue: 5 });
    const a = enter('a');
    enter('b');
    a.ticket.leave();
    enter('c');
    expect(order).toEqual(['a', 'b']);
  });

  it('refuses a request that waited queueTimeoutMs, each on its own schedule', async () => {
    const { admission, enter } = setup({ maxInFlight: 1, maxQueue: 5, queueTimeoutMs: 1_000 });
    enter('a');
    const b = enter('b');
    await clock.advance(400);
    const c = enter('c');

    await clock.advance(599);
    expect(b.refused).toBeUndefined();
    await clock.advance(1);
    expect(b.refused).toBe('queue-timeout');
    expect(c.refused).toBeUndefined();
    await clock.advance(400);
    expect(c.refused).toBe('queue-timeout');
    expect(admission.queueDepth).toBe(0);
    expect(admission.inFlight).toBe(1);
  });

  it('leave() of a queued request removes it without a callback; leave() is idempotent', async () => {
    const { admission, enter, order } = setup({ maxInFlight: 1, maxQueue: 5 });
    const a = enter('a');
    const b = enter('b');
    enter('c');

    b.ticket.leave();
    a.ticket.leave();
    a.ticket.leave();
    await clock.advance(5_000);

    expect(order).toEqual(['a', 'c']);
    expect(b.refused).toBeUndefined();
    expect(admission.inFlight).toBe(1);
  });

  it('with maxQueue 0, sheds everything beyond maxInFlight', () => {
    const { enter } = setup({ maxInFlight: 1, maxQueue: 0 });
    enter('a');
    expect(enter('b').refused).toBe('queue-full');
  });

  it('drain refuses new requests, lets admitted and queued ones finish, and resolves when none remain', async () => {
    const { admission, enter, order } = setup({ maxInFlight: 1, maxQueue: 2 });
    const a = enter('a');
    const b = enter('b');
    let result: { completed: number; abandoned: number } | undefined;
    void admission.drain(10_000).then((r) => (result = r));

    expect(admission.draining).toBe(true);
    expect(enter('late').refused).toBe('draining');
    a.ticket.leave();
    await clock.settle();
    expect(order).toEqual(['a', 'b']);
    expect(result).toBeUndefined();
    b.ticket.leave();
    await clock.settle();
    expect(result).toEqual({ completed: 2, abandoned: 0 });
  });

  it('drain resolves at its deadline with what remains as abandoned', async () => {
    const { admission, enter } = setup({ maxInFlight: 1, maxQueue: 2 });
    enter('a');
    enter('b');
    let result: { completed: number; abandoned: number } | undefined;
    void admission.drain(3_000).then((r) => (result = r));

    await clock.advance(2_999);
    expect(result).toBeUndefined();
    await clock.advance(1);
    expect(result).toEqual({ completed: 0, abandoned: 1 }); // b left the queue at its timeout
  });

  it('drain with nothing in flight resolves at once', async () => {
    const { admission } = setup();
    await expect(admission.drain(1_000)).resolves.toEqual({ completed: 0, abandoned: 0 });
  });

  it('dispose forgets the queue without callbacks, ends pending drains and refuses newcomers', async () => {
    const { admission, enter, order } = setup({ maxInFlight: 1, maxQueue: 1 });
    const a = enter('a');
    const b = enter('b');
    const drained = admission.drain(60_000);
    admission.dispose();
    await expect(drained).resolves.toEqual({ completed: 0, abandoned: 1 });
    a.ticket.leave();
    await clock.advance(5_000);
    expect(order).toEqual(['a']);
    expect(b.refused).toBeUndefined();
    expect(enter('c').refused).toBe('draining');
    expect(admission.inFlight).toBe(0);
  });
});
