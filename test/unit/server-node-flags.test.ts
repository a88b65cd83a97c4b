import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { SERVER_NODE_FLAGS, WORKER_SEMI_SPACE_FLAG, workerExecArgv } from '../../src/cli/server-node-flags.js';

// dist/test/unit → the project root.
const root = resolve(import.meta.dirname, '../../..');
const read = (path: string) => readFileSync(resolve(root, path), 'utf8');

describe('server node flags', () => {
  it('are on the binary shebang line', () => {
    const shebang = read('src/cli/main.ts').split('\n')[0];
    expect(shebang).to.equal(`#!/usr/bin/env -S node ${SERVER_NODE_FLAGS.join(' ')}`);
  });

  it('are the Docker image NODE_OPTIONS', () => {
    expect(read('Dockerfile')).to.include(`NODE_OPTIONS="${SERVER_NODE_FLAGS.join(' ')}"`);
  });

  it('are on the npm start script', () => {
    const scripts = (JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts;
    expect(scripts.start).to.include(`node ${SERVER_NODE_FLAGS.join(' ')} dist/src/cli/main.js start`);
  });

  it("give the worker child its parent's options with the worker's semi-space in place of the parent's", () => {
    expect(workerExecArgv(['--max-semi-space-size=8', '--max-old-space-size=384', '--cpu-prof'])).to.deep.equal([
      '--max-old-space-size=384',
      '--cpu-prof',
      WORKER_SEMI_SPACE_FLAG,
    ]);
    expect(workerExecArgv(['--max_semi_space_size', '--inspect'])).to.deep.equal(['--inspect', WORKER_SEMI_SPACE_FLAG]);
    expect(workerExecArgv([])).to.deep.equal([WORKER_SEMI_SPACE_FLAG]);
  });
});
