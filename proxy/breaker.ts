export interface BreakerSettings {
  enabled: boolean;
  /** Consecutive failures that open the circuit. */
  failures: number;
  /** Open time before the first probe; doubles after every failed probe, up to maxCooldownMs. */
  cooldownMs: number;
  maxCooldownMs: number;
}

export type BreakerState = 'closed' | 'open' | 'half-open';

/** The right to send one request to the origin; report how it went exactly once (later calls are ignored). */
export interface BreakerPermit {
  /** The origin answered (with anything but 502/503/504). */
  succeeded(): void;
  /** The origin failed: connection error, timeout, 502/503/504. */
  failed(): void;
  /** The outcome is unknown (the client left first): a probe slot is given back, nothing counted. */
  abandoned(): void;
}

const NO_OP_PERMIT: BreakerPermit = { succeeded() {}, failed() {}, abandoned() {} };

/**
 * A circuit breaker for one origin (linkerd's consecutive-failures accrual with exponential
 * backoff). Closed: every request passes; `failures` consecutive failures open it. Open: no
 * request passes until the cooldown ends. Half-open: exactly one probe passes; its success
 * closes the circuit (and resets the cooldown), its failure opens it again for twice as long
 * (at most maxCooldownMs). Disabled, it always permits and never opens.
 */
export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private consecutiveFailures = 0;
  private cooldownMs: number;
  private openUntil = 0;
  private probing = false;
  private openedCount = 0;

  constructor(
    private readonly settings: BreakerSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.cooldownMs = settings.cooldownMs;
  }

  get state(): BreakerState {
    if (this.current === 'open' && this.now() >= this.openUntil) return 'half-open';
    return this.current;
  }

  /** How many times the circuit has opened since start. */
  get opened(): number {
    return this.openedCount;
  }

  /** Milliseconds until a probe may go (0 when closed or half-open). */
  retryAfterMs(): number {
    return this.current === 'open' ? Math.max(0, this.openUntil - this.now()) : 0;
  }

  /** A permit to send a request now, or undefined to fail fast. */
  tryAcquire(): BreakerPermit | undefined {
    if (!this.settings.enabled) return NO_OP_PERMIT;
    if (this.current === 'closed') return this.permit(false);
    if (this.probing || this.now() < this.openUntil) return undefined;
    this.current = 'half-open';
    this.probing = true;
    return this.permit(true);
  }

  private permit(probe: boolean): BreakerPermit {
    return new Permit(this, probe);
  }

  /** @internal A permit's one outcome ('unknown': abandoned, neither success nor failure). */
  settle(probe: boolean, outcome: 'ok' | 'failed' | 'unknown'): void {
    if (probe) this.probing = false;
    if (outcome === 'ok') this.onSuccess();
    else if (outcome === 'failed') this.onFailure(probe);
  }

  private onSuccess(): void {
    this.consecutiveFailures = 0;
    if (this.current !== 'closed') {
      this.current = 'closed';
      this.cooldownMs = this.settings.cooldownMs;
    }
  }

  private onFailure(probe: boolean): void {
    if (probe) {
      this.cooldownMs = Math.min(this.cooldownMs * 2, this.settings.maxCooldownMs);
      this.open();
      return;
    }
    if (this.current !== 'closed') return; // a request sent before the circuit opened
    this.consecutiveFailures++;
    if (this.consecutiveFailures >= this.settings.failures) this.open();
  }

  private open(): void {
    this.current = 'open';
    this.openedCount++;
    this.consecutiveFailures = 0;
    this.openUntil = this.now() + this.cooldownMs;
  }
}

/** One attempt's permit: the first of succeeded / failed / abandoned counts, later calls do nothing. */
class Permit implements BreakerPermit {
  private settled = false;

  constructor(
    private readonly breaker: CircuitBreaker,
    private readonly probe: boolean,
  ) {}

  succeeded(): void {
    this.settle('ok');
  }

  failed(): void {
    this.settle('failed');
  }

  abandoned(): void {
    this.settle('unknown');
  }

  private settle(outcome: 'ok' | 'failed' | 'unknown'): void {
    if (this.settled) return;
    this.settled = true;
    this.breaker.settle(this.probe, outcome);
  }
}
