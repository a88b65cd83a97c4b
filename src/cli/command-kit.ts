// What every command group shares: the operator-mistake error, printing, argument parsers and
// the shape of `withApp`. Light on purpose (types only beside this file's own code): each command
// file imports it at the top level, and `leadrelay --help` loads them all.
import { hostname, userInfo } from 'node:os';
import type { App } from '../app.js';

/** An operator mistake: printed as one line, exit code 2. */
export class UsageError extends Error {}

/** The program's heavier modules, loaded by `withApp` only when a command runs. */
export interface CommandModules {
  repo: typeof import('../store/repos.js');
  replay: typeof import('../pipeline/replay.js');
  migrations: typeof import('../store/migrate.js');
}

interface WithAppOptions {
  queues?: boolean;
  migrate?: boolean;
  readOnly?: boolean;
}

/** Runs a command with the program's parts (see main.ts). */
export type WithApp = <T>(opts: WithAppOptions, fn: (app: App, modules: CommandModules) => Promise<T>) => Promise<T>;

/** What a command group's `register…Commands` needs from main.ts. */
export interface CommandDeps {
  withApp: WithApp;
}

export const print = (s: string) => process.stdout.write(`${s}\n`);
export const warn = (s: string) => process.stderr.write(`warning: ${s}\n`);
export const printJson = (value: unknown) => print(JSON.stringify(value, null, 2));
export const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} must be a positive whole number, got "${v}"`);
  return n;
}

export async function requireWorkspace(app: App, repo: CommandModules['repo'], id: string) {
  const ws = await repo.findWorkspace(app.db, id);
  if (!ws) throw new UsageError(`workspace "${id}" not found (list them with: leadrelay workspaces list)`);
  return ws;
}

/** The operator as the audit log names them: the account running the CLI on this machine. */
export function operatorActor() {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // no passwd entry for this uid (some containers): still an operator
  }
  return { type: 'operator' as const, id: null, label: `${user}@${hostname()} (CLI)` };
}
