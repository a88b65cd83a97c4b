// Puts operations on an Express router. Everything around a handler happens here, once, in this
// order: authentication (API key or session cookie), rate limit, access (signed in, MFA done,
// member of the path's workspace with the operation's permission, workspace MFA policy), CSRF
// for cookie sessions, validation of path, query and body against the operation's zod schemas,
// the handler, the audit entry, and one error shape (problem+json).
import { parse as parseCookies } from 'cookie';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { z } from 'zod';
import { writeAudit, type AuditActor } from '../accounts/audit.js';
import { allows, type Grant } from '../accounts/permissions.js';
import { hasAnyUser } from '../accounts/sign-in.js';
import { findMembership, findUser, touchSession, useApiKey } from '../accounts/store.js';
import { safeEqual } from '../accounts/tokens.js';
import type { App } from '../app.js';
import { findWorkspace } from '../store/repos.js';
import { isUuid } from '../store/values.js';
import { errorSummary } from '../util/error-summary.js';
import type { Actor, Operation, OperationContext } from './operation.js';
import { Reply } from './operation.js';
import { ApiProblem, fieldErrorsOf, forbidden, invalid, notFound, sendProblem, unauthenticated } from './problem.js';
import type { RateLimits } from './rate-limit.js';
import { problemOfServiceError } from './service-errors.js';
import { sessionCookieName } from './session-cookie.js';

const CSRF_HEADER = 'x-csrf-token';

/** `/workspaces/{workspaceId}` → `/workspaces/:workspaceId`. */
const expressPath = (path: string) => path.replace(/\{(\w+)\}/g, ':$1');

async function authenticate(app: App, req: Request): Promise<Actor | null> {
  const authorization = req.headers.authorization;
  if (authorization) {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization);
    if (!m) throw unauthenticated('the Authorization header must be "Bearer <API key>"');
    const key = await useApiKey(app.db, m[1]!);
    if (!key) throw unauthenticated('this API key is unknown or revoked');
    return { type: 'api_key', key };
  }
  const cookie = parseCookies(req.headers.cookie ?? '')[sessionCookieName(app.config)];
  if (!cookie) return null;
  const session = await touchSession(app.db, cookie);
  if (!session) return null;
  const user = await findUser(app.db, session.user_id);
  return user ? { type: 'user', user, session, cookie } : null;
}

function auditActorOf(actor: Actor | null): AuditActor {
  if (!actor) return { type: 'anonymous', id: null, label: null };
  if (actor.type === 'user') return { type: 'user', id: actor.user.id, label: actor.user.email };
  return { type: 'api_key', id: actor.key.id, label: `${actor.key.name} (…${actor.key.last4})` };
}

const isPendingMfa = (actor: Actor) => actor.type === 'user' && !actor.session.mfa_verified;

/** The caller's grant in a workspace, or a 404 that reveals nothing of a workspace they are not in. */
async function grantIn(app: App, actor: Actor, workspaceId: string): Promise<Grant> {
  const none = notFound(`workspace "${workspaceId}"`);
  if (!isUuid(workspaceId)) throw none;
  if (actor.type === 'api_key') {
    if (actor.key.workspace_id !== workspaceId) throw none;
    return { role: actor.key.role, canReadAnswers: actor.key.can_read_answers };
  }
  const membership = await findMembership(app.db, actor.user.id, workspaceId);
  if (!membership) throw none;
  return { role: membership.role, canReadAnswers: membership.can_read_answers };
}

async function enforceWorkspaceMfa(app: App, actor: Actor, workspaceId: string): Promise<void> {
  if (actor.type !== 'user' || actor.user.totp_enabled_at) return;
  const ws = await findWorkspace(app.db, workspaceId);
  if (ws?.require_mfa) throw forbidden('this workspace requires multi-factor authentication: enrol a TOTP app first (POST /api/v1/me/mfa/totp)');
}

function parsePart<T extends z.ZodType>(schema: T | undefined, value: unknown, where: string): z.infer<T> | Record<string, never> {
  if (!schema) return {};
  const r = schema.safeParse(value);
  if (!r.success) throw invalid(fieldErrorsOf(where, r.error));
  return r.data;
}

export interface MountOptions {
  rateLimits: RateLimits;
}

export function mountOperations(app: App, router: Router, operations: Operation[], opts: MountOptions): void {
  const json = express.json({ limit: '1mb' });
  // Until the first owner exists nothing but owner set-up answers; once one does, it always will.
  let ownerExists = false;
  for (const op of operations) {
    const handle = async (req: Request, res: Response) => {
      if (!op.beforeOwner && !ownerExists && !(ownerExists = await hasAnyUser(app.db)))
        throw new ApiProblem(
          503,
          'Not set up',
          'set up the owner first: open the owner-setup link the server printed at start, or run: leadrelay users create-owner',
        );
      const ip = req.ip ?? null;
      const userAgent = req.get('user-agent') ?? null;
      const actor = await authenticate(app, req);
      const subject = actor ? (actor.type === 'api_key' ? `key:${actor.key.id}` : `user:${actor.user.id}`) : `ip:${ip ?? 'unknown'}`;
      await opts.rateLimits.consume(subject, res);
      if (op.rateLimit === 'sign-in' && ip) await opts.rateLimits.checkSignInIp(ip);

      const access = op.access;
      let grant: Grant | null = null;
      const workspaceId = String(req.params.workspaceId ?? '');
      if (access.kind !== 'public') {
        if (!actor) throw unauthenticated();
        const pendingAllowed = access.kind === 'user' && access.allowPendingMfa;
        if (isPendingMfa(actor) && !pendingAllowed) throw unauthenticated('finish signing in: send your TOTP code to POST /api/v1/auth/mfa');
        if ((access.kind === 'user' || access.kind === 'operator') && actor.type !== 'user')
          throw forbidden('this operation is for a signed-in person, not an API key');
        if (access.kind === 'operator' && actor.type === 'user' && !actor.user.is_operator)
          throw forbidden("this operation is for the installation's operators");
        if (access.kind === 'workspace') {
          grant = await grantIn(app, actor, workspaceId);
          await enforceWorkspaceMfa(app, actor, workspaceId);
          if (!allows(grant, access.permission)) throw forbidden(`your role (${grant.role}) does not include ${access.permission}`);
        }
      }
      // A cookie rides along on any request the browser makes, so a change needs the CSRF token too.
      if (actor?.type === 'user' && req.method !== 'GET' && req.method !== 'HEAD') {
        const sent = req.get(CSRF_HEADER);
        if (!sent || !safeEqual(sent, actor.session.csrf_token))
          throw forbidden(`missing or wrong ${CSRF_HEADER} header (read it from GET /api/v1/auth/session)`);
      }

      const params = parsePart(op.params, req.params, 'path');
      const query = parsePart(op.query, req.query, 'query');
      if (op.body && req.body === undefined && req.method !== 'GET') {
        if (req.headers['content-length'] && !req.is('application/json'))
          throw new ApiProblem(415, 'Unsupported media type', 'send the body as application/json');
      }
      const body = parsePart(op.body, req.body ?? {}, 'body');

      const ctx: OperationContext<unknown, unknown, unknown> = {
        app,
        req,
        res,
        actor,
        workspaceId,
        grant,
        params,
        query,
        body,
        ip,
        userAgent,
        audit: {},
        rateLimits: opts.rateLimits,
        recordAuditNow: async () => {
          await auditCall(app, op, ctx);
          isAudited = true;
        },
      };
      let isAudited = false;
      const mode = op.audit ?? (op.method === 'get' ? 'none' : 'change');
      let result: unknown;
      try {
        result = await op.handler(ctx as never);
      } catch (err) {
        if (ctx.audit.onFailure && err instanceof ApiProblem) await auditCall(app, op, ctx, { outcome: 'refused', status: err.status });
        throw err;
      }
      if (mode !== 'none' && !isAudited) await auditCall(app, op, ctx);

      const reply = result instanceof Reply ? result : new Reply(op.response.status, result);
      for (const [k, v] of Object.entries(reply.headers)) res.setHeader(k, v);
      if (reply.status === 204 || reply.body === undefined) res.status(reply.status).end();
      else res.status(reply.status).json(reply.body);
    };
    router[op.method](expressPath(op.path), json, (req: Request, res: Response, next: NextFunction) => {
      handle(req, res).catch(next);
    });
  }
}

async function auditCall(app: App, op: Operation, ctx: OperationContext<unknown, unknown, unknown>, extra?: Record<string, unknown>): Promise<void> {
  const params = ctx.params as Record<string, string>;
  const lastParam = Object.entries(params)
    .filter(([k]) => k !== 'workspaceId')
    .pop();
  const target = ctx.audit.target ?? (lastParam ? { type: lastParam[0].replace(/Id$/, ''), id: lastParam[1] } : undefined);
  await writeAudit(app.db, {
    workspaceId: ctx.audit.workspaceId ?? (ctx.workspaceId || null),
    actor: ctx.audit.actor ?? auditActorOf(ctx.actor),
    action: ctx.audit.action ?? op.operationId,
    target,
    ip: ctx.ip,
    userAgent: ctx.userAgent,
    details: ctx.audit.details || extra ? { ...ctx.audit.details, ...extra } : undefined,
  });
}

/** The API's last handlers: unknown paths and every error, as problem+json. */
export function problemHandlers(app: App) {
  return [
    (req: Request, res: Response) => sendProblem(res, notFound(`${req.method} ${req.path}`)),
    (err: unknown, req: Request, res: Response, _next: NextFunction) => {
      const problem = err instanceof ApiProblem ? err : problemOfServiceError(err);
      if (problem) return sendProblem(res, problem, req.originalUrl.split('?')[0]);
      const status = (err as { status?: number }).status;
      if (status === 413) return sendProblem(res, new ApiProblem(413, 'Body too large', 'the body must be at most 1 MB'));
      if (status === 400 && (err as { type?: string }).type === 'entity.parse.failed')
        return sendProblem(res, new ApiProblem(400, 'Bad request', 'the body is not valid JSON', [{ field: 'body', message: 'not valid JSON' }]));
      app.logger.error({ err: errorSummary(err), path: req.path }, 'API request failed');
      sendProblem(res, new ApiProblem(500, 'Internal error', 'the request failed; the server log has the details'));
    },
  ];
}
