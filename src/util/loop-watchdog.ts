// The in-process watchdog of a process that an outside supervisor restarts (Docker, systemd): a
// worker thread watches a counter that the main event loop bumps every beat. When the counter has
// not moved for `stallMs`, the loop is stuck (a runaway computation, a blocking call), so nothing
// on it can react: the thread writes one log line itself and kills the process with SIGKILL, and
// the supervisor starts it again. Queued work is taken up again from Redis and PostgreSQL.
// This module is also the thread's code: the thread loads it with `workerData` set.
import { writeSync } from 'node:fs';
import { Worker, isMainThread, workerData } from 'node:worker_threads';

interface WatcherData {
  kind: 'leadrelay-loop-watchdog';
  beats: SharedArrayBuffer;
  stallMs: number;
  checkMs: number;
  /** The process's role, for the log line. */
  role: string;
}

export interface LoopWatchdog {
  stop(): Promise<void>;
}

/** Starts watching this process's event loop; stallMs 0 watches nothing. */
export function startLoopWatchdog(opts: { stallMs: number; role: string; onError?: (err: Error) => void }): LoopWatchdog {
  if (opts.stallMs <= 0) return { stop: async () => {} };
  const beatMs = Math.max(10, Math.min(1000, Math.floor(opts.stallMs / 4)));
  const buffer = new SharedArrayBuffer(4);
  const beats = new Int32Array(buffer);
  const beat = setInterval(() => Atomics.add(beats, 0, 1), beatMs);
  beat.unref();
  const data: WatcherData = { kind: 'leadrelay-loop-watchdog', beats: buffer, stallMs: opts.stallMs, checkMs: beatMs, role: opts.role };
  // No execArgv of the process's own (--input-type, --inspect) reaches the thread.
  const thread = new Worker(new URL(import.meta.url), { workerData: data, execArgv: [] });
  // A watchdog that cannot run must not take the process down with it.
  thread.on('error', (err) => opts.onError?.(err));
  // The thread never keeps the process alive on its own.
  thread.unref();
  return {
    async stop() {
      clearInterval(beat);
      await thread.terminate();
    },
  };
}

function watch(data: WatcherData): void {
  const beats = new Int32Array(data.beats);
  let seen = Atomics.load(beats, 0);
  let movedAt = Date.now();
  setInterval(() => {
    const now = Date.now();
    const current = Atomics.load(beats, 0);
    if (current !== seen) {
      seen = current;
      movedAt = now;
      return;
    }
    if (now - movedAt < data.stallMs) return;
    // The main thread is stuck, and with it the logger's stream: write the line directly.
    const line = {
      level: 60,
      time: now,
      pid: process.pid,
      name: 'leadrelay',
      role: data.role,
      stalledMs: now - movedAt,
      msg: `event loop stuck for ${now - movedAt} ms (WATCHDOG_STALL_MS=${data.stallMs}): killing this process so that its supervisor restarts it`,
    };
    writeSync(1, `${JSON.stringify(line)}\n`);
    process.kill(process.pid, 'SIGKILL');
  }, data.checkMs);
}

if (!isMainThread && (workerData as WatcherData | null)?.kind === 'leadrelay-loop-watchdog') watch(workerData as WatcherData);
