// The long-running roles: `start` (HTTP and workers), `serve` (HTTP) and `work` (workers).
// Shutdown: the first SIGTERM/SIGINT stops intake at once, lets in-flight work finish within
// SHUTDOWN_TIMEOUT_MS, then exits whatever state Redis or PostgreSQL are in (work cut short is
// picked up again from PostgreSQL rows); a second signal exits at once.
import { createApp } from '../app.js';
import { loadConfig } from '../config/env.js';
import { createMetrics } from '../util/metrics.js';
import { startHttpServer, startMetricsServer } from '../http/server.js';
import { startWorkers } from '../pipeline/workers.js';
import { abandonEmbeddedPostgres } from '../store/embedded-postgres.js';
import { createLogger } from '../util/logger.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOutageLog, type OutageLog } from '../util/outage-log.js';
import { listStartupGaps } from './startup-checklist.js';
import { createLink, linkUrl } from '../accounts/links.js';
import { hasAnyUser } from '../accounts/sign-in.js';
import type { App } from '../app.js';
import type { Logger } from '../util/logger.js';

/**
 * While nobody can sign in, the HTTP role issues a one-time owner-setup link. The link holds a
 * secret, so it goes to the operator's terminal only: a plain line on stderr, never into the
 * structured log (stdout), which names only where to look. Each start issues a new link (valid 24
 * hours); all of them stop working once an owner exists.
 */
async function announceOwnerSetup(app: App, logger: Logger): Promise<void> {
  if (await hasAnyUser(app.db)) return;
  const { token } = await createLink(app.db, { purpose: 'owner_setup' });
  logger.warn('no owner yet: open the one-time owner-setup link printed on stderr (not logged), or run: leadrelay users create-owner --email <you>');
  process.stderr.write(`\nSet up the first owner with this one-time link (valid 24 hours):\n  ${linkUrl(app.config.publicUrl, 'owner_setup', token)}\n\n`);
}

/** PostgreSQL is down, restarting, or not resolvable yet (a compose stack still starting). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', '57P01', '57P03']);
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && codes.has(e.code)) return true;
    if (e instanceof AggregateError && e.errors.some((x) => isDatabaseUnavailable(x))) return true;
  }
  return false;
}

/**
 * Starts the program once PostgreSQL answers: a server started while its database is down or
 * restarting waits (logging at a falling rate) instead of exiting, so no supervisor is needed
 * to bring delivery back. Other start-up errors still end the process.
 */
async function createAppOnceDatabaseAnswers<T>(create: () => Promise<T>, outages: OutageLog): Promise<T> {
  for (let waitMs = 500; ; waitMs = Math.min(waitMs * 2, 15_000)) {
    try {
      return await create();
    } catch (err) {
      if (!isDatabaseUnavailable(err)) throw err;
      outages.report('database', err);
      await sleep(waitMs);
    }
  }
}

export async function runRoles(roles: { http: boolean; work: boolean }): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  let shutdown: ((signal: string) => Promise<void>) | null = null;
  let signalsSeen = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signalsSeen++;
    if (signalsSeen > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      abandonEmbeddedPostgres();
      process.exit(130);
    }
    // A signal during start-up: nothing is running yet that needs draining.
    if (!shutdown) {
      logger.info({ signal }, 'stopped during start-up');
      abandonEmbeddedPostgres();
      process.exit(130);
    }
    void shutdown(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const outages = createOutageLog(logger);
  const app = await createAppOnceDatabaseAnswers(() => createApp(config, { logger, role: 'server' }), outages);
  const metrics = createMetrics();
  let http: Awaited<ReturnType<typeof startHttpServer>> | null = null;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> = null;
  let workers: ReturnType<typeof startWorkers> | null = null;
  try {
    http = roles.http ? await startHttpServer(app, metrics) : null;
    metricsServer = await startMetricsServer(app, metrics);
    workers = roles.work ? startWorkers(app, metrics, (source, err) => outages.report(source, err)) : null;
  } catch (err) {
    // E.g. the port is taken: close what was opened so the process exits (and a supervisor
    // restarts it) instead of idling on open connections.
    await http?.close();
    await metricsServer?.close();
    await app.close();
    throw err;
  }
  shutdown = async (signal: string) => {
    logger.info({ signal, deadlineMs: config.shutdownTimeoutMs }, 'shutting down: intake stopped, finishing in-flight work');
    const deadline = setTimeout(() => {
      logger.warn({ deadlineMs: config.shutdownTimeoutMs }, 'shutdown deadline passed: exiting now; unfinished work is taken up again from PostgreSQL');
      abandonEmbeddedPostgres();
      process.exit(1);
    }, config.shutdownTimeoutMs);
    try {
      await http?.close();
      await metricsServer?.close();
      await workers?.close();
      await app.close();
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'error while shutting down');
    }
    clearTimeout(deadline);
    logger.info('stopped');
    process.exit(0);
  };
  if (signalsSeen > 0) return void shutdown('signal during start-up');

  const queue = app.queues.backend.kind;
  if (http)
    logger.info(
      { port: http.port, database: app.dbh.kind, queue },
      `LeadRelay listening on port ${http.port}; Meta's callback URL: ${config.publicUrl}/webhooks/meta`,
    );
  else logger.info({ database: app.dbh.kind, queue }, 'LeadRelay workers running');
  if (http) {
    await announceOwnerSetup(app, logger);
    const gaps = listStartupGaps(config);
    if (gaps.length) logger.warn({ todo: gaps }, `before Meta can deliver leads here: ${gaps.length} thing(s) to do (see todo)`);
  }
}
