// Signed, expiring values for the OAuth connect flow, kept by nobody but the browser:
//
// - the OAuth `state` (RFC 6749 §10.12): which workspace, CRM and (when re-authorising) which
//   destination a callback belongs to. base64url(JSON) + "." + base64url(HMAC-SHA256). A
//   forged, altered, expired or other-CRM state is refused before the code is spent.
// - the connect link (`/oauth/:type/start?...&expires=&sig=`) the CLI prints: the start route
//   is on the same public server as Meta's webhooks and has no login of its own, so only a link
//   an operator made may start a flow. Without it, anyone who learnt a destination id could
//   re-authorise that destination with their own CRM account and receive its leads.
// - the PKCE code verifier (RFC 7636), derived from the state's nonce, so the flow stays
//   stateless on our side.
//
// Pure: the key and the clock come from the caller. The key is meant to be derived from the
// key ring's primary key for this purpose only (see OAUTH_STATE_KEY_PURPOSE).
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import { createStateSigner, isBase64Url, isSameBytes } from '../util/signed-state.js';

/** How long a state lives: the consent screen, then the redirect back. */
export const OAUTH_STATE_TTL_MS = 15 * 60_000;
/** How long a connect link works: long enough to send it to the marketer who owns the CRM login. */
export const CONNECT_LINK_TTL_MS = 24 * 60 * 60_000;
/** A state longer than this is refused unread (real ones are a few hundred characters). */
const MAX_STATE_CHARS = 4096;

const STATE_LABEL = 'leadrelay.oauth-state.v1';
const LINK_LABEL = 'leadrelay.oauth-connect-link.v1';
const VERIFIER_LABEL = 'leadrelay.oauth-pkce-verifier.v1';

/** What a connect flow is for: a new destination, or new credentials for an existing one. */
export interface OAuthConnectRequest {
  workspaceId: string;
  type: string;
  /** Set when re-authorising an existing destination. */
  destinationId?: string;
  /** Display name of a new destination. */
  name?: string;
  /** The login host, for a CRM whose manifest declares `oauth.loginUrl` (signed in at a host of the account's). */
  loginUrl?: string;
}

const oauthStatePayloadSchema = z
  .object({
    v: z.literal(1),
    workspaceId: z.string().min(1),
    type: z.string().min(1),
    destinationId: z.string().min(1).optional(),
    name: z.string().optional(),
    loginUrl: z.string().optional(),
    /** Expiry, epoch seconds. */
    exp: z.number().int().positive(),
    nonce: z.string().min(16),
    /** The signature of the connect link the flow started from: the link is used up with the state. */
    link: z.string().min(1).optional(),
  })
  .strict();
type OAuthStatePayload = z.infer<typeof oauthStatePayloadSchema>;

export type OAuthStateFailure = 'malformed' | 'bad_signature' | 'expired' | 'wrong_type';
type OAuthStateCheck = { ok: true; payload: OAuthStatePayload } | { ok: false; failure: OAuthStateFailure };

/** The query parameters a connect link carries besides its request. */
interface ConnectLinkSignature {
  /** Expiry, epoch seconds. */
  expires: number;
  sig: string;
}

type ConnectLinkFailure = 'unsigned' | 'bad_signature' | 'expired';
type ConnectLinkCheck = { ok: true } | { ok: false; failure: ConnectLinkFailure };

export interface OAuthStateSigner {
  /** A fresh state for this request, valid for the state TTL from `nowMs`, and what it holds. */
  createState(request: OAuthConnectRequest, nowMs: number, linkSignature?: string): { state: string; payload: OAuthStatePayload };
  /** Checks signature, shape, expiry and that the state was made for `expectedType`. */
  readState(state: string, expectedType: string, nowMs: number): OAuthStateCheck;
  /** The PKCE verifier for a state's nonce (43 base64url characters, RFC 7636 §4.1). */
  deriveCodeVerifier(nonce: string): string;
  /** Signs a connect link for this request, valid for the link TTL from `nowMs`. */
  signConnectLink(request: OAuthConnectRequest, nowMs: number): ConnectLinkSignature;
  /** Checks a connect link's signature (over every request field) and expiry. */
  verifyConnectLink(request: OAuthConnectRequest, signature: { expires?: string | number; sig?: string }, nowMs: number): ConnectLinkCheck;
}

export interface OAuthStateSignerOptions {
  stateTtlMs?: number;
  connectLinkTtlMs?: number;
}

/** The PKCE S256 challenge of a verifier (RFC 7636 §4.2). */
export function computeCodeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

/** Throws when the secret is shorter than 32 bytes. */
export function createOAuthStateSigner(secret: Buffer, options: OAuthStateSignerOptions = {}): OAuthStateSigner {
  const signer = createStateSigner(secret, 'OAuth state key');
  const stateTtlMs = options.stateTtlMs ?? OAUTH_STATE_TTL_MS;
  const linkTtlMs = options.connectLinkTtlMs ?? CONNECT_LINK_TTL_MS;
  // Each label keeps one kind of signature from passing for another.
  const { mac } = signer;

  const linkData = (r: OAuthConnectRequest, expires: number): string =>
    JSON.stringify([r.type, r.workspaceId, r.destinationId ?? null, r.name ?? null, r.loginUrl ?? null, expires]);

  return {
    createState(request, nowMs, linkSignature) {
      const payload: OAuthStatePayload = {
        v: 1,
        workspaceId: request.workspaceId,
        type: request.type,
        ...(request.destinationId !== undefined ? { destinationId: request.destinationId } : {}),
        ...(request.name !== undefined ? { name: request.name } : {}),
        ...(request.loginUrl !== undefined ? { loginUrl: request.loginUrl } : {}),
        exp: Math.floor((nowMs + stateTtlMs) / 1000),
        nonce: randomBytes(16).toString('base64url'),
        ...(linkSignature !== undefined ? { link: linkSignature } : {}),
      };
      return { state: signer.sign(STATE_LABEL, payload), payload };
    },

    readState(state, expectedType, nowMs) {
      const read = signer.read(STATE_LABEL, state, oauthStatePayloadSchema, MAX_STATE_CHARS);
      if (!read.ok) return read;
      if (read.payload.exp * 1000 <= nowMs) return { ok: false, failure: 'expired' };
      if (read.payload.type !== expectedType) return { ok: false, failure: 'wrong_type' };
      return read;
    },

    deriveCodeVerifier(nonce) {
      return mac(VERIFIER_LABEL, nonce).toString('base64url');
    },

    signConnectLink(request, nowMs) {
      const expires = Math.floor((nowMs + linkTtlMs) / 1000);
      return { expires, sig: mac(LINK_LABEL, linkData(request, expires)).toString('base64url') };
    },

    verifyConnectLink(request, signature, nowMs) {
      const { sig } = signature;
      const expires = typeof signature.expires === 'number' ? signature.expires : Number(signature.expires);
      if (!sig || signature.expires === undefined || signature.expires === '') return { ok: false, failure: 'unsigned' };
      if (!Number.isSafeInteger(expires) || !isBase64Url(sig)) return { ok: false, failure: 'bad_signature' };
      if (!isSameBytes(Buffer.from(sig, 'base64url'), mac(LINK_LABEL, linkData(request, expires)))) return { ok: false, failure: 'bad_signature' };
      if (expires * 1000 <= nowMs) return { ok: false, failure: 'expired' };
      return { ok: true };
    },
  };
}
