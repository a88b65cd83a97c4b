// `npm run bench -- <intake|intake-start|e2e|startup|profile|burst|sustained> [options]` (see USAGE)
// Benchmarks print figures beside their targets; a missed target is not a failure. The exit
// code is non-zero only when the benchmark itself could not run.
import { runBurstBench } from './burst.js';
import { runE2eBench } from './e2e.js';
import { runIntakeBench } from './intake.js';
import { runIntakeStartBench } from './intake-start.js';
import { runProfileBench } from './profile.js';
import { runStartupBench } from './startup.js';
import { runSustainedBench } from './sustained.js';
import type { BenchOptions } from './setup.js';

const BENCHES: Record<string, (opts: BenchOptions) => Promise<void>> = {
  intake: runIntakeBench,
  'intake-start': runIntakeStartBench,
  e2e: runE2eBench,
  startup: runStartupBench,
  profile: runProfileBench,
  burst: runBurstBench,
  sustained: runSustainedBench,
};

const USAGE = `usage: node dist/bench/run.js <${Object.keys(BENCHES).join('|')}> [options]
  --connections N    intake, intake-start: closed-loop connections for the maximum-throughput run (default 256)
  --rate N           e2e, profile: leads per second (default 100)
  --seconds N        e2e, profile: how long to send (default 20)
  --leads N          burst: leads released at once (default 10000)
  --drain-seconds N  burst: how long to wait for the burst to drain before reporting how far it got (default 60)
  --step-seconds N   sustained: seconds per rate step (default 60, the issue's; shorter for a quick look)
  --start-rate N     sustained: the first step's rate (default 50; steps double while they hold)
  --services KIND    shared (default: the test PostgreSQL and Redis) or private (a throwaway cluster with
                     pg_stat_statements and a throwaway redis-server; profile always uses private)
  --env KEY=VALUE    extra environment for the program under test (startup: also its CLI runs), repeatable,
                     e.g. --env INTAKE_BATCH_MAX_ROWS=1000 --env NODE_OPTIONS=--max-old-space-size=128`;

class UsageError extends Error {}

function parseArgs(argv: string[]): { name: string; opts: BenchOptions } {
  const [name, ...rest] = argv;
  if (!name || !(name in BENCHES)) throw new UsageError(name ? `unknown benchmark "${name}"` : 'name a benchmark');
  const opts: BenchOptions = {
    envOverrides: {},
    connections: 256,
    ratePerSecond: 100,
    seconds: 20,
    services: 'shared',
    burstLeads: 10_000,
    drainSeconds: 60,
    stepSeconds: 60,
    startRate: 50,
  };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i];
    const value = rest[++i];
    if (value === undefined) throw new UsageError(`${flag} needs a value`);
    if (flag === '--connections') {
      opts.connections = parseWhole(flag, value, 2000);
    } else if (flag === '--rate') {
      opts.ratePerSecond = parseWhole(flag, value, 5000);
    } else if (flag === '--seconds') {
      opts.seconds = parseWhole(flag, value, 120);
    } else if (flag === '--leads') {
      opts.burstLeads = parseWhole(flag, value, 100_000);
    } else if (flag === '--drain-seconds') {
      opts.drainSeconds = parseWhole(flag, value, 1800);
    } else if (flag === '--step-seconds') {
      opts.stepSeconds = parseWhole(flag, value, 600);
    } else if (flag === '--start-rate') {
      opts.startRate = parseWhole(flag, value, 5000);
    } else if (flag === '--services') {
      if (value !== 'shared' && value !== 'private') throw new UsageError(`--services must be shared or private, got "${value.slice(0, 40)}"`);
      opts.services = value;
    } else if (flag === '--env') {
      const eq = value.indexOf('=');
      if (eq <= 0) throw new UsageError(`--env expects KEY=VALUE, got "${value.slice(0, 40)}"`);
      opts.envOverrides[value.slice(0, eq)] = value.slice(eq + 1);
    } else {
      throw new UsageError(`unknown option "${flag}"`);
    }
  }
  return { name, opts };
}

function parseWhole(flag: string, value: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got "${value.slice(0, 40)}"`);
  return n;
}

async function main(): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(process.argv.slice(2));
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`error: ${err.message}\n${USAGE}\n`);
    return 2;
  }
  const startedAt = Date.now();
  try {
    await BENCHES[parsed.name](parsed.opts);
  } catch (err) {
    process.stderr.write(`bench ${parsed.name} could not run: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
  process.stderr.write(`bench ${parsed.name} took ${((Date.now() - startedAt) / 1000).toFixed(1)} s\n`);
  return 0;
}

// Exit explicitly: fakes and sockets of a failed run must not keep the process alive.
main().then((code) => process.exit(code));
