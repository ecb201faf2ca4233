import { RealClock, type Clock, type TimerHandle } from '../governor/clock.js';

/** Why a request was not admitted. */
export type Refusal = 'queue-full' | 'queue-timeout' | 'draining';

export interface AdmissionLimits {
  /** Requests admitted at once at most (C), >= 1. */
  maxInFlight: number;
  /** Requests waiting for a slot at most (Q), >= 0. */
  maxQueue: number;
  /** A request waiting longer than this is refused with 'queue-timeout'. */
  queueTimeoutMs: number;
}

/** What a request asks of admission. Exactly one of the two is called, at most once. */
export interface Applicant {
  /** A slot is the request's until it calls `leave()`; `waitedMs` is its time in the queue. */
  admitted(waitedMs: number): void;
  refused(reason: Refusal): void;
}

export interface Ticket {
  /**
   * The request is done with admission: frees its slot (admitting the head of the queue) or,
   * still queued, leaves the queue without any callback. Idempotent; call it on every exit.
   */
  leave(): void;
}

export interface DrainResult {
  /** Admitted requests that finished between the drain call and its end. */
  completed: number;
  /** Requests still admitted or queued at the deadline (0 when the drain finished). */
  abandoned: number;
}

/** One request's place: waiting in the queue, holding a slot, or done with admission; its own ticket. */
class Entry implements Ticket {
  state: 'queued' | 'admitted' | 'left' = 'left';

  constructor(
    private readonly admission: Admission,
    readonly applicant: Applicant,
    readonly enqueuedAt: number,
  ) {}

  leave(): void {
    this.admission.leave(this);
  }
}

interface DrainWaiter {
  finishedAtStart: number;
  timer: TimerHandle;
  resolve(result: DrainResult): void;
}

/**
 * Request-level admission control: at most `maxInFlight` requests admitted, at most `maxQueue`
 * more waiting in FIFO order, the rest refused at once. A queued request is admitted in arrival
 * order as slots free, or refused once it has waited `queueTimeoutMs`. After `drain()`, every new
 * request is refused with 'draining' while admitted and queued ones carry on.
 *
 * Callbacks run synchronously inside `enter()` (admitted at once or refused at once), inside
 * `leave()` (the next queued request is admitted) or from a clock timer (queue timeout).
 */
export class Admission {
  private admittedCount = 0;
  private finishedCount = 0;
  private isDraining = false;
  /** Insertion-ordered: iteration order is arrival order, and removal is O(1). */
  private readonly queue = new Set<Entry>();
  private queueTimer: TimerHandle | undefined;
  /** The queue head `queueTimer` was set for. */
  private timedHead: Entry | undefined;
  private readonly drainWaiters = new Set<DrainWaiter>();

  constructor(
    private readonly limits: AdmissionLimits,
    private readonly clock: Clock = new RealClock(),
  ) {}

  get inFlight(): number {
    return this.admittedCount;
  }

  get queueDepth(): number {
    return this.queue.size;
  }

  get draining(): boolean {
    return this.isDraining;
  }

  enter(applicant: Applicant): Ticket {
    const entry = new Entry(this, applicant, this.clock.now());
    if (this.isDraining) {
      applicant.refused('draining');
    } else if (this.admittedCount < this.limits.maxInFlight && this.queue.size === 0) {
      entry.state = 'admitted';
      this.admittedCount++;
      applicant.admitted(0);
    } else if (this.queue.size >= this.limits.maxQueue) {
      applicant.refused('queue-full');
    } else {
      entry.state = 'queued';
      this.queue.add(entry);
      this.armQueueTimer();
    }
    return entry;
  }

  /**
   * Stops admitting new requests and resolves when no request is admitted or queued, or after
   * `deadlineMs` milliseconds (a duration), whichever comes first.
   */
  drain(deadlineMs: number): Promise<DrainResult> {
    this.isDraining = true;
    if (this.idle()) return Promise.resolve({ completed: 0, abandoned: 0 });
    return new Promise((resolve) => {
      const waiter: DrainWaiter = {
        finishedAtStart: this.finishedCount,
        resolve,
        timer: this.clock.setTimeout(() => this.endDrain(waiter), deadlineMs),
      };
      this.drainWaiters.add(waiter);
    });
  }

  /**
   * For shutdown: refuses every new request, forgets queued ones without a callback (their
   * connections are being closed), clears timers and ends pending drains (what remains admitted
   * counts as abandoned).
   */
  dispose(): void {
    this.isDraining = true;
    for (const entry of this.queue) entry.state = 'left';
    this.queue.clear();
    this.clearQueueTimer();
    for (const waiter of this.drainWaiters) this.endDrain(waiter);
  }

  /** @internal What `Ticket.leave()` does. */
  leave(entry: Entry): void {
    const was = entry.state;
    entry.state = 'left';
    if (was === 'admitted') {
      this.admittedCount--;
      this.finishedCount++;
      this.admitFromQueue();
    } else if (was === 'queued') {
      this.queue.delete(entry);
      this.armQueueTimer();
    } else {
      return;
    }
    this.settleDrains();
  }

  private admitFromQueue(): void {
    while (this.admittedCount < this.limits.maxInFlight) {
      const head = this.queue.values().next();
      if (head.done) break;
      const entry = head.value;
      this.queue.delete(entry);
      entry.state = 'admitted';
      this.admittedCount++;
      entry.applicant.admitted(this.clock.now() - entry.enqueuedAt);
    }
    this.armQueueTimer();
  }

  /** One timer, for the oldest waiting request (later ones expire no earlier); re-set when the head changes. */
  private armQueueTimer(): void {
    const head = this.queue.values().next();
    const headEntry = head.done ? undefined : head.value;
    if (headEntry === this.timedHead) return;
    this.clearQueueTimer();
    if (headEntry === undefined) return;
    this.timedHead = headEntry;
    const dueIn = headEntry.enqueuedAt + this.limits.queueTimeoutMs - this.clock.now();
    this.queueTimer = this.clock.setTimeout(() => this.expireQueue(), Math.max(0, dueIn));
  }

  private clearQueueTimer(): void {
    if (this.queueTimer !== undefined) this.clock.clearTimeout(this.queueTimer);
    this.queueTimer = undefined;
    this.timedHead = undefined;
  }

  private expireQueue(): void {
    this.queueTimer = undefined;
    this.timedHead = undefined;
    const now = this.clock.now();
    const expired: Entry[] = [];
    for (const entry of this.queue) {
      if (now - entry.enqueuedAt < this.limits.queueTimeoutMs) break;
      expired.push(entry);
    }
    for (const entry of expired) {
      this.queue.delete(entry);
      entry.state = 'left';
    }
    this.armQueueTimer();
    for (const entry of expired) entry.applicant.refused('queue-timeout');
    this.settleDrains();
  }

  private idle(): boolean {
    return this.admittedCount === 0 && this.queue.size === 0;
  }

  private settleDrains(): void {
    if (!this.idle()) return;
    for (const waiter of this.drainWaiters) this.endDrain(waiter);
  }

  private endDrain(waiter: DrainWaiter): void {
    if (!this.drainWaiters.delete(waiter)) return;
    this.clock.clearTimeout(waiter.timer);
    waiter.resolve({
      completed: this.finishedCount - waiter.finishedAtStart,
      abandoned: this.admittedCount + this.queue.size,
    });
  }
}

