import type { AdminRoute } from '../governor/admin.js';
import { sendJson } from '../governor/admin.js';
import { parseJsonBody, signedRoute, type SignedRouteOptions } from '../governor/admin-auth.js';
import { GovError, isGovError } from '../governor/errors.js';
import { checkedPurge } from './server.js';
import type { ProxyControl } from './types.js';

/** The path of the cache purge route. */
export const CACHE_PURGE_PATH = '/cache/purge';

/**
 * POST /cache/purge with a JSON body `{"url": "/path?q"}`, `{"prefix": "/images/"}` or
 * `{"all": true}`: removes the stored responses it selects (on every worker) and answers
 * `{"purged": n}`. State-changing, so signed (see governor/admin-auth.ts); a malformed body gets
 * 400 GOV_ERR_ADMIN_BAD_REQUEST naming what was expected.
 */
export function cachePurgeRoute(proxy: Required<Pick<ProxyControl, 'purge'>>, signing: SignedRouteOptions): AdminRoute {
  return signedRoute(
    {
      method: 'POST',
      path: CACHE_PURGE_PATH,
      async handler(_req, res, _url, body) {
        let selector;
        try {
          selector = checkedPurge(parseJsonBody(body));
        } catch (err) {
          if (isGovError(err, 'GOV_ERR_PROXY_BAD_REQUEST')) throw new GovError('GOV_ERR_ADMIN_BAD_REQUEST', err.message, err.details);
          throw err;
        }
        sendJson(res, 200, await proxy.purge(selector));
      },
    },
    signing,
  );
}
