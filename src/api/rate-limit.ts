// Rate limits, counted in PostgreSQL by rate-limiter-flexible so that every server process shares
// them (table rate_limits, migration 0006). Answers carry the IETF RateLimit headers
// (draft-ietf-httpapi-ratelimit-headers-07: `RateLimit-Policy` and `RateLimit`), and a refusal
// is a 429 problem with Retry-After.
import type { Response } from 'express';
import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { App } from '../app.js';
import { ApiProblem } from './problem.js';

export interface RateLimits {
  /** Counts one request of `subject` (`key:<id>`, `user:<id>`, `ip:<addr>`); throws a 429 problem when over. */
  consume(subject: string, res: Response): Promise<void>;
  /** Whether sign-ins from this IP are blocked for now (too many failures); throws a 429 problem when so. */
  checkSignInIp(ip: string): Promise<void>;
  /** Counts one failed sign-in from this IP. */
  failSignInIp(ip: string): Promise<void>;
}

const SIGN_IN_WINDOW_S = 15 * 60;

export function createRateLimits(app: App): RateLimits {
  const common = { storeClient: app.dbh.pool, storeType: 'pool', tableName: 'rate_limits', tableCreated: true, clearExpiredByTimeout: false };
  const perMinute = app.config.api.rateLimitPerMinute;
  const api = new RateLimiterPostgres({ ...common, keyPrefix: 'api', points: perMinute, duration: 60 });
  const signInIp = new RateLimiterPostgres({ ...common, keyPrefix: 'signin-ip', points: app.config.api.signInIpMaxFailures, duration: SIGN_IN_WINDOW_S });

  const tooMany = (r: RateLimiterRes, what: string) => {
    const retryAfter = Math.max(1, Math.ceil(r.msBeforeNext / 1000));
    return new ApiProblem(429, 'Too many requests', `${what}; try again in ${retryAfter} s`, undefined, { 'Retry-After': String(retryAfter) });
  };

  return {
    async consume(subject, res) {
      try {
        const r = await api.consume(subject);
        res.setHeader('RateLimit-Policy', `${perMinute};w=60`);
        res.setHeader('RateLimit', `limit=${perMinute}, remaining=${r.remainingPoints}, reset=${Math.ceil(r.msBeforeNext / 1000)}`);
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        res.setHeader('RateLimit-Policy', `${perMinute};w=60`);
        res.setHeader('RateLimit', `limit=${perMinute}, remaining=0, reset=${Math.ceil(err.msBeforeNext / 1000)}`);
        throw tooMany(err, `more than ${perMinute} requests a minute`);
      }
    },
    async checkSignInIp(ip) {
      const r = await signInIp.get(ip);
      if (r && r.consumedPoints >= app.config.api.signInIpMaxFailures) throw tooMany(r, 'too many failed sign-ins from this address');
    },
    async failSignInIp(ip) {
      await signInIp.penalty(ip, 1);
    },
  };
}
