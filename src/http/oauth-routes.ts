// The OAuth connect flow: how a real customer connects a CRM whose connector declares `oauth`
// in its manifest (connectors/types.ts ConnectorOAuth).
//
//   GET /oauth/:type/start?workspace=W[&destination=D][&name=N][&login_url=U]&expires=T&sig=S
//       a connect link made by `leadrelay destinations connect` (signed: see oauth-state.ts)
//       → 302 to the CRM's consent page, with a signed, expiring `state`
//   GET /oauth/:type/callback?code=…&state=…   (or error=access_denied&error_description=…)
//       → the code is exchanged for tokens, then either a new destination is created with
//         them (encrypted), or the destination the state names gets them, is re-activated,
//         and its parked deliveries resume, oldest first.
//
// Every answer is a small HTML page a marketer can read: what happened and the destination
// id, never a token. Nothing is stored until the CRM has accepted the code.
import express, { type Request, type Response, type Router } from 'express';
import type { App } from '../app.js';
import { isConnectorError } from '../../connectors/types.js';
import { connectorSettings, encryptCredentials } from '../pipeline/connector-context.js';
import { resumeDestination } from '../pipeline/replay.js';
import * as repo from '../store/repos.js';
import type { Db } from '../store/db.js';
import type { Destination } from '../store/schema.js';
import { CONNECT_LINK_TTL_MS, OAUTH_STATE_TTL_MS, computeCodeChallenge, createOAuthStateSigner, type OAuthConnectRequest } from './oauth-state.js';
import { claimOneTimeTokens, isOneTimeTokenUsed } from '../store/one-time-tokens.js';
import {
  buildRedirectUri,
  findConnectTargetProblem,
  findMissingOAuthSettings,
  findOAuthConnector,
  listOAuthConnectors,
  listOAuthTypes,
  MAX_NAME_CHARS,
  settingsOf,
  type OAuthConnector,
} from './oauth-providers.js';
export { buildConnectLink } from './oauth-providers.js';

// ---- pages ----------------------------------------------------------------------------------------

interface Page {
  title: string;
  paragraphs: string[];
  /** Label → value lines (ids, never secrets). */
  facts?: [string, string][];
  /** A link onwards (into the web app). */
  next?: { href: string; text: string };
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);

function sendPage(res: Response, status: number, page: Page): void {
  const facts = page.facts?.length ? `<dl>${page.facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd><code>${escapeHtml(v)}</code></dd>`).join('')}</dl>` : '';
  const next = page.next ? `<p><a href="${escapeHtml(page.next.href)}">${escapeHtml(page.next.text)}</a></p>` : '';
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
    `<title>${escapeHtml(page.title)} · LeadRelay</title>` +
    `<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#222}dt{font-weight:600}dd{margin:0 0 .5rem}code{background:#f3f3f3;padding:0 .2rem}</style>` +
    `</head><body><h1>${escapeHtml(page.title)}</h1>${page.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('')}${next}${facts}</body></html>`;
  // The callback URL holds the code: no caching, no Referer to anything, no framing, no scripts.
  res
    .status(status)
    .set({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'referrer-policy': 'no-referrer',
      'x-content-type-options': 'nosniff',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
    })
    .send(html);
}

/** The web app's wizard, at its CRM step with this destination chosen (src/web/pages/wizard). */
const wizardLink = (app: App, workspaceId: string, destinationId: string, text: string) => ({
  href: `${app.config.publicUrl}/w/${encodeURIComponent(workspaceId)}/wizard/crm?${new URLSearchParams({ destination: destinationId }).toString()}`,
  text,
});

const fail = (res: Response, status: number, title: string, ...paragraphs: string[]) => sendPage(res, status, { title, paragraphs });

/** One query parameter as a string (the first when repeated); undefined when absent or empty. */
function readQueryParam(req: Request, name: string): string | undefined {
  const value = new URL(req.originalUrl, 'http://local').searchParams.get(name);
  return value === null || value === '' ? undefined : value;
}

/** The used-token key of a connect link (its signature identifies it). */
const linkToken = (signature: string) => `oauth-link:${signature}`;

const AGAIN = 'Ask the person who manages LeadRelay for a new connect link (leadrelay destinations connect) and open it again.';

function describeStateFailure(failure: string): string {
  switch (failure) {
    case 'expired':
      return 'This sign-in took too long and its link expired.';
    case 'wrong_type':
      return 'This answer belongs to a different CRM than the address it arrived at.';
    default:
      return 'The state parameter is missing, altered or was not made by this LeadRelay.';
  }
}

// ---- the router -----------------------------------------------------------------------------------

export interface OAuthRouterOptions {
  /** HMAC key of states and connect links: `app.keyRing.deriveKey(OAUTH_STATE_KEY_PURPOSE)`. */
  stateSecret: Buffer;
  /** The clock (tests). Default Date.now. */
  now?: () => number;
}

export function createOAuthRouter(app: App, options: OAuthRouterOptions): Router {
  const signer = createOAuthStateSigner(options.stateSecret);
  const now = options.now ?? (() => Date.now());
  const router = express.Router();

  const unknownCrm = (res: Response, type: string) =>
    fail(res, 404, 'Unknown CRM', `LeadRelay connects ${listOAuthTypes().join(', ')} by OAuth, not "${type.slice(0, 40)}".`);

  router.get('/oauth/:type/start', async (req, res) => {
    const type = String(req.params.type);
    const connector = findOAuthConnector(type);
    if (!connector) return unknownCrm(res, type);
    const { label, oauth } = connector;
    const missing = findMissingOAuthSettings(app.config, connector);
    if (missing) return fail(res, 400, `${label} is not set up`, missing);

    const workspaceId = readQueryParam(req, 'workspace');
    if (!workspaceId) return fail(res, 400, 'Not a connect link', 'The workspace parameter is missing.', AGAIN);
    const request: OAuthConnectRequest = {
      workspaceId,
      type,
      destinationId: readQueryParam(req, 'destination'),
      name: readQueryParam(req, 'name'),
      loginUrl: readQueryParam(req, 'login_url'),
    };
    const link = signer.verifyConnectLink(request, { expires: readQueryParam(req, 'expires'), sig: readQueryParam(req, 'sig') }, now());
    if (!link.ok) {
      if (link.failure === 'expired') return fail(res, 400, 'This connect link expired', AGAIN);
      app.logger.warn({ type, failure: link.failure }, 'OAuth start refused: not a valid connect link');
      return fail(res, 403, 'Not a valid connect link', 'Only links made by LeadRelay can connect a CRM, and this one is unsigned or was changed.', AGAIN);
    }
    const linkSignature = String(readQueryParam(req, 'sig'));
    // A link connects once: replayed, it could attach someone else's CRM account to this destination.
    if (await isOneTimeTokenUsed(app.db, linkToken(linkSignature)))
      return fail(res, 400, 'This connect link was already used', 'Each connect link connects a CRM once. Nothing was changed.', AGAIN);
    if (request.name !== undefined && request.name.length > MAX_NAME_CHARS)
      return fail(res, 400, 'Name too long', `The destination name may have at most ${MAX_NAME_CHARS} characters.`);
    if (request.loginUrl !== undefined) {
      if (!oauth.loginUrl) {
        const takers = listOAuthConnectors()
          .filter((c) => c.oauth.loginUrl !== undefined)
          .map((c) => c.label);
        return fail(res, 400, 'Unexpected login URL', `login_url applies only to ${takers.join(', ') || 'no CRM'}, not ${label}.`);
      }
      const login = oauth.loginUrl.parse(request.loginUrl, settingsOf(app.config, connector));
      if (!login.ok) return fail(res, 400, `Bad ${label} login URL`, login.message);
      request.loginUrl = login.loginUrl;
    }
    try {
      const problem = await findConnectTargetProblem(app.db, request);
      if (problem) return fail(res, 400, 'Cannot connect', `${problem}.`, AGAIN);
      const { state, payload } = signer.createState(request, now(), linkSignature);
      const location = await oauth.authorizeUrl({
        settings: connectorSettings(app, type),
        redirectUri: buildRedirectUri(app.config.publicUrl, type),
        state,
        loginUrl: request.loginUrl,
        // The verifier is derived from the state, so nothing is stored between start and callback.
        codeChallenge: oauth.pkce ? computeCodeChallenge(signer.deriveCodeVerifier(payload.nonce)) : undefined,
      });
      res.set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' }).redirect(302, location);
    } catch (err) {
      app.logger.error({ type, err: summarize(err) }, 'OAuth start failed');
      fail(res, 500, 'Something went wrong', `LeadRelay could not start the ${label} sign-in. Try again in a minute.`);
    }
  });

  router.get('/oauth/:type/callback', async (req, res) => {
    const type = String(req.params.type);
    const connector = findOAuthConnector(type);
    if (!connector) return unknownCrm(res, type);
    const { label, oauth } = connector;

    const stateParam = readQueryParam(req, 'state');
    const check = stateParam === undefined ? ({ ok: false, failure: 'malformed' } as const) : signer.readState(stateParam, type, now());
    if (!check.ok) {
      app.logger.warn({ type, failure: check.failure }, 'OAuth callback refused: bad state');
      return fail(res, 400, `${label} was not connected`, describeStateFailure(check.failure), 'Nothing was changed.', AGAIN);
    }
    const payload = check.payload;

    const crmError = readQueryParam(req, 'error');
    if (crmError !== undefined) {
      app.logger.info(
        { type, workspaceId: payload.workspaceId, destinationId: payload.destinationId, crmError: crmError.slice(0, 64) },
        'OAuth consent not given',
      );
      const description = readQueryParam(req, 'error_description');
      const first =
        crmError === 'access_denied'
          ? `Access was not allowed in ${label}, so nothing was connected.`
          : `${label} answered "${crmError.slice(0, 64)}"${description ? `: ${description.slice(0, 300)}` : ''}. Nothing was connected.`;
      return fail(res, 400, `${label} was not connected`, first, 'To try again, open the connect link again and choose Allow.');
    }
    const code = readQueryParam(req, 'code');
    if (code === undefined) return fail(res, 400, `${label} was not connected`, `${label} sent no authorization code back. Nothing was changed.`, AGAIN);

    const request: OAuthConnectRequest = {
      workspaceId: payload.workspaceId,
      type,
      destinationId: payload.destinationId,
      name: payload.name,
      loginUrl: payload.loginUrl,
    };
    try {
      // The state, and the link it came from, work once: a replayed callback (the same state with
      // another code) must not connect a second account or make a second destination.
      const claimed = await claimOneTimeTokens(app.db, [
        { token: `oauth-state:${payload.nonce}`, expiresAt: new Date(payload.exp * 1000) },
        ...(payload.link ? [{ token: linkToken(payload.link), expiresAt: new Date(now() + CONNECT_LINK_TTL_MS + OAUTH_STATE_TTL_MS) }] : []),
      ]);
      if (!claimed) {
        app.logger.warn(
          { type, workspaceId: payload.workspaceId, destinationId: payload.destinationId },
          'OAuth callback refused: state or connect link already used',
        );
        return fail(
          res,
          400,
          `${label} was not connected`,
          'This sign-in was already used: a connect link and its sign-in work once.',
          'Nothing was changed.',
          AGAIN,
        );
      }
      // Checked again: the workspace or destination may have gone since the link was opened.
      const problem = await findConnectTargetProblem(app.db, request);
      if (problem) return fail(res, 400, `${label} was not connected`, `${problem}.`, AGAIN);

      let credentials: Record<string, unknown>;
      try {
        const callbackParameters: Record<string, string> = {};
        for (const name of oauth.callbackParameters ?? []) {
          const value = readQueryParam(req, name);
          if (value !== undefined) callbackParameters[name] = value;
        }
        credentials = await oauth.exchangeCode({
          settings: connectorSettings(app, type),
          code,
          redirectUri: buildRedirectUri(app.config.publicUrl, type),
          loginUrl: payload.loginUrl,
          codeVerifier: oauth.pkce ? signer.deriveCodeVerifier(payload.nonce) : undefined,
          callbackParameters,
          now: Date.now(),
        });
      } catch (err) {
        const reason = isConnectorError(err) ? err.reason : 'unexpected_error';
        app.logger.warn({ type, workspaceId: payload.workspaceId, destinationId: payload.destinationId, reason }, 'OAuth code exchange failed');
        if (isConnectorError(err) && err.kind === 'auth') {
          return sendPage(res, 400, {
            title: `${label} was not connected`,
            paragraphs: [
              `${label} refused the authorization code${err.crmMessage ? ` ("${err.crmMessage.slice(0, 300)}")` : ''}. A code works once and only for a few minutes, so a reloaded or late page gets this answer.`,
              'Nothing was changed.',
              AGAIN,
            ],
            facts: [['reason', reason]],
          });
        }
        return sendPage(res, 502, {
          title: `${label} was not connected`,
          paragraphs: [`LeadRelay could not get tokens from ${label} just now. Nothing was changed; open the connect link again in a minute.`],
          facts: [['reason', reason]],
        });
      }

      const parsed = connector.credentialsSchema.safeParse(credentials);
      if (!parsed.success) {
        app.logger.error({ type, issues: parsed.error.issues.map((i) => i.path.join('.')) }, 'OAuth credentials do not fit the connector');
        return fail(res, 502, `${label} was not connected`, `${label} answered with tokens LeadRelay cannot use. Nothing was changed.`);
      }
      const creds = parsed.data as Record<string, unknown>;

      if (payload.destinationId !== undefined) {
        const resumed = await reauthoriseDestination(app, payload.destinationId, creds, connector);
        app.logger.info(
          { type, workspaceId: payload.workspaceId, destinationId: payload.destinationId, resumed: resumed ?? 'later' },
          'destination re-authorised by OAuth',
        );
        return sendPage(res, 200, {
          title: `${label} reconnected`,
          paragraphs: [
            'The destination has new credentials and is active again.',
            resumed === undefined
              ? 'Its waiting leads will be sent again shortly, oldest first.'
              : resumed === 0
                ? 'No leads were waiting for it.'
                : `${resumed} waiting lead${resumed === 1 ? '' : 's'} ${resumed === 1 ? 'is' : 'are'} being sent now, oldest first.`,
            'You can close this page.',
          ],
          next: wizardLink(app, payload.workspaceId, payload.destinationId, 'Back to LeadRelay'),
          facts: [
            ['destination', payload.destinationId],
            ['workspace', payload.workspaceId],
          ],
        });
      }

      // A destination connected through a login host of its own refreshes its tokens there too.
      const config = connector.configSchema.safeParse(payload.loginUrl !== undefined && oauth.loginUrl ? { [oauth.loginUrl.configKey]: payload.loginUrl } : {});
      if (!config.success) return fail(res, 400, `${label} was not connected`, `The destination settings are not valid for ${label}. Nothing was changed.`);
      const dest = await createOAuthDestination(app.db, app, {
        workspaceId: payload.workspaceId,
        type,
        name: payload.name ?? oauth.defaultName(creds),
        config: config.data as Record<string, unknown>,
        credentials: creds,
      });
      app.logger.info({ type, workspaceId: payload.workspaceId, destinationId: dest.id }, 'destination connected by OAuth');
      return sendPage(res, 200, {
        title: `${label} connected`,
        paragraphs: [
          `LeadRelay can now send leads to ${label} as "${dest.name}".`,
          `Next, route a Facebook page to it in the setup wizard, or with: leadrelay routes add --workspace ${dest.workspace_id} --page-id <page id> --destination ${dest.id}`,
          'You can close this page.',
        ],
        next: wizardLink(app, dest.workspace_id, dest.id, 'Continue in the LeadRelay setup wizard'),
        facts: [
          ['destination', dest.id],
          ['workspace', dest.workspace_id],
        ],
      });
    } catch (err) {
      app.logger.error({ type, err: summarize(err) }, 'OAuth callback failed');
      return fail(
        res,
        500,
        'Something went wrong',
        `LeadRelay could not finish connecting ${label}. Nothing may have been saved; open the connect link again.`,
      );
    }
  });

  return router;
}

/** Creates the destination and stores its credentials, encrypted and bound to its id, in one transaction. */
async function createOAuthDestination(
  db: Db,
  app: App,
  d: { workspaceId: string; type: string; name: string; config: Record<string, unknown>; credentials: Record<string, unknown> },
): Promise<Destination> {
  return db.transaction().execute(async (trx) => {
    const dest = await repo.createDestination(trx, { workspaceId: d.workspaceId, type: d.type, name: d.name, config: d.config, credentialsEnvelope: null });
    const envelope = encryptCredentials(app, dest.id, d.credentials);
    await repo.updateDestinationCredentials(trx, dest.id, envelope, false);
    return { ...dest, credentials_envelope: envelope };
  });
}

/**
 * New credentials, active again, no rate-limit wait, then the parked deliveries re-queued oldest
 * first. Returns how many resumed, or undefined when queueing failed: the rows are already
 * pending again, so the outbox sweep sends them.
 */
async function reauthoriseDestination(
  app: App,
  destinationId: string,
  credentials: Record<string, unknown>,
  connector: OAuthConnector,
): Promise<number | undefined> {
  await app.db.transaction().execute(async (trx) => {
    await repo.updateDestinationCredentials(trx, destinationId, encryptCredentials(app, destinationId, credentials), true);
    await repo.setDestinationRateLimit(trx, destinationId, null);
  });
  await connector.oauth.forgetCaches?.(app.connectorMemories.of(connector.id, destinationId)).catch(() => undefined);
  try {
    return await resumeDestination(app, destinationId);
  } catch (err) {
    app.logger.warn({ destinationId, err: summarize(err) }, 'could not queue resumed deliveries; the outbox sweep will');
    return undefined;
  }
}

/** Name and code of an error: messages may quote a CRM's body, so they stay out of logs. */
function summarize(err: unknown): { name?: string; code?: string; reason?: string } {
  const e = err as { name?: unknown; code?: unknown; reason?: unknown } | null;
  return {
    ...(typeof e?.name === 'string' ? { name: e.name } : {}),
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    ...(typeof e?.reason === 'string' ? { reason: e.reason } : {}),
  };
}
