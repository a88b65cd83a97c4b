// The first ten minutes, as a newcomer lives them: the README's first screen (`npm start`, with
// nothing configured but Meta's values) and its first setup commands exactly as written, run
// while the server is up; then a restart, a lead, and nothing lost. Also: two servers on one
// data directory, shutdown with Redis unreachable, and a start with nothing configured at all.
import { expect } from 'chai';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeGraph, type FakeGraph } from '../fakes/meta-graph.js';
import { isAccepted, startFakeReceiver, type FakeReceiver } from '../fakes/webhook-receiver.js';
import { BIN, freePort, postLeadgen, runCli, TEST_APP_SECRET, TEST_VERIFY_TOKEN, waitUntil } from '../helpers/e2e.js';

/** The repository root (dist/test/e2e → ../../..): where a newcomer runs the README's commands. */
const ROOT = resolve(fileURLToPath(import.meta.url), '../../../..');
const PAGE = '1000000777';
const FORM = '2000000777';
const PAGE_TOKEN = 'EAAB-first-run-page-token';
const SIGNING_SECRET = 'first-run-signing-secret';

/** The shell block that follows `marker` in the README. */
function readmeBlock(marker: string): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(marker);
  if (at < 0) throw new Error(`README has no "${marker}"`);
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(at));
  if (!block) throw new Error(`no sh block after "${marker}" in README`);
  return block[1];
}

interface Server {
  url: string;
  proc: ChildProcess;
  output(): string;
  /** A signal to the whole process group (npm and the node it runs), as a Ctrl-C would; resolves at exit. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

/**
 * A copy of the checkout to run the README's commands in: `npm start` builds, and a build in the
 * checkout itself would rewrite the compiled files other test files are loading at that moment
 * (mocha runs files side by side). Everything but what a build or a run makes, with the installed
 * dependencies linked.
 */
function copyOfCheckout(into: string): string {
  const copy = join(into, 'checkout');
  mkdirSync(copy);
  const made = new Set(['.git', 'dist', 'node_modules', 'data', 'test-results']);
  for (const entry of readdirSync(ROOT)) if (!made.has(entry)) cpSync(join(ROOT, entry), join(copy, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(copy, 'node_modules'));
  return copy;
}

/** Where the shell commands run: the repository root, or the copy the README's commands use. */
let shellDir = ROOT;

/** Runs a shell command line in its own process group and waits until `readyPath` answers 200. */
async function startShell(command: string, env: Record<string, string>, port: number, readyPath = '/readyz'): Promise<Server> {
  const proc = spawn('bash', ['-c', command], { cwd: shellDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  proc.stdout!.on('data', (d) => (out += d));
  proc.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const server: Server = {
    url: `http://127.0.0.1:${port}`,
    proc,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) process.kill(-proc.pid!, signal);
      return exited;
    },
  };
  try {
    // No fixed deadline: wait while the process lives and says nothing is wrong (a loaded
    // machine starts slowly); the suite's timeout is the outer bound.
    await waitUntil(
      async () => {
        if (proc.exitCode !== null) throw new Error(`exited with ${proc.exitCode}:\n${out}`);
        return fetch(`${server.url}${readyPath}`, { signal: AbortSignal.timeout(5000) })
          .then((r) => r.ok)
          .catch(() => false);
      },
      110_000,
      `${command} to become ready`,
    );
  } catch (err) {
    await server.stop('SIGKILL');
    throw err;
  }
  return server;
}

function runShell(script: string, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd: shellDir, env, timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

describe('e2e: the first ten minutes (embedded PostgreSQL, no Redis)', function () {
  this.timeout(240_000);
  let graph: FakeGraph;
  let receiver: FakeReceiver;
  let dir: string;
  let env: Record<string, string>;
  let port: number;

  before(async () => {
    graph = await startFakeGraph({ appSecret: TEST_APP_SECRET, appId: '1234567890' });
    receiver = await startFakeReceiver({ secret: SIGNING_SECRET });
    graph.addForm({
      id: FORM,
      page_id: PAGE,
      name: 'Test ride',
      questions: [
        { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
        { key: 'email', type: 'EMAIL', label: 'Email' },
      ],
    });
    graph.setPageToken(PAGE, PAGE_TOKEN, 'Acme Bikes');
    dir = mkdtempSync(join(tmpdir(), 'leadrelay-first-run-'));
    shellDir = copyOfCheckout(dir);
    // The README keeps the secrets in files in the home folder, readable only by their owner.
    const home = join(dir, 'home');
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, 'page.token'), `${PAGE_TOKEN}\n`, { mode: 0o600 });
    writeFileSync(join(home, 'signing.secret'), `${SIGNING_SECRET}\n`, { mode: 0o600 });
    port = await freePort();
    // What the newcomer sets: Meta's values and the README's variables. No DATABASE_URL, no
    // REDIS_URL, no key ring. DATA_DIR keeps the test's database out of the checkout's ./data.
    env = {
      PATH: process.env.PATH ?? '',
      HOME: join(dir, 'home'),
      DATA_DIR: join(dir, 'data'),
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'info',
      META_APP_ID: '1234567890',
      META_APP_SECRET: TEST_APP_SECRET,
      META_VERIFY_TOKEN: TEST_VERIFY_TOKEN,
      META_GRAPH_URL: graph.url,
      // The receiver is a loopback fake: a private address, which this allows.
      LEADRELAY_ALLOW_PRIVATE_DESTINATIONS: 'true',
      OUTBOX_SWEEP_INTERVAL_MS: '500',
      OUTBOX_MIN_AGE_MS: '1500',
      PAGE_ID: PAGE,
      PAGE_TOKEN,
      WEBHOOK_URL: receiver.url,
      SIGNING_SECRET,
    };
  });
  after(async () => {
    await graph?.close();
    await receiver?.close();
    shellDir = ROOT;
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs the README first setup while the server is up; after a restart a lead arrives once and nothing is lost', async () => {
    const firstScreen = readmeBlock('On a fresh machine').split('\n')[0].replace(/#.*$/, '').trim();
    expect(firstScreen).to.equal('npm install && npm start');
    // The dependencies are installed by the test run itself; the rest of the line runs as written.
    const startCommand = firstScreen.replace(/^npm install && /, '');
    let server = await startShell(startCommand, env, port);
    let setup: Awaited<ReturnType<typeof runShell>>;
    try {
      setup = await runShell(`${readmeBlock('A first setup')}\necho "W=$W D=$D"`, env);
      expect(setup.code, setup.stderr).to.equal(0);
      // The running server sees what the CLI wrote, at once.
      const lead1 = '9200000000000000001';
      graph.addLead({
        id: lead1,
        form_id: FORM,
        page_id: PAGE,
        field_data: [
          { name: 'full_name', values: ['Ana First'] },
          { name: 'email', values: ['ana@example.com'] },
        ],
      });
      expect((await postLeadgen(server.url, { pageId: PAGE, formId: FORM, leadgenId: lead1 })).status).to.equal(200);
      await receiver.waitFor((r) => r.received.some((x) => x.body?.leadgen_id === lead1 && isAccepted(x)), 60_000);
    } finally {
      await server.stop('SIGINT');
    }
    // LeadRelay drained and closed, whatever npm's own exit says.
    expect(server.output()).to.match(/"msg":"stopped"/);
    const ids = /W=(\S+) D=(\S+)/.exec(setup.stdout)!;
    expect(ids, setup.stdout).to.not.equal(null);

    server = await startShell(startCommand, env, port);
    try {
      const lead2 = '9200000000000000002';
      graph.addLead({
        id: lead2,
        form_id: FORM,
        page_id: PAGE,
        field_data: [
          { name: 'full_name', values: ['Ben Second'] },
          { name: 'email', values: ['ben@example.com'] },
        ],
      });
      expect((await postLeadgen(server.url, { pageId: PAGE, formId: FORM, leadgenId: lead2 })).status).to.equal(200);
      await receiver.waitFor((r) => r.received.some((x) => x.body?.leadgen_id === lead2 && isAccepted(x)), 60_000);
      // Nothing the setup made vanished, nothing arrived twice.
      const workspaces = await runCli(['workspaces', 'list'], env);
      expect(workspaces.stdout).to.contain(ids[1]);
      const leads = JSON.parse((await runCli(['leads', 'list', '--workspace', ids[1], '--json'], env)).stdout) as {
        leadgen_id: string;
        deliveries: { destination_id: string; status: string }[];
      }[];
      expect(leads.map((l) => l.leadgen_id).sort()).to.deep.equal(['9200000000000000001', '9200000000000000002']);
      for (const l of leads) expect(l.deliveries.map((d) => [d.destination_id, d.status])).to.deep.equal([[ids[2], 'delivered']]);
      const arrived = receiver.accepted().map((r) => r.body?.leadgen_id);
      expect(arrived.sort()).to.deep.equal(['9200000000000000001', '9200000000000000002']);
    } finally {
      await server.stop('SIGINT');
    }
    expect(server.output()).to.match(/"msg":"stopped"/);
  });

  it('refuses a second server on the same data directory with a one-line reason', async () => {
    const server = await startShell(`exec node ${BIN} start`, env, port);
    try {
      const second = await runCli(['start'], { ...env, PORT: String(await freePort()) });
      expect(second.code).to.equal(2);
      expect(second.stderr.trim()).to.match(
        /^error: another LeadRelay server \(pid \d+\) is already running on .*; stop it first, or give this one its own DATA_DIR$/,
      );
      // The first one is unharmed.
      expect((await fetch(`${server.url}/readyz`)).status).to.equal(200);
    } finally {
      expect(await server.stop()).to.equal(0);
    }
  });

  it('on SIGTERM while Redis is unreachable, exits by itself through its shutdown path, bounded by its deadline', async () => {
    const closedPort = await freePort();
    const deadlineMs = 3000;
    const server = await startShell(
      `exec node ${BIN} start`,
      { ...env, REDIS_URL: `redis://127.0.0.1:${closedPort}`, SHUTDOWN_TIMEOUT_MS: String(deadlineMs) },
      port,
      '/healthz',
    );
    const readyz = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
    expect(readyz.status).to.equal(503);
    expect(await readyz.json()).to.include({ queue_backend: 'redis', queue: false, postgres: true });
    const t0 = Date.now();
    process.kill(server.proc.pid!, 'SIGTERM');
    const code = await server.exited;
    const took = Date.now() - t0;
    expect(code, server.output()).to.not.equal(null);
    expect(server.output()).to.contain('shutting down');
    // Either it drained and stopped, or its own deadline timer ended it (exit 1): not a hang.
    expect(server.output()).to.match(/"msg":"stopped"|shutdown deadline passed/);
    // The deadline plus what exiting takes on a loaded machine; a process stuck on Redis would run far past it.
    expect(took).to.be.lessThan(deadlineMs + 30_000);
  });

  it('starts with nothing configured at all: embedded PostgreSQL, queues in it, a development key, and a checklist of what Meta needs', async () => {
    const bareDir = mkdtempSync(join(tmpdir(), 'leadrelay-bare-'));
    const bare = { PATH: env.PATH, HOME: env.HOME, DATA_DIR: join(bareDir, 'data'), PORT: String(await freePort()), HOST: '127.0.0.1' };
    const server = await startShell(`exec node ${BIN} start`, bare, Number(bare.PORT));
    try {
      const res = await fetch(`${server.url}/readyz`);
      expect(await res.json()).to.include({ database: 'embedded', queue_backend: 'postgres', postgres: true, queue: true });
      // Unsigned traffic cannot be checked without the app secret: refused with the reason, so Meta retries later.
      const hook = await fetch(`${server.url}/webhooks/meta`, { method: 'POST', body: '{}' });
      expect(hook.status).to.equal(503);
      expect(((await hook.json()) as { error: string }).error).to.contain('META_APP_SECRET');
      expect(server.output()).to.contain('META_APP_SECRET is not set').and.contain('tunnel');
      // Operator commands share the data dir with the running server; stdout is the id alone.
      const ws = await runCli(['workspaces', 'create', '--name', 'Newcomer'], bare);
      expect(ws.code, ws.stderr).to.equal(0);
      expect(ws.stdout.trim()).to.match(/^[0-9a-f-]{36}$/);
      expect((await runCli(['workspaces', 'list'], bare)).stdout).to.contain(ws.stdout.trim());
    } finally {
      expect(await server.stop()).to.equal(0);
      rmSync(bareDir, { recursive: true, force: true });
    }
  });
});
