/**
 * One registry of error codes (DESIGN.md convention 6). Every code is documented in the
 * README's "Error codes" table; test/governor/errors.test.ts keeps the two in step.
 * Add a code here with a one-line meaning; never reuse or renumber one.
 */
export const ERROR_CODES = {
  GOV_ERR_CONFIG_INVALID: 'The configuration file failed validation; every problem is listed.',
  GOV_ERR_CONFIG_READ: 'The configuration file could not be read or parsed (JSON/YAML syntax).',
  GOV_ERR_RULES_INVALID: 'A rule set failed validation; the last good set stays active.',
  GOV_ERR_TASK_LOAD: 'A task module could not be imported or is not a valid Task.',
  GOV_ERR_TASK_TIMEOUT: 'A task run exceeded its timeoutMs and was aborted.',
  GOV_ERR_TASK_FAILED: 'A task run threw or rejected.',
  GOV_ERR_TASK_UNKNOWN: 'invoke() named a task that is not loaded.',
  GOV_ERR_CLOUD_UNAVAILABLE: 'A cloud call failed (network, throttling, 5xx, injected failure).',
  GOV_ERR_ADMIN_BAD_REQUEST: 'The admin API received a request it cannot parse.',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** An error with a registered code; `details` carries the file/key/value/expectation. */
export class GovError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'GovError';
    this.code = code;
    this.details = details;
  }
}

export function isGovError(err: unknown, code?: ErrorCode): err is GovError {
  return err instanceof GovError && (code === undefined || err.code === code);
}

/** A plain {code?, message} view of anything thrown, for records and journal entries. */
export function describeError(err: unknown): { code?: string; message: string } {
  if (err instanceof GovError) return { code: err.code, message: err.message };
  if (err instanceof Error) return { code: (err as { code?: string }).code, message: err.message };
  return { message: String(err) };
}
