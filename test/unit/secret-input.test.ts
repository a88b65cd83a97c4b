import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { expect } from 'chai';
import { Command } from 'commander';
import { UsageError } from '../../src/cli/command-kit.js';
import { addSecretOptions, checkSecretForms, envVarOf, readSecrets, type SecretFlag, type SecretIo, secretHelpText } from '../../src/cli/secret-input.js';

const TOKEN: SecretFlag = { flag: 'token', what: 'page access token' };
const API_TOKEN: SecretFlag = { flag: 'api-token', what: 'personal API token' };

/** A stdin that remembers whether it was read. */
function stdinOf(text: string, isTTY = false): Readable & { isTTY?: boolean; wasRead: () => boolean } {
  let read = false;
  const stream = Readable.from(
    (function* () {
      read = true;
      if (text) yield Buffer.from(text);
    })(),
  );
  return Object.assign(stream, { isTTY, wasRead: () => read });
}

function ioWith(opts: { env?: Record<string, string>; stdin?: string; isTTY?: boolean } = {}) {
  const warnings: string[] = [];
  const prompts: string[] = [];
  const stdin = stdinOf(opts.stdin ?? '', opts.isTTY);
  const io: SecretIo = { env: opts.env ?? {}, stdin, warn: (l) => warnings.push(l), prompt: (l) => prompts.push(l) };
  return { io, warnings, prompts, stdin };
}

/** The UsageError message `fn` rejects with. */
async function refusal(fn: () => Promise<unknown>): Promise<string> {
  try {
    await fn();
  } catch (err) {
    expect(err).to.be.instanceOf(UsageError);
    return (err as Error).message;
  }
  throw new Error('expected a UsageError');
}

describe('secret input (flag, file, stdin, variable)', () => {
  let dir: string;
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'leadrelay-secret-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('names the variable LEADRELAY_ plus the flag in upper snake case', () => {
    expect(envVarOf('token')).to.equal('LEADRELAY_TOKEN');
    expect(envVarOf('api-token')).to.equal('LEADRELAY_API_TOKEN');
    expect(envVarOf('client-secret')).to.equal('LEADRELAY_CLIENT_SECRET');
  });

  it('takes a flag value as typed, with one warning line naming the safer forms and not the value', async () => {
    const { io, warnings } = ioWith();
    const got = await readSecrets([TOKEN], { token: 'EAAB-flag-secret' }, io);
    expect(got.get('token')).to.deep.equal({ value: 'EAAB-flag-secret', givenAs: '--token' });
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.contain('ps').and.contain('--token-file').and.contain('--token-stdin').and.contain('LEADRELAY_TOKEN');
    expect(warnings[0]).to.not.contain('EAAB-flag-secret');
  });

  it('reads a file, dropping exactly one trailing newline (\\n or \\r\\n), without warnings', async () => {
    for (const [content, expected] of [
      ['EAAB-file-secret\n', 'EAAB-file-secret'],
      ['EAAB-file-secret\r\n', 'EAAB-file-secret'],
      ['EAAB-file-secret', 'EAAB-file-secret'],
      [' spaced secret ', ' spaced secret '],
    ]) {
      const { io, warnings } = ioWith();
      const got = await readSecrets([TOKEN], { tokenFile: file('token.txt', content) }, io);
      expect(got.get('token'), JSON.stringify(content)).to.deep.equal({ value: expected, givenAs: '--token-file' });
      expect(warnings).to.deep.equal([]);
    }
  });

  it('refuses a missing file or a directory, naming the flag and the path', async () => {
    const missing = join(dir, 'no-such-file');
    expect(await refusal(() => readSecrets([TOKEN], { tokenFile: missing }, ioWith().io))).to.equal(`--token-file: cannot read ${missing} (no such file)`);
    expect(await refusal(() => readSecrets([TOKEN], { tokenFile: dir }, ioWith().io))).to.equal(`--token-file: cannot read ${dir} (it is a directory)`);
  });

  it('refuses an empty file, one holding only a newline or whitespace, and one of more than one line', async () => {
    for (const content of ['', '\n', '  \n']) {
      const path = file('empty.txt', content);
      expect(await refusal(() => readSecrets([TOKEN], { tokenFile: path }, ioWith().io)), JSON.stringify(content)).to.equal(`--token-file: ${path} is empty`);
    }
    const twoLines = file('two-lines.txt', 'EAAB-first\nEAAB-second\n');
    const message = await refusal(() => readSecrets([TOKEN], { tokenFile: twoLines }, ioWith().io));
    expect(message).to.equal('--token-file: the page access token must be one line, with nothing else in it');
  });

  it('refuses a file larger than any secret, without echoing it', async () => {
    const big = file('big.bin', Buffer.alloc(65 * 1024, 'x'));
    const message = await refusal(() => readSecrets([TOKEN], { tokenFile: big }, ioWith().io));
    expect(message).to.equal(`--token-file: ${big} is larger than 64 KiB, so it is not a page access token`);
  });

  it('reads all of stdin, dropping one trailing newline', async () => {
    const { io, warnings, prompts, stdin } = ioWith({ stdin: 'EAAB-stdin-secret\n' });
    const got = await readSecrets([TOKEN], { tokenStdin: true }, io);
    expect(got.get('token')).to.deep.equal({ value: 'EAAB-stdin-secret', givenAs: '--token-stdin' });
    expect(stdin.wasRead()).to.equal(true);
    expect(warnings).to.deep.equal([]);
    expect(prompts).to.deep.equal([]);
  });

  it('refuses an empty stdin, naming the flag', async () => {
    for (const text of ['', '\n']) {
      const message = await refusal(() => readSecrets([TOKEN], { tokenStdin: true }, ioWith({ stdin: text }).io));
      expect(message, JSON.stringify(text)).to.equal('--token-stdin: standard input was empty');
    }
  });

  it('reads a terminal stdin too, after a prompt naming what it waits for', async () => {
    const { io, prompts } = ioWith({ stdin: 'EAAB-typed-secret\n', isTTY: true });
    expect((await readSecrets([TOKEN], { tokenStdin: true }, io)).get('token')?.value).to.equal('EAAB-typed-secret');
    expect(prompts).to.have.length(1);
    expect(prompts[0]).to.contain('--token-stdin').and.contain('page access token');
  });

  it('takes the variable when no flag, file or stdin gives the secret; an empty one counts as unset', async () => {
    const given = await readSecrets([API_TOKEN], {}, ioWith({ env: { LEADRELAY_API_TOKEN: 'pd-env-secret' } }).io);
    expect(given.get('api-token')).to.deep.equal({ value: 'pd-env-secret', givenAs: 'LEADRELAY_API_TOKEN' });
    expect((await readSecrets([API_TOKEN], {}, ioWith({ env: { LEADRELAY_API_TOKEN: '' } }).io)).has('api-token')).to.equal(false);
    expect((await readSecrets([API_TOKEN], {}, ioWith().io)).has('api-token')).to.equal(false);
  });

  it('prefers flag, then file, then stdin, over the variable', async () => {
    const env = { LEADRELAY_TOKEN: 'from-variable' };
    const path = file('precedence.txt', 'from-file\n');
    expect((await readSecrets([TOKEN], { token: 'from-flag' }, ioWith({ env }).io)).get('token')?.value).to.equal('from-flag');
    expect((await readSecrets([TOKEN], { tokenFile: path }, ioWith({ env }).io)).get('token')?.value).to.equal('from-file');
    expect((await readSecrets([TOKEN], { tokenStdin: true }, ioWith({ env, stdin: 'from-stdin' }).io)).get('token')?.value).to.equal('from-stdin');
  });

  it('refuses two of flag, file and stdin for one secret, naming both, before reading stdin', async () => {
    const path = file('conflict.txt', 'from-file');
    const cases: [Record<string, unknown>, string][] = [
      [{ token: 'a', tokenFile: path }, '--token and --token-file both give the page access token: give it once'],
      [{ token: 'a', tokenStdin: true }, '--token and --token-stdin both give the page access token: give it once'],
      [{ tokenFile: path, tokenStdin: true }, '--token-file and --token-stdin both give the page access token: give it once'],
    ];
    for (const [options, expected] of cases) {
      const { io, stdin, warnings } = ioWith({ stdin: 'from-stdin' });
      expect(await refusal(() => readSecrets([TOKEN], options, io))).to.equal(expected);
      expect(stdin.wasRead(), 'stdin read').to.equal(false);
      expect(warnings).to.deep.equal([]);
    }
  });

  it('refuses a second secret on stdin, naming both flags', async () => {
    const { io, stdin } = ioWith({ stdin: 'one' });
    const message = await refusal(() => readSecrets([TOKEN, API_TOKEN], { tokenStdin: true, apiTokenStdin: true }, io));
    expect(message).to.match(/^--token-stdin and --api-token-stdin: standard input carries one secret per command/);
    expect(stdin.wasRead()).to.equal(false);
    expect(() => checkSecretForms([TOKEN, API_TOKEN], { tokenStdin: true, apiTokenStdin: true })).to.throw(UsageError, /--token-stdin and --api-token-stdin/);
  });

  it('reads several secrets from their own forms in one command', async () => {
    const path = file('api-token.txt', 'pd-file-secret\n');
    const { io } = ioWith({ stdin: 'EAAB-stdin-secret\n' });
    const got = await readSecrets([TOKEN, API_TOKEN], { tokenStdin: true, apiTokenFile: path }, io);
    expect(got.get('token')?.value).to.equal('EAAB-stdin-secret');
    expect(got.get('api-token')?.value).to.equal('pd-file-secret');
  });

  it('refuses an empty or whitespace flag value, without a warning', async () => {
    const { io, warnings } = ioWith();
    expect(await refusal(() => readSecrets([TOKEN], { token: ' ' }, io))).to.equal('--token must not be empty');
    expect(warnings).to.deep.equal([]);
  });

  it('adds the flag, -file and -stdin options, and --help names the variable and the precedence', () => {
    const command = new Command('add').exitOverride();
    addSecretOptions(command, 'api-token', 'token', 'personal API token').addHelpText('after', secretHelpText(['api-token']));
    let help = '';
    command.configureOutput({ writeOut: (s) => (help += s) });
    command.outputHelp();
    const flat = help.replace(/\s+/g, ' ');
    expect(flat).to.contain('--api-token <token> personal API token');
    expect(flat).to.contain('--api-token-file <path>');
    expect(flat).to.contain('--api-token-stdin');
    expect(flat).to.contain('LEADRELAY_API_TOKEN');
    expect(flat).to.contain('Precedence: flag, file, stdin, variable');
    command.parse(['--api-token-file', '/tmp/x', '--api-token-stdin'], { from: 'user' });
    expect(command.opts()).to.deep.equal({ apiTokenFile: '/tmp/x', apiTokenStdin: true });
  });
});
