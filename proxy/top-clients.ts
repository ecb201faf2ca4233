/**
 * Request counts per client address in bounded memory (the Space-Saving algorithm): at most
 * `capacity` addresses are tracked. When a new address arrives and the table is full, it replaces
 * an address with the lowest count and inherits that count plus one. Every address with more than
 * total/capacity requests is guaranteed to be tracked, and a reported count overestimates the true
 * one by at most the lowest count in the table. Every operation is O(1) except `top`.
 *
 * Consecutive adds of one address (a keep-alive connection's requests) are counted in a run and
 * applied as one weighted add when another address arrives or the table is read: the same table
 * as adding them one by one (after the first add of a run, the address is tracked, so the rest of
 * the run only increments it), at the cost of a comparison per request instead of map and set
 * updates.
 */
export class TopClients {
  private readonly counts = new Map<string, number>();
  /** Addresses by their count, so that one with the lowest count is found in O(1). */
  private readonly byCount = new Map<number, Set<string>>();
  private lowest = 0;
  /** The current run: `runLength` adds of `runAddress` not yet in the table. */
  private runAddress: string | undefined;
  private runLength = 0;

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be an integer >= 1, got ${capacity}`);
  }

  add(address: string): void {
    if (address === this.runAddress) {
      this.runLength++;
      return;
    }
    this.flush();
    this.runAddress = address;
    this.runLength = 1;
  }

  /** The `n` addresses with the most requests, most first (ties: first tracked first). */
  top(n: number): Array<{ address: string; requests: number }> {
    this.flush();
    return [...this.counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([address, requests]) => ({ address, requests }));
  }

  get tracked(): number {
    this.flush();
    return this.counts.size;
  }

  clear(): void {
    this.counts.clear();
    this.byCount.clear();
    this.lowest = 0;
    this.runAddress = undefined;
    this.runLength = 0;
  }

  /** Applies the current run: `runLength` adds of `runAddress` (Space-Saving with a weight). */
  private flush(): void {
    const address = this.runAddress;
    const by = this.runLength;
    if (address === undefined || by === 0) return;
    this.runLength = 0;
    const count = this.counts.get(address);
    if (count !== undefined) {
      this.move(address, count, count + by);
      return;
    }
    if (this.counts.size < this.capacity) {
      this.place(address, by);
      if (this.counts.size === 1 || by < this.lowest) this.lowest = by;
      return;
    }
    const evictable = this.byCount.get(this.lowest) as Set<string>;
    const evicted = evictable.values().next().value as string;
    this.unplace(evicted, this.lowest);
    this.counts.delete(evicted);
    const inherited = this.lowest + by;
    this.place(address, inherited);
    if (!this.byCount.has(this.lowest)) this.lowest = this.lowestCount();
  }

  /** The lowest count in the table: a scan over the distinct counts, needed only when the lowest group emptied by a weighted add. */
  private lowestCount(): number {
    let lowest = Infinity;
    for (const count of this.byCount.keys()) if (count < lowest) lowest = count;
    return lowest === Infinity ? 0 : lowest;
  }

  private move(address: string, from: number, to: number): void {
    this.unplace(address, from);
    this.place(address, to);
    if (from === this.lowest && !this.byCount.has(from)) this.lowest = to - from === 1 ? to : this.lowestCount();
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
