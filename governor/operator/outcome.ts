/**
 * What an instance answers to an operator's command, as one line of text: `<status>: <detail>`.
 * The text is what the cloud command channel stores as the acknowledgement (and what the admin
 * API returns), so both channels report the same outcomes.
 */

/**
 * - accepted:   the command took effect (or was already in effect)
 * - refused:    the instance will not do it (the last serving instance without includingLast)
 * - rejected:   the command is malformed, of an unknown kind, or arrived expired
 * - superseded: a newer Stop!/Go! decision is already in force here
 * - expired:    nobody acknowledged the command before it expired (written by the registry)
 */
export const OUTCOME_STATUSES = ['accepted', 'refused', 'rejected', 'superseded', 'expired'] as const;
export type OutcomeStatus = (typeof OUTCOME_STATUSES)[number];

export interface Outcome {
  status: OutcomeStatus;
  detail: string;
}

/** The port bounds acknowledgements to 512 characters. */
const MAX_OUTCOME_TEXT = 500;

export function outcome(status: OutcomeStatus, detail: string): Outcome {
  return { status, detail };
}

/** `<status>: <detail>`, cut to fit an acknowledgement. */
export function outcomeText(o: Outcome): string {
  const text = `${o.status}: ${o.detail}`;
  return text.length <= MAX_OUTCOME_TEXT ? text : `${text.slice(0, MAX_OUTCOME_TEXT - 3)}...`;
}

/** Reads an acknowledgement back; the registry's bare 'expired' and unknown texts are handled. */
export function parseOutcome(text: string): Outcome | { status: 'unknown'; detail: string } {
  const colon = text.indexOf(':');
  const head = (colon < 0 ? text : text.slice(0, colon)).trim();
  const detail = colon < 0 ? '' : text.slice(colon + 1).trim();
  return (OUTCOME_STATUSES as readonly string[]).includes(head) ? { status: head as OutcomeStatus, detail } : { status: 'unknown', detail: text };
}
