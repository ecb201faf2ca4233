import http from 'node:http';
import https from 'node:https';

/** Node's Agent#addRequest: on the prototype (agent libraries override it), not in the typings. */
type AddRequest = (this: http.Agent, req: http.ClientRequest, options: unknown, ...legacy: unknown[]) => void;

/**
 * Request options that describe the HTTP message, not its connection: the agent never reads them
 * (the request itself has them; the agent's own `path: null` replaces `path` anyway).
 */
const MESSAGE_OPTIONS = new Set(['method', 'headers', 'agent', 'path']);

/** Agent options read once by the Agent's constructor into its own fields, and never again from `agent.options`. */
const CONSTRUCTOR_OPTIONS = ['maxSockets', 'maxFreeSockets', 'scheduling'] as const;

/** `options` without its undefined-valued keys and MESSAGE_OPTIONS: what opening and choosing a connection reads (a new object). */
export function connectionOptions(options: Record<string, unknown>): Record<string, unknown> {
  const kept: Record<string, unknown> = {};
  for (const key of Object.keys(options)) {
    const value = options[key];
    if (value !== undefined && !MESSAGE_OPTIONS.has(key)) kept[key] = value;
  }
  return kept;
}

/**
 * A keep-alive agent for the origin that hands Node fewer options to copy. For every request,
 * Node's addRequest copies the request's options and the agent's own `options` into one
 * null-prototype object, at about a thousand instructions per key (callgrind). http-proxy sets
 * about 17 request options (common.setupOutgoing), ten of them undefined for a plain http origin
 * (TLS material, socketPath, localAddress) and four of them about the message, not the
 * connection; the agent's own options also keep the three its constructor has already read.
 * Without those, the copy has 6 keys instead of 23. Node reads an undefined option as an absent
 * one, and the connection (net.connect, tls.connect, the pool's key) reads none of the others.
 */
export function leanAgent(secure: boolean, options: http.AgentOptions): http.Agent {
  const Base = secure ? https.Agent : http.Agent;
  const addRequest = (Base.prototype as unknown as { addRequest: AddRequest }).addRequest;
  class LeanAgent extends Base {
    addRequest(req: http.ClientRequest, requestOptions: unknown, ...legacy: unknown[]): void {
      const compact = typeof requestOptions === 'object' && requestOptions !== null ? connectionOptions(requestOptions as Record<string, unknown>) : requestOptions;
      addRequest.call(this, req, compact, ...legacy);
    }
  }
  const agent = new LeanAgent(options);
  const own = (agent as unknown as { options: Record<string, unknown> }).options;
  for (const key of CONSTRUCTOR_OPTIONS) delete own[key];
  return agent;
}
