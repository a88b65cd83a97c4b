// The long-running roles: `start` (HTTP, and the workers in a supervised child process), `serve`
// (HTTP) and `work` (workers). Shutdown: the first SIGTERM/SIGINT stops intake at once, lets
// in-flight work finish within SHUTDOWN_TIMEOUT_MS (the worker child drains alongside), then exits
// whatever state Redis or PostgreSQL are in (work cut short is picked up again from PostgreSQL
// rows); a second signal exits at once.
import { createApp } from '../app.js';
import { loadConfig } from '../config/env.js';
import { createMetrics } from '../util/metrics.js';
import { startHttpServer, startMetricsServer } from '../http/server.js';
import type { RunningWorkers } from '../pipeline/workers.js';
import { abandonEmbeddedPostgres } from '../store/embedded-postgres.js';
import { createLogger } from '../util/logger.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { createOutageLog, type OutageLog } from '../util/outage-log.js';
import { listStartupGaps } from './startup-checklist.js';
import { createLink, linkUrl } from '../accounts/links.js';
import { hasAnyUser } from '../accounts/sign-in.js';
import type { App } from '../app.js';
import type { Logger } from '../util/logger.js';
import { startLoopWatchdog } from '../util/loop-watchdog.js';
import { attachToSupervisor, superviseWorkers, type WorkerSupervisor } from './worker-supervisor.js';

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

/** Which roles this process runs; `supervised`: it is the worker child of a `start` (see worker-supervisor.ts). */
export interface Roles {
  http: boolean;
  work: boolean;
  supervised?: boolean;
}

export async function runRoles(roles: Roles): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  const supervised = roles.supervised === true;
  // `start`: the workers run in a supervised child process, off the webhook receiver's event loop.
  const workersInChild = roles.http && roles.work && !config.workers.inProcess && !supervised;
  let shutdown: ((reason: string, deadlineMs?: number) => Promise<void>) | null = null;
  let stopping = false;
  let signalsSeen = 0;
  const stop = (reason: string, deadlineMs?: number) => {
    // A signal during start-up: nothing is running yet that needs draining.
    if (!shutdown) {
      logger.info({ reason }, 'stopped during start-up');
      abandonEmbeddedPostgres();
      process.exit(130);
    }
    if (stopping) return;
    stopping = true;
    void shutdown(reason, deadlineMs);
  };
  const onSignal = (signal: NodeJS.Signals) => {
    signalsSeen++;
    if (signalsSeen > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      abandonEmbeddedPostgres();
      process.exit(130);
    }
    stop(signal);
  };
  process.on('SIGTERM', onSignal);
  // A Ctrl-C in a terminal reaches the whole process group: the worker child waits for its
  // parent to tell it to stop, so that it drains once instead of taking the parent's forwarded
  // stop for a second signal.
  if (supervised) process.on('SIGINT', () => logger.debug('SIGINT: waiting for the supervising process to stop the workers'));
  else process.on('SIGINT', onSignal);
  const link = supervised ? attachToSupervisor({ stallMs: config.watchdog.stallMs, onShutdown: (reason, deadlineMs) => stop(reason, deadlineMs) }) : null;
  // A process running workers with no supervising parent: a stuck event loop kills it, so that
  // its own supervisor (Docker, systemd) starts it again.
  const loopWatchdog =
    roles.work && !workersInChild && !supervised
      ? startLoopWatchdog({
          stallMs: config.watchdog.stallMs,
          role: roles.http ? 'start' : 'work',
          onError: (err) => logger.error({ err: { message: err.message } }, 'the event-loop watchdog stopped; this process runs unwatched'),
        })
      : null;

  const outages = createOutageLog(logger);
  // The worker child joins the embedded PostgreSQL its parent owns (as a CLI command would).
  const runsWorkersHere = roles.work && !workersInChild;
  const app = await createAppOnceDatabaseAnswers(
    () => createApp(config, { logger, role: supervised ? 'cli' : 'server', loadConnectors: runsWorkersHere }),
    outages,
  );
  const metrics = createMetrics();
  let http: Awaited<ReturnType<typeof startHttpServer>> | null = null;
  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> = null;
  let workers: RunningWorkers | null = null;
  let supervisor: WorkerSupervisor | null = null;
  let jobWatch: NodeJS.Timeout | null = null;
  try {
    // In `start`, new events go to the worker process over its channel when it can take them (see worker-supervisor.ts).
    http = roles.http ? await startHttpServer(app, metrics, workersInChild ? (ids, events) => supervisor?.handFetch(ids, events) ?? false : undefined) : null;
    // The child's metrics reach /metrics through its parent.
    metricsServer = supervised ? null : await startMetricsServer(app, metrics);
    // The pipeline (BullMQ workers, the fetch and delivery steps, the connectors) loads only in a
    // process that runs it: `serve` and the HTTP side of `start` never do.
    if (runsWorkersHere) {
      const { startWorkers } = await import('../pipeline/workers.js');
      workers = startWorkers(app, metrics, (source, err) => outages.report(source, err));
    }
    supervisor = workersInChild ? superviseWorkers({ config, logger, metrics, queueFetch: (ids) => app.queues.enqueueFetchBatch(ids) }) : null;
  } catch (err) {
    // E.g. the port is taken: close what was opened so the process exits (and a supervisor
    // restarts it) instead of idling on open connections.
    await http?.close();
    await metricsServer?.close();
    await app.close();
    throw err;
  }
  if (workers && link) link.setWorkers(workers, metrics);
  if (workers && loopWatchdog) jobWatch = watchJobAge(workers, config.watchdog.jobMaxMs, logger);
  shutdown = async (reason: string, requestedDeadlineMs?: number) => {
    const deadlineMs = Math.min(config.shutdownTimeoutMs, requestedDeadlineMs ?? Number.POSITIVE_INFINITY);
    logger.info({ reason, deadlineMs }, 'shutting down: intake stopped, finishing in-flight work');
    const deadline = setTimeout(() => {
      logger.warn({ deadlineMs }, 'shutdown deadline passed: exiting now; unfinished work is taken up again from PostgreSQL');
      supervisor?.kill();
      abandonEmbeddedPostgres();
      process.exit(1);
    }, deadlineMs);
    try {
      // The loop watchdog keeps watching: a drain stuck on a blocked loop would never reach its deadline.
      if (jobWatch) clearInterval(jobWatch);
      link?.stop();
      // The child drains alongside this process, and exits before this process's deadline.
      const childStopped = supervisor?.stop(Math.max(1000, deadlineMs - CHILD_DEADLINE_MARGIN_MS));
      await http?.close();
      await metricsServer?.close();
      await workers?.close();
      await childStopped;
      await app.close();
    } catch (err) {
      logger.warn({ err: { message: (err as Error).message } }, 'error while shutting down');
    }
    clearTimeout(deadline);
    logger.info('stopped');
    process.exit(0);
  };
  if (signalsSeen > 0) return void stop('signal during start-up');

  const queue = app.queues.backend.kind;
  if (http)
    logger.info(
      { port: http.port, database: app.dbh.kind, queue, workers: workersInChild ? 'child process' : 'this process' },
      `LeadRelay listening on port ${http.port}; Meta's callback URL: ${config.publicUrl}/webhooks/meta`,
    );
  else logger.info({ database: app.dbh.kind, queue, supervised }, 'LeadRelay workers running');
  if (http) {
    await announceOwnerSetup(app, logger);
    const gaps = listStartupGaps(config);
    if (gaps.length) logger.warn({ todo: gaps }, `before Meta can deliver leads here: ${gaps.length} thing(s) to do (see todo)`);
  }
}

/** The worker child gets this much less time to drain than its parent, so it exits first. */
const CHILD_DEADLINE_MARGIN_MS = 2_000;

/**
 * Without a supervising parent, a job running past WATCHDOG_JOB_MAX_MS ends the process (exit 1),
 * so that its supervisor starts it again; the job is taken up again once its lock expires.
 */
function watchJobAge(workers: RunningWorkers, jobMaxMs: number, logger: Logger): NodeJS.Timeout | null {
  if (jobMaxMs <= 0) return null;
  const timer = setInterval(
    () => {
      const ageMs = workers.oldestJobAgeMs();
      if (ageMs <= jobMaxMs) return;
      logger.fatal(
        { oldestJobAgeMs: ageMs },
        `a job has been running for ${ageMs} ms (WATCHDOG_JOB_MAX_MS=${jobMaxMs}): exiting so that the supervisor restarts this process`,
      );
      abandonEmbeddedPostgres();
      process.exit(1);
    },
    Math.min(1000, jobMaxMs),
  );
  timer.unref();
  return timer;
}
