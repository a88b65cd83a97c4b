// A job the work role runs on a timer (form drift, reconciliation, health monitors): first after
// `initialDelayMs`, then every `intervalMs`, one run at a time in this process (the job takes its
// own lease for one run across processes). Timers do not keep the process alive; stop() waits for
// a run under way, which can check isStopped() to end early.
export interface Periodic {
  stop(): Promise<void>;
}

export function runPeriodically(tick: (isStopped: () => boolean) => Promise<void>, opts: { intervalMs: number; initialDelayMs: number }): Periodic {
  let running: Promise<void> | null = null;
  let stopped = false;
  const isStopped = () => stopped;
  const run = () => {
    if (!running && !stopped) running = tick(isStopped).finally(() => (running = null));
  };
  let interval: NodeJS.Timeout | null = null;
  const first = setTimeout(() => {
    run();
    if (!stopped) {
      interval = setInterval(run, opts.intervalMs);
      interval.unref();
    }
  }, opts.initialDelayMs);
  first.unref();
  return {
    async stop() {
      stopped = true;
      clearTimeout(first);
      if (interval) clearInterval(interval);
      if (running) await running;
    },
  };
}
