// Kept-alive HTTP(S) connections for calls to Graph and to a CRM's API (fixed, configured base
// URLs: no outbound guard, so one pool per scheme serves every host; Node pools sockets per host
// and port).
// Each new TCP (and TLS) connection costs a round trip or three and CPU on both sides; a burst of
// deliveries to one CRM reuses a few sockets instead of opening one per call.
import http from 'node:http';
import https from 'node:https';

/** Sockets open at once to one CRM host (per process): a slow CRM cannot take more. */
const MAX_SOCKETS_PER_HOST = 32;
/** Idle sockets kept per host: all of them until IDLE_SOCKET_MS (fewer made a busy process reopen connections). */
const MAX_FREE_SOCKETS_PER_HOST = MAX_SOCKETS_PER_HOST;
/**
 * How long an idle socket stays open: under the 5 s a Node server keeps an idle connection by
 * default, so we close first rather than reuse a socket the other side is closing.
 */
const IDLE_SOCKET_MS = 4000;
/**
 * The idle time before TCP keep-alive probes on a kept socket, as axios sets it on every
 * request's socket (60 s). Node's agent also sets it on each reuse, to its `keepAliveMsecs`
 * (1 s unless given), and a socket only calls the kernel when the value changes: with two values
 * the pair of them cost four `setsockopt` calls per request (about 16 per lead measured with
 * `strace -c`); with one, none after the socket's first request.
 */
export const KEEP_ALIVE_PROBE_MS = 60_000;

const options = {
  keepAlive: true,
  keepAliveMsecs: KEEP_ALIVE_PROBE_MS,
  maxSockets: MAX_SOCKETS_PER_HOST,
  maxFreeSockets: MAX_FREE_SOCKETS_PER_HOST,
  timeout: IDLE_SOCKET_MS,
  scheduling: 'lifo',
} as const;

export const crmHttpAgent = new http.Agent(options);
export const crmHttpsAgent = new https.Agent(options);

/** Kept-alive connections for Graph API calls: as the CRM pools, with no cap on sockets (fetch concurrency bounds them). */
const graphOptions = { ...options, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 } as const;
export const graphHttpAgent = new http.Agent(graphOptions);
export const graphHttpsAgent = new https.Agent(graphOptions);

/** The kept-alive agent for a URL's scheme. */
export function crmAgentFor(url: string): http.Agent {
  return url.startsWith('https:') ? crmHttpsAgent : crmHttpAgent;
}
