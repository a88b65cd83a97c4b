// `start` runs its workers in a child process and watches it: a child frozen (SIGSTOP) is killed
// and replaced, one killed (SIGKILL) is started again, and a lead sent meanwhile reaches the
// destination exactly once; SIGTERM drains and ends both processes.
import { readdirSync, readFileSync } from 'node:fs';
import { expect } from 'chai';
import { SERVER_NODE_FLAGS, WORKER_SEMI_SPACE_FLAG } from '../../src/cli/server-node-flags.js';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { baseEnv, cli, postLeadgen, removeQueues, startProgram, TEST_APP_SECRET, waitUntil, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const PAGE = '1000000071';
const FORM = '2000000071';
const PAGE_TOKEN = 'EAAB-page-token-watchdog';
const RECEIVER_SECRET = 'watchdog-receiver-secret';
const METRICS_TOKEN = 'watchdog-metrics-token-0123456789';

let nextLeadId = 9_700_000_000_000_000_000n;
const newLeadId = () => String(nextLeadId++);

/** The nice value of a process's main thread, from /proc/<pid>/stat (field 19). */
const niceOf = (pid: number) => niceOfStat(`/proc/${pid}/stat`);
const niceOfStat = (path: string) => {
  const stat = readFileSync(path, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
};
/** The nice values of every thread of a process (Linux keeps one per thread). */
const threadNices = (pid: number) => readdirSync(`/proc/${pid}/task`).map((tid) => niceOfStat(`/proc/${pid}/task/${tid}/stat`));

const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('e2e: start supervises its worker process', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let env: Record<string, string>;
  let program: RunningProgram;

  /** The requests for this lead the receiver accepted. */
  const acceptedFor = (leadgenId: string) => receiver.received.filter((r) => r.body?.leadgen_id === leadgenId && isAccepted(r));
  /** The pids of the worker processes started so far, in order. */
  const workerPids = () => [...program.output().matchAll(/"workerPid":(\d+),"msg":"worker process started"/g)].map((m) => Number(m[1]));
  /** The newest worker process, once its workers run (it logged "workers started"). */
  const readyWorker = (notPid?: number) =>
    waitUntil(
      async () => {
        const pid = workerPids().at(-1);
        if (!pid || pid === notPid) return null;
        return new RegExp(`"pid":${pid},[^\\n]*"msg":"workers started"`).test(program.output()) ? pid : null;
      },
      120_000,
      'a worker process with its workers running',
    );
  const sendLead = async () => {
    const id = newLeadId();
    graph.addLead({ id, form_id: FORM, page_id: PAGE, field_data: [{ name: 'email', values: [`lead${id}@example.com`] }] });
    expect((await postLeadgen(program.url, { pageId: PAGE, formId: FORM, leadgenId: id })).status).to.equal(200);
    return id;
  };
  /** The value of one series on /metrics (0 when absent). */
  const metric = async (series: string) => {
    const res = await fetch(`${program.url}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${series} `));
    return line ? Number(line.slice(series.length + 1)) : 0;
  };
  const restarts = (reason: string) => metric(`leadrelay_worker_restarts_total{reason="${reason}"}`);
  const dispatched = (path: string) => metric(`leadrelay_fetch_dispatch_total{path="${path}"}`);

  before(async () => {
    schema = await createTestSchema('e2e');
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: RECEIVER_SECRET });
    env = baseEnv({
      DATABASE_URL: schema.url,
      META_GRAPH_URL: graph.url,
      METRICS_TOKEN,
      WATCHDOG_STALL_MS: '3000',
      LOG_LEVEL: 'info',
      WORKER_PROCESS_NICE: '1',
    });
    graph.addForm({ id: FORM, page_id: PAGE, name: 'Watchdog form', questions: [{ key: 'email', type: 'EMAIL', label: 'Email' }] });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Watchdog page');
    const ws = await cli(['workspaces', 'create', '--name', 'Watchdog'], env);
    await cli(['pages', 'add', '--workspace', ws, '--page-id', PAGE, '--token', PAGE_TOKEN], env);
    const dest = await cli(['destinations', 'add', '--workspace', ws, '--type', 'webhook', '--url', receiver.url, '--secret', RECEIVER_SECRET], env);
    await cli(['routes', 'add', '--workspace', ws, '--page-id', PAGE, '--destination', dest], env);
    program = await startProgram('start', env);
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && process.env.E2E_DEBUG) console.error(program?.output().slice(-6000));
  });

  after(async () => {
    await program?.kill('SIGKILL');
    for (const pid of program ? workerPids() : []) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    await receiver?.close();
    await graph?.close();
    if (env) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('runs every thread of the worker process WORKER_PROCESS_NICE steps nicer than the HTTP process', async function () {
    const parentNice = niceOf(program.proc.pid!);
    // At 19 already, the child cannot be made nicer: nothing to tell apart.
    if (parentNice === 19) this.skip();
    const worker = await readyWorker();
    const nices = threadNices(worker);
    expect(nices.length, 'Node runs several threads').to.be.above(1);
    expect(new Set(nices)).to.deep.equal(new Set([parentNice + 1]));
  });

  it("starts the worker process with the HTTP process's node options and the worker's own semi-space", async () => {
    const worker = await readyWorker();
    const argsOf = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const parentArgs = argsOf(program.proc.pid!);
    const workerArgs = argsOf(worker);
    const parentSemiSpace = SERVER_NODE_FLAGS.find((f) => f.startsWith('--max-semi-space-size='));
    expect(parentArgs).to.include.members([...SERVER_NODE_FLAGS]);
    expect(workerArgs).to.include.members([...SERVER_NODE_FLAGS.filter((f) => f !== parentSemiSpace), WORKER_SEMI_SPACE_FLAG]);
    expect(workerArgs).to.not.include(parentSemiSpace);
  });

  it('hands new leads to the worker process over its channel, not through a fetch job', async () => {
    await readyWorker();
    const [handedBefore, queuedBefore] = [await dispatched('worker_process'), await dispatched('queue')];
    const ids = [await sendLead(), await sendLead(), await sendLead()];
    for (const id of ids) await receiver.waitFor(() => acceptedFor(id).length > 0, 60_000);
    for (const id of ids) expect(acceptedFor(id)).to.have.length(1);
    expect(await dispatched('worker_process')).to.equal(handedBefore + 3);
    expect(await dispatched('queue')).to.equal(queuedBefore);
  });

  it('a frozen worker process (SIGSTOP) is killed and replaced, and a lead sent meanwhile is delivered exactly once', async () => {
    const frozen = await readyWorker();
    const stalledBefore = await restarts('stalled');
    process.kill(frozen, 'SIGSTOP');
    // Intake answers while the workers are frozen.
    const id = await sendLead();
    await waitUntil(async () => new RegExp(`"workerPid":${frozen},"reason":"stalled"`).test(program.output()), 60_000, 'the frozen worker reported stalled');
    // The lead went to the frozen process over its channel (its last beat was fresh): once it is
    // gone, its parent queues what it held rather than leave it to the outbox sweep. It may hold
    // the previous test's leads too: their answers go together, up to 50 ms after they are fetched.
    await waitUntil(
      async () => new RegExp(`"workerPid":${frozen},"events":[1-9][0-9]*,[^\\n]*not finished: queued them as fetch jobs`).test(program.output()),
      60_000,
      "the frozen worker's lead queued by its parent",
    );
    const replacement = await readyWorker(frozen);
    expect(isAlive(frozen), 'the frozen worker process is gone').to.equal(false);
    await receiver.waitFor(() => acceptedFor(id).length > 0, 60_000);
    // A later lead delivered: whatever the frozen worker held has been taken up again by now.
    const later = await sendLead();
    await receiver.waitFor(() => acceptedFor(later).length > 0, 60_000);
    expect(acceptedFor(id)).to.have.length(1);
    expect(acceptedFor(later)).to.have.length(1);
    expect(isAlive(replacement)).to.equal(true);
    expect(await restarts('stalled')).to.equal(stalledBefore + 1);
  });

  it('a worker process killed with SIGKILL is started again and delivery continues', async () => {
    const killed = await readyWorker();
    const exitedBefore = await restarts('exited');
    process.kill(killed, 'SIGKILL');
    await waitUntil(
      async () => new RegExp(`"workerPid":${killed},[^\\n]*"reason":"exited"[^\\n]*exited unexpectedly`).test(program.output()),
      60_000,
      'the lost worker reported',
    );
    const replacement = await readyWorker(killed);
    const id = await sendLead();
    await receiver.waitFor(() => acceptedFor(id).length > 0, 60_000);
    expect(acceptedFor(id)).to.have.length(1);
    expect(await restarts('exited')).to.equal(exitedBefore + 1);
    expect(new Set(threadNices(replacement)), 'the replacement runs as nice as the first').to.deep.equal(
      new Set([Math.min(19, niceOf(program.proc.pid!) + 1)]),
    );
  });

  it('SIGTERM drains and ends both the server and its worker process', async () => {
    const worker = await readyWorker();
    await program.kill('SIGTERM');
    expect(program.proc.exitCode, program.output()).to.equal(0);
    expect(program.output()).to.match(new RegExp(`"pid":${worker},[^\\n]*"msg":"stopped"`));
    expect(program.output()).to.match(new RegExp(`"pid":${program.proc.pid},[^\\n]*"msg":"stopped"`));
    expect(isAlive(worker)).to.equal(false);
  });
});
