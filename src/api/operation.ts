// An API operation: its route, its schemas (which validate requests and generate the OpenAPI
// document), the permission it needs and its handler. src/api/mount.ts does everything around
// the handler the same way for every operation: rate limit, authentication, CSRF, MFA policy,
// authorisation, validation, audit, errors.
import type { Request, Response } from 'express';
import type { z } from 'zod';
import type { AuditActor } from '../accounts/audit.js';
import type { Grant, Permission } from '../accounts/permissions.js';
import type { App } from '../app.js';
import type { ApiKey, User, UserSession } from '../store/schema.js';
import type { RateLimits } from './rate-limit.js';

type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';

/**
 * Who may call an operation:
 * - `public`: anyone (sign-in, owner set-up, accepting an invitation, the OpenAPI document);
 * - `user`: a signed-in person (their profile, sessions, MFA); API keys are refused;
 * - `authenticated`: a signed-in person or an API key (e.g. listing the workspaces one may see);
 * - `workspace`: the path's `{workspaceId}`, with this permission there;
 * - `operator`: a signed-in person who runs the installation (the owner set up first, or one made
 *   with `users create-owner`): key rotation, every user.
 * Unless `allowPendingMfa` is set, a session still waiting for its TOTP code is refused.
 */
type Access =
  | { kind: 'public' }
  | { kind: 'user'; allowPendingMfa?: boolean }
  | { kind: 'authenticated' }
  | { kind: 'workspace'; permission: Permission }
  | { kind: 'operator' };

export type Actor = { type: 'user'; user: User; session: UserSession; cookie: string } | { type: 'api_key'; key: ApiKey };

/** What a handler may set about the audit entry its call writes. */
interface AuditNote {
  target?: { type: string; id: string | null };
  details?: Record<string, unknown>;
  /** Overrides the operation's action name (e.g. sign-in succeeded vs failed). */
  action?: string;
  /** The workspace the entry belongs to when the path has none (accepting an invitation). */
  workspaceId?: string;
  /** Who acted, when the call itself made them known (sign-in: the account signing in). */
  actor?: AuditActor;
  /** Also write the entry when the handler refuses the call (failed sign-ins, wrong codes). */
  onFailure?: boolean;
}

export interface OperationContext<P, Q, B> {
  app: App;
  req: Request;
  res: Response;
  /** Null only for public operations called without credentials. */
  actor: Actor | null;
  /** The path's workspace and the caller's grant there (workspace operations only). */
  workspaceId: string;
  grant: Grant | null;
  params: P;
  query: Q;
  body: B;
  ip: string | null;
  userAgent: string | null;
  audit: AuditNote;
  /** The shared limiter (sign-in operations count their failures per IP with it). */
  rateLimits: RateLimits;
  /**
   * Writes the call's audit entry now rather than after the handler: a handler that streams
   * data out calls it first, so the read is on record before its bytes leave (and before the
   * client can look). The entry is then not written again.
   */
  recordAuditNow(): Promise<void>;
}

interface OperationResponse {
  status: number;
  description: string;
  schema?: z.ZodType;
}

export interface Operation<P extends z.ZodObject = z.ZodObject, Q extends z.ZodObject = z.ZodObject, B extends z.ZodType = z.ZodType> {
  operationId: string;
  method: HttpMethod;
  /** OpenAPI form, under /api/v1: `/workspaces/{workspaceId}/pages`. */
  path: string;
  summary: string;
  description?: string;
  tag: string;
  access: Access;
  params?: P;
  query?: Q;
  body?: B;
  response: OperationResponse;
  /** Error statuses the operation may answer beyond the common ones (documented in OpenAPI). */
  errors?: number[];
  /**
   * The audit entry written after success: `change` (the default for anything but GET), `read`
   * (a GET that reveals lead answers or exports data), or `none`.
   */
  audit?: 'change' | 'read' | 'none';
  /** `sign-in`: also counted against the stricter sign-in limits per IP. */
  rateLimit?: 'sign-in';
  /** Answers before the first owner is set up (owner set-up itself); every other operation is refused until then. */
  beforeOwner?: boolean;
  handler(ctx: OperationContext<z.infer<P>, z.infer<Q>, z.infer<B>>): Promise<unknown>;
}

/** Keeps each operation's schema types flowing into its handler. */
export function defineOperation<P extends z.ZodObject, Q extends z.ZodObject, B extends z.ZodType>(op: Operation<P, Q, B>): Operation<P, Q, B> {
  return op;
}

/** A handler's answer with a status other than the documented one (e.g. 202), or headers. */
export class Reply {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {}
}
