// The guard every outbound call to a user-supplied URL goes through (the generic HTTPS
// destination today; any "custom URL" setting tomorrow). A marketer types the URL, so it is
// hostile input: it could point at the database, the cloud metadata service or an admin port
// on the private network (server-side request forgery).
//
// What it does:
// 1. Parses the URL; only https (http only when private destinations are allowed, i.e. on a
//    developer machine or a closed network); no user:password in the URL.
// 2. Resolves the host name to ALL its addresses and refuses the URL when ANY of them is not a
//    public unicast address (private, loopback, link-local, unique-local, CGNAT, multicast,
//    unspecified, documentation and other special ranges; IPv4-mapped IPv6 is judged as the
//    IPv4 address it carries). Checking every address matters: an attacker's DNS can answer a
//    public and a private address and let the OS pick.
// 3. Pins the connection to the address it checked (`createPinnedAgent`), so a second DNS
//    answer (DNS rebinding: public at check time, 127.0.0.1 at connect time) cannot swap it.
//    The URL keeps its host name, so TLS still verifies the certificate for that name.
//
// Expected outcomes are values (`GuardOutcome`); nothing here throws for a bad URL.
import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { KEEP_ALIVE_PROBE_MS } from './keep-alive-agents.js';

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/**
 * Resolves a host name to every address it has. This is the network edge of the guard: the
 * default uses the operating system's resolver; tests inject their own.
 */
export type ResolveHost = (hostname: string) => Promise<ResolvedAddress[]>;

/** `dns.lookup` with `all: true`: the same answer (hosts file included) a plain connect would use. */
const resolveHostWithDns: ResolveHost = async (hostname) => {
  const found = await dnsLookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export interface AddressVerdict {
  /** The address in canonical form (IPv4-mapped IPv6 shown as its IPv4 address). */
  address: string;
  /** ipaddr.js range name (`unicast`, `private`, `loopback`, `linkLocal`, ...) or `ipv4Compatible`. */
  range: string;
  /** True only for public unicast addresses. */
  isPublic: boolean;
}

/** Classifies one IP address; null when the text is not an IP address. */
export function classifyAddress(ip: string): AddressVerdict | null {
  const text = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  if (!ipaddr.isValid(text)) return null;
  // process() turns ::ffff:a.b.c.d into the IPv4 address, so ::ffff:127.0.0.1 is loopback.
  const parsed = ipaddr.process(text);
  let range: string = parsed.range();
  // ::a.b.c.d ("IPv4-compatible", RFC 4291 §2.5.5.1, deprecated) is not in ipaddr's table; some
  // stacks still route it to the IPv4 address, so treat it as special rather than public.
  if (parsed.kind() === 'ipv6' && range === 'unicast' && (parsed as ipaddr.IPv6).match(ipaddr.IPv6.parse('::'), 96)) {
    range = 'ipv4Compatible';
  }
  // Only plain public unicast is allowed; every named special range (private, loopback,
  // linkLocal, uniqueLocal, carrierGradeNat, multicast, unspecified, broadcast, reserved,
  // 6to4, teredo, rfc6052 NAT64, ...) is refused, since several of them can reach inside.
  return { address: parsed.toString(), range, isPublic: range === 'unicast' };
}

export interface OutboundPolicy {
  /** Allow private/loopback targets and plain http (LEADRELAY_ALLOW_PRIVATE_DESTINATIONS). */
  allowPrivateDestinations: boolean;
  /** Defaults to `resolveHostWithDns`. */
  resolveHost?: ResolveHost;
}

/** A URL that passed the guard, with the addresses the connection may use (all checked). */
export interface PinnedDestination {
  url: URL;
  /** The URL's host name without IPv6 brackets. */
  hostname: string;
  /** The first checked address (what a single-address connect uses). */
  address: string;
  family: 4 | 6;
  /** Every checked address, in resolver order; the first is `address`. */
  addresses: ResolvedAddress[];
}

type GuardRefusalReason = 'invalid_url' | 'scheme_refused' | 'credentials_in_url' | 'dns_lookup_failed' | 'private_address_refused';

export interface GuardRefusal {
  reason: GuardRefusalReason;
  /** Says what was wrong, for a person; names the host and address, never the path or query. */
  message: string;
  /** For `dns_lookup_failed`: the resolver's code (`ENOTFOUND`, `EAI_AGAIN`, ...). */
  networkCode?: string;
}

export type GuardOutcome = { isAllowed: true; destination: PinnedDestination } | { isAllowed: false; refusal: GuardRefusal };

function refuse(reason: GuardRefusalReason, message: string, networkCode?: string): GuardOutcome {
  return { isAllowed: false, refusal: { reason, message, ...(networkCode ? { networkCode } : {}) } };
}

/** Checks a user-supplied URL and picks the address to connect to. Never throws. */
export async function guardOutboundUrl(rawUrl: string, policy: OutboundPolicy): Promise<GuardOutcome> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return refuse('invalid_url', 'the destination URL is not a valid absolute URL');
  }
  const isHttps = url.protocol === 'https:';
  const isHttp = url.protocol === 'http:';
  if (!isHttps && !(isHttp && policy.allowPrivateDestinations)) {
    return refuse(
      'scheme_refused',
      isHttp
        ? 'the destination URL must use https (plain http is allowed only when private destinations are allowed)'
        : `the destination URL must use https, not ${url.protocol.replace(/:$/, '')}`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    return refuse('credentials_in_url', 'the destination URL must not contain a user name or password');
  }
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (hostname === '') return refuse('invalid_url', 'the destination URL has no host');

  let addresses: ResolvedAddress[];
  const literal = classifyAddress(hostname);
  if (literal) {
    addresses = [{ address: hostname, family: ipaddr.parse(hostname).kind() === 'ipv6' ? 6 : 4 }];
  } else {
    try {
      addresses = await (policy.resolveHost ?? resolveHostWithDns)(hostname);
    } catch (err) {
      const code = typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : 'EDNS';
      return refuse('dns_lookup_failed', `the host "${hostname}" could not be resolved (${code})`, code);
    }
    if (addresses.length === 0) {
      return refuse('dns_lookup_failed', `the host "${hostname}" has no addresses`, 'ENOTFOUND');
    }
  }

  if (!policy.allowPrivateDestinations) {
    for (const a of addresses) {
      const verdict = classifyAddress(a.address);
      if (!verdict?.isPublic) {
        return refuse(
          'private_address_refused',
          `the host "${hostname}" resolves to ${a.address} (${verdict?.range ?? 'not an IP address'}); ` +
            'private, loopback and other non-public addresses are refused unless LEADRELAY_ALLOW_PRIVATE_DESTINATIONS is set',
        );
      }
    }
  }
  const first = addresses[0];
  return { isAllowed: true, destination: { url, hostname, address: first.address, family: first.family, addresses } };
}

/**
 * An agent whose DNS step always answers the checked addresses, so the connection goes where the
 * guard looked. One agent per request, no keep-alive: a pooled socket must never be reused for
 * another destination.
 */
export function createPinnedAgent(destination: PinnedDestination): http.Agent {
  const agentOptions = { keepAlive: false, lookup: pinnedLookupFor(destination) };
  return destination.url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
}

/** A DNS step that answers only the destination's host name, with the addresses the guard checked. */
function pinnedLookupFor(destination: PinnedDestination): LookupFunction {
  return ((hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (hostname !== destination.hostname) {
      const err = Object.assign(new Error(`pinned agent asked to resolve an unexpected host`), { code: 'ENOTFOUND' });
      callback(err);
      return;
    }
    // Node (autoSelectFamily, on by default in Node 20) asks for `all: true` and wants a list;
    // every address in it was checked, so trying them in turn (e.g. ::1 then 127.0.0.1) is safe.
    if (options?.all)
      callback(
        null,
        destination.addresses.map((a) => ({ address: a.address, family: a.family })),
      );
    else callback(null, destination.address, destination.family);
  }) as unknown as LookupFunction;
}
/** Sockets one pinned destination may have open at once (a slow receiver cannot take more). */
const PINNED_MAX_SOCKETS = 16;
/**
 * Idle sockets kept per pinned destination: all of them (until PINNED_IDLE_SOCKET_MS). With 4, a
 * process sending at 1,000 leads/s closed and reopened a connection for most sends.
 */
const PINNED_MAX_FREE_SOCKETS = PINNED_MAX_SOCKETS;
/**
 * How long an idle kept-alive socket stays open: under the 5 s a Node server keeps an idle
 * connection by default (`server.keepAliveTimeout`), so we close first and never send a request
 * on a socket the other side is closing.
 */
const PINNED_IDLE_SOCKET_MS = 4000;
/** Pinned keep-alive agents kept (least recently used go, their sockets closed). */
const PINNED_AGENTS_KEPT = 256;
const pinnedAgents = new Map<string, http.Agent>();

/**
 * A keep-alive agent pinned like createPinnedAgent's, shared by the requests to one checked
 * destination: the same scheme, host name, port and the same checked addresses. A pooled socket
 * is only ever reused for the host name and addresses it was opened to (another DNS answer is
 * another agent), so the guard's check holds for it. At most PINNED_MAX_SOCKETS sockets per
 * destination; idle ones close after PINNED_IDLE_SOCKET_MS.
 */
export function sharedPinnedAgent(destination: PinnedDestination): http.Agent {
  const { url } = destination;
  const addresses = destination.addresses.map((a) => `${a.family}/${a.address}`).join(',');
  const key = `${url.protocol}//${destination.hostname}:${url.port}|${addresses}`;
  const found = pinnedAgents.get(key);
  if (found) {
    // Most recently used last, so eviction takes the one unused longest.
    pinnedAgents.delete(key);
    pinnedAgents.set(key, found);
    return found;
  }
  const agentOptions = {
    keepAlive: true,
    keepAliveMsecs: KEEP_ALIVE_PROBE_MS,
    maxSockets: PINNED_MAX_SOCKETS,
    maxFreeSockets: PINNED_MAX_FREE_SOCKETS,
    timeout: PINNED_IDLE_SOCKET_MS,
    scheduling: 'lifo' as const,
    lookup: pinnedLookupFor(destination),
  };
  const agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);
  pinnedAgents.set(key, agent);
  if (pinnedAgents.size > PINNED_AGENTS_KEPT) {
    const [oldestKey, oldest] = pinnedAgents.entries().next().value as [string, http.Agent];
    pinnedAgents.delete(oldestKey);
    oldest.destroy();
  }
  return agent;
}
