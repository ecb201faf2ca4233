/** The decision journal contract; implemented by `Journal` in ./journal.ts. */

export type JournalKind = 'intent' | 'action' | 'suppressed' | 'error' | 'rules' | 'info';

export interface JournalEntry {
  /** Strictly increasing per journal. */
  seq: number;
  /** clock.now() when recorded. */
  at: number;
  kind: JournalKind;
  /** What: an intent/event type, an action name, a task name. */
  name: string;
  /** Why, for a human: "suppressed: launch already pending (1 booting)". */
  reason: string;
  /** The facts behind the decision. */
  facts?: Record<string, unknown>;
  /** Anything else worth keeping (ids, tokens, counts). */
  data?: Record<string, unknown>;
}

export interface JournalQuery {
  /** Only entries with seq > since. */
  since?: number;
  kind?: JournalKind;
  name?: string;
  /** Newest `limit` entries (default 100). */
  limit?: number;
}

export interface JournalApi {
  /** Records an entry (bounded: the oldest are dropped beyond capacity), logs it, returns it. */
  record(entry: Omit<JournalEntry, 'seq' | 'at'>): JournalEntry;
  /** Entries in seq order, oldest first. */
  query(q?: JournalQuery): JournalEntry[];
}
