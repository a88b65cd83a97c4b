// The fault injectors, one per scenario. Each runs beside the load and must have put things back
// (database and Redis up, CRM answering) before the load ends; the checker then waits for the
// program to drain.
import type { FakePipedrive } from '../fakes/pipedrive-crm.js';
import { sleep } from '../helpers/e2e.js';
import type { FaultProxy } from './fault-proxy.js';
import type { ChaosPostgres, ChaosRedis, ManagedProcess } from './infra.js';

export interface World {
  pg: ChaosPostgres;
  redis: ChaosRedis;
  serve: ManagedProcess;
  workers: ManagedProcess[];
  webhookProxy: FaultProxy;
  pipedriveProxy: FaultProxy;
  pipedrive: FakePipedrive;
  log(message: string): void;
}

export interface Scenario {
  name: string;
  what: string;
  /** Hostile requests beside the valid ones. */
  fuzz?: boolean;
  /** The load must last at least this long for the fault to fit in. */
  minLoadMs?: number;
  /** Runs while the load runs; `loadMs` is how long the load lasts. */
  inject?(world: World, loadMs: number): Promise<void>;
}

/** A CRM outage or rate-limit storm lasts this long. */
const CRM_FAULT_MS = 10_000;
/** PostgreSQL stays down this long (the issue's ~12 s). */
const PG_DOWN_MS = 12_000;
const REDIS_DOWN_MS = 5_000;

export const SCENARIOS: Scenario[] = [
  { name: 'baseline', what: 'no fault' },
  {
    name: 'worker-kill',
    what: 'kill -9 a worker every 3 s, in turn, and start it again',
    async inject(world, loadMs) {
      const end = Date.now() + loadMs - 3_000;
      for (let i = 0; Date.now() < end; i++) {
        await sleep(3_000);
        const victim = world.workers[i % world.workers.length];
        await victim.killHard();
        world.log(`kill -9 ${victim.name}`);
        await victim.restart();
      }
    },
  },
  {
    name: 'redis-flush',
    what: 'FLUSHALL twice under load',
    async inject(world, loadMs) {
      await sleep(loadMs * 0.3);
      await world.redis.flushAll();
      world.log('FLUSHALL');
      await sleep(loadMs * 0.3);
      await world.redis.flushAll();
      world.log('FLUSHALL');
    },
  },
  {
    name: 'redis-restart',
    what: `Redis killed (-9), back empty after ${REDIS_DOWN_MS / 1000} s`,
    async inject(world, loadMs) {
      await sleep(loadMs * 0.25);
      await world.redis.kill();
      world.log('redis killed');
      await sleep(REDIS_DOWN_MS);
      await world.redis.start();
      world.log('redis started (empty)');
    },
  },
  {
    name: 'pg-stop',
    what: `PostgreSQL stopped (fast: connections terminated, 57P01) for ${PG_DOWN_MS / 1000} s`,
    minLoadMs: PG_DOWN_MS + 8_000,
    async inject(world, loadMs) {
      await sleep(Math.min(loadMs * 0.25, loadMs - PG_DOWN_MS - 4_000));
      await world.pg.stop();
      world.log('postgres stopped');
      await sleep(PG_DOWN_MS);
      await world.pg.start();
      world.log('postgres started');
    },
  },
  {
    name: 'crm-5xx',
    what: `both CRMs answer 503 for ${CRM_FAULT_MS / 1000} s`,
    minLoadMs: CRM_FAULT_MS + 6_000,
    async inject(world, loadMs) {
      await sleep(Math.min(loadMs * 0.25, loadMs - CRM_FAULT_MS - 3_000));
      world.webhookProxy.setFault({ kind: 'server_error', status: 503 });
      world.pipedriveProxy.setFault({ kind: 'server_error', status: 503 });
      await sleep(CRM_FAULT_MS);
      world.webhookProxy.setFault({ kind: 'none' });
      world.pipedriveProxy.setFault({ kind: 'none' });
      world.log(`503s answered: receiver ${world.webhookProxy.faulted}, Pipedrive ${world.pipedriveProxy.faulted}`);
    },
  },
  {
    name: 'rate-limit',
    what: `429 storm for ${CRM_FAULT_MS / 1000} s (receiver: Retry-After 3; Pipedrive: its own 429 answer)`,
    minLoadMs: CRM_FAULT_MS + 6_000,
    async inject(world, loadMs) {
      await sleep(Math.min(loadMs * 0.25, loadMs - CRM_FAULT_MS - 3_000));
      const before = world.webhookProxy.faulted;
      world.webhookProxy.setFault({ kind: 'rate_limited', retryAfterSeconds: 3 });
      world.pipedrive.rateLimitFor(CRM_FAULT_MS);
      await sleep(CRM_FAULT_MS);
      world.webhookProxy.setFault({ kind: 'none' });
      const pipedrive429s = world.pipedrive.requests.filter((r) => r.status === 429).length;
      world.log(`429s answered: receiver ${world.webhookProxy.faulted - before}, Pipedrive ${pipedrive429s}`);
    },
  },
  { name: 'fuzz', what: 'unsigned, mis-signed, malformed, oversized and deeply nested bodies beside valid traffic', fuzz: true },
];
