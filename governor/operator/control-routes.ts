import type { Logger } from 'pino';
import { sendJson, type AdminRoute } from '../admin.js';
import { parseJsonBody, signedRoute, type NonceStore } from '../admin-auth.js';
import { GovError } from '../errors.js';
import { readControl } from './control.js';
import { controlThisInstance, shutdownThisInstance, type InstanceActionDeps } from './instance-actions.js';
import { outcomeText, type Outcome } from './outcome.js';

export interface ControlRoutesOptions extends InstanceActionDeps {
  /** The admin secret (loadAdminSecret); undefined refuses every control request (403). */
  secret: Buffer | undefined;
  /** One store shared with every other signed route of the server. */
  nonceStore: NonceStore;
  /** config.admin.maxSkewMs. */
  maxSkewMs: number;
  log?: Logger;
}

/** The request bodies: every field optional; `{}` or an empty body is fine. */
interface ControlBody {
  /** shutdown only: shut down even the last serving instance of the region. */
  includingLast?: boolean;
  /** shutdown only: recorded with the request. */
  reason?: string;
  /** pause / resume: the operator's time of decision (ms since the epoch); default now. */
  decidedAt?: number;
  /** Who asks, for the journal (default 'admin API'). */
  by?: string;
}

const FIELDS: Record<keyof ControlBody, (v: unknown) => boolean> = {
  includingLast: (v) => typeof v === 'boolean',
  reason: (v) => typeof v === 'string' && v.length <= 200,
  decidedAt: (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0,
  by: (v) => typeof v === 'string' && v.length > 0 && v.length <= 100,
};
const EXPECTED: Record<keyof ControlBody, string> = {
  includingLast: 'true or false',
  reason: 'a string of at most 200 characters',
  decidedAt: 'milliseconds since the epoch as an integer',
  by: 'a string of 1 to 100 characters',
};

function badRequest(message: string): GovError {
  return new GovError('GOV_ERR_ADMIN_BAD_REQUEST', message);
}

/** The body as a ControlBody with only the fields `allowed`; GOV_ERR_ADMIN_BAD_REQUEST names the bad field. */
export function parseControlBody(body: Buffer, allowed: readonly (keyof ControlBody)[]): ControlBody {
  if (body.length === 0) return {};
  const value = parseJsonBody(body);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw badRequest('request body must be a JSON object');
  for (const [key, v] of Object.entries(value)) {
    const field = key as keyof ControlBody;
    if (!allowed.includes(field)) throw badRequest(`unknown field ${JSON.stringify(key)}: expected ${allowed.join(', ') || 'none'}`);
    if (!FIELDS[field](v)) throw badRequest(`field ${key} = ${JSON.stringify(v).slice(0, 80)}: expected ${EXPECTED[field]}`);
  }
  return value as ControlBody;
}

/**
 * The operator's control routes of the admin API, each signed (governor/admin-auth.ts):
 *
 * | route                  | body                                   | answer                                      |
 * | POST /control/shutdown | {includingLast?, reason?, by?}         | 202 accepted; 409 GOV_ERR_SHUTDOWN_REFUSED   |
 * | POST /control/pause    | {decidedAt?, by?}                      | 200 accepted or superseded                  |
 * | POST /control/resume   | {decidedAt?, by?}                      | 200 accepted or superseded                  |
 *
 * Every answer carries `outcome` (`<status>: <detail>`, the same text the cloud command channel
 * acknowledges with) and `control` (the Stop!/Go! state in force). A shutdown runs on after the
 * answer: follow it in GET /state (`shutdown.phase`, `shutdown.progress`).
 */
export function controlRoutes(opts: ControlRoutesOptions): AdminRoute[] {
  const auth = { secret: opts.secret, clock: opts.clock, maxSkewMs: opts.maxSkewMs, nonceStore: opts.nonceStore, blackboard: opts.blackboard, log: opts.log };
  /** `okStatus` for every answer but a refusal: 202 for a shutdown (it runs on), 200 otherwise. */
  const answer = (res: Parameters<AdminRoute['handler']>[1], result: Outcome, okStatus: 200 | 202) => {
    const body = { outcome: outcomeText(result), status: result.status, control: readControl(opts.blackboard) ?? null };
    if (result.status === 'refused') {
      sendJson(res, 409, { ...body, error: { code: 'GOV_ERR_SHUTDOWN_REFUSED', message: result.detail } });
    } else {
      sendJson(res, okStatus, body);
    }
  };
  const control = (paused: boolean): AdminRoute =>
    signedRoute(
      {
        method: 'POST',
        path: paused ? '/control/pause' : '/control/resume',
        handler(_req, res, _url, raw) {
          const body = parseControlBody(raw, ['decidedAt', 'by']);
          answer(res, controlThisInstance(opts, paused, body.decidedAt ?? opts.clock.now(), body.by ?? 'admin API'), 200);
        },
      },
      auth,
    );
  return [
    signedRoute(
      {
        method: 'POST',
        path: '/control/shutdown',
        async handler(_req, res, _url, raw) {
          const body = parseControlBody(raw, ['includingLast', 'reason', 'by']);
          const result = await shutdownThisInstance(opts, {
            by: body.by ?? 'admin API',
            reason: body.reason ?? 'operator request',
            includingLast: body.includingLast ?? false,
          });
          answer(res, result, 202);
        },
      },
      auth,
    ),
    control(true),
    control(false),
  ];
}
