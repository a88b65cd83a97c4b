// `start` runs the workers in a child process (`leadrelay work --supervised`) so that fetching and
// delivering never hold up the webhook receiver's event loop, and watches that child:
// - the child sends a heartbeat over the IPC channel every beat (at most a second), from its event
//   loop, with the age of its oldest running job;
// - no heartbeat for WATCHDOG_STALL_MS (its loop is stuck, or the process is frozen), or one job
//   running longer than WATCHDOG_JOB_MAX_MS: the child is killed (SIGKILL) and started again;
// - a child that exits by itself is started again too, after a backoff that grows while it keeps
//   failing (0.5 s doubling up to 30 s, back to 0.5 s once a child has run for a minute).
// Each restart writes one error line naming why, and counts in leadrelay_worker_restarts_total.
// Whatever a killed child was doing is taken up again: its queue jobs stall and are re-run, and
// the outbox sweep queues anything left `received` in PostgreSQL.
// The channel also carries new leads: the events of an intake insert go to the child over it
// (handFetch), with their rows as the insert returned them so the child need not read them again,
// instead of through a fetch job, while the child beats on time and holds fewer than
// HANDED_MAX_EVENTS of them. The child answers once it has fetched them; the events of a child that
// ends first are queued as fetch jobs at once. Either way they are `received` rows in PostgreSQL
// first, so the outbox sweep finds any that neither path finishes (both processes gone).
// This module holds both ends: superviseWorkers (the parent) and attachToSupervisor (the child).
import { type ChildProcess, fork } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { AppConfig } from '../config/env.js';
import { HandedFetches } from './handed-fetches.js';
import { workerExecArgv } from './server-node-flags.js';
import type { Logger } from '../util/logger.js';
import type { Metrics, MetricsSnapshot } from '../util/metrics.js';
import { eventForFetchFromJson, type EventForFetch, type EventForFetchJson } from '../store/leadgen-events.js';

type ToParent =
  | { type: 'heartbeat'; ready: boolean; oldestJobAgeMs: number }
  | { type: 'metrics'; id: number; snapshot: MetricsSnapshot | null }
  /** The `fetch` messages answered for since the last answer: their events fetched (taken), or refused (the child is closing) for the parent to queue. */
  | { type: 'fetched'; taken: number[]; refused: number[] };
type ToChild =
  | { type: 'metrics'; id: number }
  | { type: 'shutdown'; deadlineMs: number }
  /** `events`: their rows as the intake insert returned them (the child need not read them again). */
  | { type: 'fetch'; id: number; eventIds: number[]; events: EventForFetch[] };
/** What the child receives of a ToChild message (through JSON). */
type ToChildReceived = Exclude<ToChild, { type: 'fetch' }> | { type: 'fetch'; id: number; eventIds: number[]; events?: EventForFetchJson[] };

/** The CLI entry the child runs (dist/src/cli/main.js beside this file). */
const CLI_ENTRY = fileURLToPath(new URL('./main.js', import.meta.url));
/** Before its workers run, a child may be slower to answer (loading, first connections) than WATCHDOG_STALL_MS allows. */
const START_GRACE_MS = 60_000;
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long counts as healthy: the next restart starts from the first backoff again. */
const HEALTHY_AFTER_MS = 60_000;
/** How long a scrape of /metrics waits for the child's share. */
const METRICS_TIMEOUT_MS = 2_000;
/** Most events the child holds from handFetch at once; past it, new events get fetch jobs (a backlog waits in the queue). */
const HANDED_MAX_EVENTS = 256;
/**
 * The child's answers for handed events go together: at most one message every ANSWER_GATHER_MS
 * (at a hundred leads a second, one message per lead cost the child a write and the parent a
 * wake-up each), at once when they cover ANSWER_GATHER_EVENTS events (the parent counts events
 * as held until answered for, against HANDED_MAX_EVENTS), when events were refused, and once the
 * child is stopping.
 */
const ANSWER_GATHER_MS = 50;
const ANSWER_GATHER_EVENTS = 64;

/** The thread ids of a process (/proc/<pid>/task), or the pid alone where /proc is not there. */
function listThreads(pid: number): number[] {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return [pid];
  }
}

/** How often the child beats: often enough for the stall bound to be seen within a quarter of it. */
function beatIntervalMs(stallMs: number): number {
  return stallMs > 0 ? Math.max(10, Math.min(1000, Math.floor(stallMs / 4))) : 1000;
}

type RestartReason = 'stalled' | 'job_stuck' | 'exited';

export interface WorkerSupervisor {
  /**
   * Gives the child these events (one intake insert's, ascending; their rows as inserted in
   * `events`) to fetch, when it is running its workers, beat on time and has room: true. False:
   * the caller queues them.
   */
  handFetch(eventIds: number[], events: EventForFetch[]): boolean;
  /** Asks the child to drain (within deadlineMs) and resolves when it has exited; no restart after this. */
  stop(deadlineMs: number): Promise<void>;
  /** Kills the child at once (the parent is about to exit without waiting). */
  kill(): void;
}

export function superviseWorkers(opts: {
  config: AppConfig;
  logger: Logger;
  metrics: Metrics;
  /** Queues a fetch job for events the child gave back or did not finish. */
  queueFetch(eventIds: number[]): Promise<void>;
}): WorkerSupervisor {
  const { config, logger, metrics } = opts;
  const { stallMs, jobMaxMs } = config.watchdog;
  const checkMs = beatIntervalMs(stallMs);
  let child: ChildProcess | null = null;
  let startedAt = 0;
  let lastBeatAt = 0;
  let ready = false;
  let oldestJobAgeMs = 0;
  /** Why the running child is being killed; null: it was not (an exit is then unexpected). */
  let killedFor: RestartReason | null = null;
  let failures = 0;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | null = null;
  let exited: Promise<void> = Promise.resolve();
  let nextMetricsId = 0;
  const pendingMetrics = new Map<number, (snapshot: MetricsSnapshot | null) => void>();
  /** Events handed to the running child and not yet answered for. */
  const handed = new HandedFetches({
    maxEvents: HANDED_MAX_EVENTS,
    queue: opts.queueFetch,
    onQueueError: (err, count) =>
      logger.warn({ count, err: { message: (err as Error).message } }, 'could not queue events back from the worker process; the outbox sweep will'),
  });

  /**
   * Runs the child WORKER_PROCESS_NICE steps nicer than this process: when both want the CPU (a
   * backlog while webhooks pour in), the scheduler gives it to the webhook receiver first. Linux
   * keeps a nice value per thread, and a thread takes its creator's: called once the child is
   * forked (before Node starts its threads, as a rule) and again at its first heartbeat, for every
   * thread it has by then.
   */
  const lowerPriority = (proc: ChildProcess) => {
    const steps = config.workers.processNice;
    if (steps === 0 || proc.pid === undefined) return;
    const nice = Math.min(19, getPriority() + steps);
    try {
      for (const tid of listThreads(proc.pid)) setPriority(tid, nice);
    } catch (err) {
      logger.warn(
        { workerPid: proc.pid, err: { message: (err as Error).message } },
        'could not lower the worker process priority; it runs at this process priority',
      );
    }
  };

  const spawnChild = () => {
    restartTimer = null;
    if (stopping) return;
    // The parent's node options (a command-line flag wins over the same one in NODE_OPTIONS), the worker's semi-space.
    const proc = fork(CLI_ENTRY, ['work', '--supervised'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: workerExecArgv(process.execArgv) });
    child = proc;
    lowerPriority(proc);
    let isFirstBeat = true;
    startedAt = Date.now();
    lastBeatAt = startedAt;
    ready = false;
    oldestJobAgeMs = 0;
    killedFor = null;
    logger.info({ workerPid: proc.pid }, 'worker process started');
    proc.on('message', (message: ToParent) => {
      if (message.type === 'heartbeat') {
        if (isFirstBeat) lowerPriority(proc);
        isFirstBeat = false;
        lastBeatAt = Date.now();
        ready = message.ready;
        oldestJobAgeMs = message.oldestJobAgeMs;
      } else if (message.type === 'metrics') {
        pendingMetrics.get(message.id)?.(message.snapshot);
        pendingMetrics.delete(message.id);
      } else if (message.type === 'fetched') {
        for (const id of message.taken) handed.answered(id, true);
        for (const id of message.refused) handed.answered(id, false);
      }
    });
    // E.g. a message sent just as the child died: its exit follows and is handled there.
    proc.on('error', (err) => logger.warn({ workerPid: proc.pid, err: { message: err.message } }, 'worker process channel error'));
    exited = new Promise((resolve) =>
      proc.once('exit', (code, signal) => {
        child = null;
        for (const answer of pendingMetrics.values()) answer(null);
        pendingMetrics.clear();
        // What it held and had not finished goes to the queue now, not after the sweep's wait.
        const givenBack = handed.giveBackAll();
        if (givenBack > 0)
          logger.warn(
            { workerPid: proc.pid, events: givenBack },
            `the worker process ended holding ${givenBack} event(s) it had not finished: queued them as fetch jobs`,
          );
        resolve();
        if (stopping) return;
        const reason = killedFor ?? 'exited';
        if (reason === 'exited') {
          metrics.workerRestarts.inc({ reason });
          logger.error({ workerPid: proc.pid, code, signal, reason }, `worker process exited unexpectedly (${signal ?? `code ${code}`}): starting a new one`);
        }
        failures = Date.now() - startedAt >= HEALTHY_AFTER_MS ? 1 : failures + 1;
        const delayMs = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1));
        logger.info({ delayMs, restarts: failures }, 'starting a new worker process after a backoff');
        restartTimer = setTimeout(spawnChild, delayMs);
      }),
    );
  };

  const killFor = (reason: Exclude<RestartReason, 'exited'>, message: string, details: Record<string, unknown>) => {
    if (!child || killedFor) return;
    killedFor = reason;
    metrics.workerRestarts.inc({ reason });
    logger.error({ workerPid: child.pid, reason, ...details }, `${message}: killing the worker process and starting a new one`);
    child.kill('SIGKILL');
  };

  let lastCheckAt = Date.now();
  const monitor = setInterval(() => {
    const now = Date.now();
    // This process's own loop was held up: heartbeats may be waiting unread, so judge next time.
    const late = now - lastCheckAt > 2 * checkMs + 500;
    lastCheckAt = now;
    if (late || !child || killedFor) return;
    const silentMs = now - lastBeatAt;
    const allowedMs = ready ? stallMs : Math.max(stallMs, START_GRACE_MS);
    if (stallMs > 0 && silentMs > allowedMs)
      killFor('stalled', `worker process gave no heartbeat for ${silentMs} ms (WATCHDOG_STALL_MS=${stallMs}): its event loop is stuck or it is frozen`, {
        silentMs,
      });
    else if (jobMaxMs > 0 && oldestJobAgeMs > jobMaxMs)
      killFor('job_stuck', `a job has been running for ${oldestJobAgeMs} ms in the worker process (WATCHDOG_JOB_MAX_MS=${jobMaxMs})`, { oldestJobAgeMs });
  }, checkMs);
  monitor.unref();

  metrics.addSource(async () => {
    const proc = child;
    if (!proc?.connected) return null;
    const id = ++nextMetricsId;
    return new Promise<MetricsSnapshot | null>((resolve) => {
      const timer = setTimeout(() => {
        pendingMetrics.delete(id);
        resolve(null);
      }, METRICS_TIMEOUT_MS);
      pendingMetrics.set(id, (snapshot) => {
        clearTimeout(timer);
        resolve(snapshot);
      });
      proc.send({ type: 'metrics', id } satisfies ToChild, (err) => {
        if (err) pendingMetrics.get(id)?.(null);
      });
    });
  });

  spawnChild();
  return {
    handFetch(eventIds, events) {
      const proc = child;
      if (stopping || killedFor || !ready || !proc?.connected || eventIds.length === 0) return false;
      // A child that missed a beat may be frozen or swamped: new events take the queue meanwhile.
      if (Date.now() - lastBeatAt > 2 * checkMs + 500) return false;
      const id = handed.take(eventIds);
      if (id === undefined) return false;
      // A send that fails means the child is going: its exit queues what it held, this too.
      proc.send({ type: 'fetch', id, eventIds, events } satisfies ToChild, () => {});
      return true;
    },
    async stop(deadlineMs) {
      stopping = true;
      clearInterval(monitor);
      if (restartTimer) clearTimeout(restartTimer);
      const proc = child;
      if (!proc) return;
      if (proc.connected) proc.send({ type: 'shutdown', deadlineMs } satisfies ToChild, () => {});
      else proc.kill('SIGTERM');
      await exited;
      await handed.settled();
    },
    kill() {
      stopping = true;
      clearInterval(monitor);
      if (restartTimer) clearTimeout(restartTimer);
      child?.kill('SIGKILL');
    },
  };
}

/** What the child's end needs of its running workers. */
interface SupervisedWorkers {
  oldestJobAgeMs(): number;
  /** Fetches events handed over the channel; false when they were not taken (the workers are closing). */
  fetchEvents(eventIds: number[], known?: EventForFetch[]): Promise<boolean>;
}

export interface SupervisorLink {
  /** The workers run: heartbeats now say so, and the parent holds the child to WATCHDOG_STALL_MS. */
  setWorkers(workers: SupervisedWorkers, metrics: Metrics): void;
  stop(): void;
}

/**
 * The child's end: heartbeats from this event loop, answers to the parent's metrics requests, and
 * shutdown when the parent asks or is gone (its channel closed). Call as early as possible, so
 * that a child still starting (waiting for PostgreSQL, say) is seen alive.
 */
export function attachToSupervisor(opts: { stallMs: number; onShutdown: (reason: string, deadlineMs?: number) => void }): SupervisorLink {
  let workers: SupervisedWorkers | null = null;
  let metrics: Metrics | null = null;
  const send = (message: ToParent) => {
    if (process.connected) process.send?.(message, undefined, undefined, () => {});
  };
  const beat = () => send({ type: 'heartbeat', ready: workers !== null, oldestJobAgeMs: workers?.oldestJobAgeMs() ?? 0 });
  const timer = setInterval(beat, beatIntervalMs(opts.stallMs));
  beat();
  // Answers for handed events not sent yet (see ANSWER_GATHER_MS).
  let taken: number[] = [];
  let refused: number[] = [];
  let answeredEvents = 0;
  let answerTimer: NodeJS.Timeout | undefined;
  let answerAtOnce = false;
  const sendAnswers = () => {
    if (answerTimer) clearTimeout(answerTimer);
    answerTimer = undefined;
    if (taken.length + refused.length === 0) return;
    send({ type: 'fetched', taken, refused });
    taken = [];
    refused = [];
    answeredEvents = 0;
  };
  const answer = (id: number, events: number, wasTaken: boolean) => {
    (wasTaken ? taken : refused).push(id);
    answeredEvents += events;
    if (!wasTaken || answerAtOnce || answeredEvents >= ANSWER_GATHER_EVENTS) sendAnswers();
    else if (!answerTimer) answerTimer = setTimeout(sendAnswers, ANSWER_GATHER_MS).unref();
  };
  const onMessage = (message: ToChildReceived) => {
    if (message.type === 'shutdown') opts.onShutdown('the supervisor asked', message.deadlineMs);
    else if (message.type === 'fetch') {
      const { id, eventIds } = message;
      const known = message.events?.map(eventForFetchFromJson);
      // Not taken: the parent queues them. Failures inside are the fetch step's (left for the sweep, as a job's would be).
      const taking = workers ? workers.fetchEvents(eventIds, known) : Promise.resolve(false);
      taking.then(
        (wasTaken) => answer(id, eventIds.length, wasTaken),
        () => answer(id, eventIds.length, false),
      );
    } else if (message.type === 'metrics') {
      const id = message.id;
      if (!metrics) return send({ type: 'metrics', id, snapshot: null });
      metrics.registry.getMetricsAsJSON().then(
        (snapshot) => send({ type: 'metrics', id, snapshot }),
        () => send({ type: 'metrics', id, snapshot: null }),
      );
    }
  };
  const onDisconnect = () => opts.onShutdown('the supervising process is gone');
  process.on('message', onMessage);
  process.once('disconnect', onDisconnect);
  return {
    setWorkers(w, m) {
      workers = w;
      metrics = m;
      beat();
    },
    stop() {
      clearInterval(timer);
      // Stopping: answers go at once, so the parent does not queue again events fetched already.
      answerAtOnce = true;
      sendAnswers();
      process.off('message', onMessage);
      process.off('disconnect', onDisconnect);
    },
  };
}
