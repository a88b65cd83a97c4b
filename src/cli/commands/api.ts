// `leadrelay api <METHOD> <path>`: one call to the REST API with a workspace API key, in the
// style of `gh api`. The key comes from LEADRELAY_API_KEY, --key-file or --key-stdin, never from
// a flag's value (flags show in `ps` and in shell history). The answer's JSON goes to stdout; a
// refusal's problem (title, detail, the fields that were wrong) goes to stderr, exit code 1.
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { print, UsageError } from '../command-kit.js';

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

interface ApiCallOptions {
  data?: string;
  dataFile?: string;
  dataStdin?: boolean;
  keyFile?: string;
  keyStdin?: boolean;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function readFileNamed(path: string, flag: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new UsageError(`${flag}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function keyOf(o: ApiCallOptions, fromEnv: string | undefined): Promise<string> {
  if (o.keyFile && o.keyStdin) throw new UsageError('give the key one way: --key-file or --key-stdin');
  const raw = o.keyFile ? await readFileNamed(o.keyFile, '--key-file') : o.keyStdin ? await readStdin() : fromEnv;
  // A key is one line; a file or a pipe may add a newline.
  const key = raw?.trim();
  if (!key) throw new UsageError('no API key: set LEADRELAY_API_KEY, or use --key-file <file> or --key-stdin (create one with: leadrelay api-keys create)');
  if (/\s/.test(key)) throw new UsageError('the API key must be one line without spaces');
  return key;
}

async function bodyOf(o: ApiCallOptions): Promise<string | undefined> {
  const given = [o.data !== undefined, o.dataFile !== undefined, o.dataStdin === true].filter(Boolean).length;
  if (given > 1) throw new UsageError('give the body one way: --data, --data-file or --data-stdin');
  if (o.dataStdin && o.keyStdin) throw new UsageError('stdin can carry the key or the body, not both: put the key in LEADRELAY_API_KEY or --key-file');
  const text = o.data ?? (o.dataFile !== undefined ? await readFileNamed(o.dataFile, '--data-file') : o.dataStdin ? await readStdin() : undefined);
  if (text === undefined) return undefined;
  try {
    JSON.parse(text);
  } catch {
    throw new UsageError(`the body (${o.data !== undefined ? '--data' : o.dataFile !== undefined ? '--data-file' : '--data-stdin'}) is not valid JSON`);
  }
  return text;
}

/** `/workspaces` → `/api/v1/workspaces`; a path already under /api/ is kept. */
function apiPath(path: string): string {
  if (!path.startsWith('/')) throw new UsageError(`the path must start with "/", e.g. /workspaces (got "${path}")`);
  return path.startsWith('/api/') ? path : `/api/v1${path}`;
}

/** A problem+json answer as lines for stderr. */
function problemLines(status: number, text: string): string[] {
  let problem: { title?: string; detail?: string; errors?: { field: string; message: string }[] } = {};
  try {
    problem = JSON.parse(text);
  } catch {
    // not JSON: fall back to the status alone
  }
  const lines = [`error: ${status} ${problem.title ?? 'request failed'}${problem.detail ? `: ${problem.detail}` : ''}`];
  for (const e of problem.errors ?? []) lines.push(`  ${e.field}: ${e.message}`);
  return lines;
}

export function registerApiCommand(program: Command): void {
  program
    .command('api')
    .description('call the REST API with an API key (LEADRELAY_API_URL, default http://localhost:$PORT) and print the JSON answer')
    .argument('<method>', METHODS.join('|'))
    .argument('<path>', 'e.g. /workspaces or /workspaces/<id>/audit?limit=10 (under /api/v1)')
    .option('--data <json>', 'the request body (JSON)')
    .option('--data-file <file>', 'read the request body from a file')
    .option('--data-stdin', 'read the request body from stdin')
    .option('--key-file <file>', 'read the API key from a file (default: LEADRELAY_API_KEY)')
    .option('--key-stdin', 'read the API key from stdin')
    .addHelpText('after', '\nThe key is never a flag value: set LEADRELAY_API_KEY, or use --key-file or --key-stdin.')
    .action(async (methodArg: string, pathArg: string, o: ApiCallOptions) => {
      const method = methodArg.toUpperCase();
      if (!(METHODS as readonly string[]).includes(method)) throw new UsageError(`the method must be one of ${METHODS.join(', ')}, got "${methodArg}"`);
      const path = apiPath(pathArg);
      const { loadApiClientConfig } = await import('../../config/env.js');
      const config = loadApiClientConfig();
      const body = await bodyOf(o);
      const key = await keyOf(o, config.key);
      const url = `${config.url}${path}`;
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: { authorization: `Bearer ${key}`, accept: 'application/json', ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
          body,
          redirect: 'manual',
        });
      } catch (err) {
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw new Error(`cannot reach the API at ${config.url} (${cause?.code ?? cause?.message ?? (err as Error).message}); set LEADRELAY_API_URL`);
      }
      const text = await res.text();
      if (!res.ok) {
        process.stderr.write(`${problemLines(res.status, text).join('\n')}\n`);
        process.exitCode = 1;
        return;
      }
      if (!text) return;
      try {
        print(JSON.stringify(JSON.parse(text), null, 2));
      } catch {
        print(text);
      }
    });
}
