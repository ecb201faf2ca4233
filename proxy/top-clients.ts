/**
 * Request counts per client address in bounded memory (the Space-Saving algorithm): at most
 * `capacity` addresses are tracked. When a new address arrives and the table is full, it replaces
 * an address with the lowest count and inherits that count plus one. Every address with more than
 * total/capacity requests is guaranteed to be tracked, and a reported count overestimates the true
 * one by at most the lowest count in the table. Every operation is O(1) except `top`.
 */
export class TopClients {
  private readonly counts = new Map<string, number>();
  /** Addresses by their count, so that one with the lowest count is found in O(1). */
  private readonly byCount = new Map<number, Set<string>>();
  private lowest = 0;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  }

  add(address: string): void {
    const count = this.counts.get(address);
    if (count !== undefined) {
      this.move(address, count, count + 1);
      return;
    }
    if (this.counts.size < this.capacity) {
      this.place(address, 1);
      this.lowest = 1;
      return;
    }
    const evictable = this.byCount.get(this.lowest) as Set<string>;
    const evicted = evictable.values().next().value as string;
    this.unplace(evicted, this.lowest);
    this.counts.delete(evicted);
    const inherited = this.lowest + 1;
    this.place(address, inherited);
    if (!this.byCount.has(this.lowest)) this.lowest = inherited;
  }

  /** The `n` addresses with the most requests, most first (ties: first tracked first). */
  top(n: number): Array<{ address: string; requests: number }> {
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([address, requests]) => ({ address, requests }));
  }

  get tracked(): number {
    return this.counts.size;
  }

  clear(): void {
    this.counts.clear();
    this.byCount.clear();
    this.lowest = 0;
  }

  private move(address: string, from: number, to: number): void {
    this.unplace(address, from);
    this.place(address, to);
    if (from === this.lowest && !this.byCount.has(from)) this.lowest = to;
  }

  private place(address: string, count: number): void {
    this.counts.set(address, count);
    const group = this.byCount.get(count);
    if (group) group.add(address);
    else this.byCount.set(count, new Set([address]));
  }

  private unplace(address: string, count: number): void {
    const group = this.byCount.get(count) as Set<string>;
    group.delete(address);
    if (group.size === 0) this.byCount.delete(count);
  }
}
