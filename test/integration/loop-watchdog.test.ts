// The in-process watchdog of a worker with an outside supervisor: a process whose event loop is
// stuck (here a busy loop) is killed by the watchdog thread, which writes one line naming why.
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MODULE = fileURLToPath(new URL('../../src/util/loop-watchdog.js', import.meta.url));

/** Runs a script that starts the watchdog, then its `then` code; resolves with how it ended. */
function runWithWatchdog(then: string): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string }> {
  const script = `import { startLoopWatchdog } from ${JSON.stringify(MODULE)};
const watchdog = startLoopWatchdog({ stallMs: 400, role: 'work' });
${then}`;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.once('exit', (code, signal) => resolve({ code, signal, stdout }));
  });
}

describe('loop watchdog', function () {
  this.timeout(60_000);

  it('kills a process whose event loop is stuck, with one log line naming the stall', async () => {
    const { signal, stdout } = await runWithWatchdog(`setTimeout(() => { for (;;) {} }, 1000);`);
    expect(signal).to.equal('SIGKILL');
    const lines = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 60, role: 'work' });
    expect(lines[0].msg).to.match(/^event loop stuck for \d+ ms \(WATCHDOG_STALL_MS=400\)/);
  });

  it('leaves a process alone while its event loop turns, and lets it exit once stopped', async () => {
    const { code, signal, stdout } = await runWithWatchdog(`let n = 0;
const t = setInterval(async () => { if (++n === 30) { clearInterval(t); await watchdog.stop(); console.log('done'); } }, 50);`);
    expect([code, signal]).to.deep.equal([0, null]);
    expect(stdout.trim()).to.equal('done');
  });
});
