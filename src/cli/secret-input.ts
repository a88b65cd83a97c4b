// Secrets on the command line: the page token, and every connector flag its manifest marks
// `secret`. A flag's value shows in `ps` and lands in the shell history, so each secret flag
// --<flag> also comes as
//   --<flag>-file <path>   the file's content, one trailing newline dropped
//   --<flag>-stdin         all of standard input, one trailing newline dropped (one secret per command)
//   LEADRELAY_<FLAG>       an environment variable (`api-token` → LEADRELAY_API_TOKEN; empty = unset)
// Precedence: flag > file > stdin > variable; giving two of flag, file and stdin for one secret
// is refused, naming both. The flag still works, with a warning naming the safer forms.
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { Command } from 'commander';
import { UsageError, warn } from './command-kit.js';
import { commandEnvironment } from '../config/env.js';

/** One secret a command takes. */
export interface SecretFlag {
  /** The flag without its dashes, e.g. `api-token` for --api-token. */
  flag: string;
  /** What the secret is, for errors and prompts: "page access token". */
  what: string;
}

/** A secret as given, and the form that gave it (`--token`, `--token-file`, `--token-stdin` or `LEADRELAY_TOKEN`), for messages. */
export interface GivenSecret {
  value: string;
  givenAs: string;
}

/** Where secrets are read from; the process's own unless a test says otherwise. */
export interface SecretIo {
  env: Record<string, string | undefined>;
  stdin: Readable & { isTTY?: boolean };
  /** A warning line for the operator (stderr). */
  warn(line: string): void;
  /** A prompt for the operator (stderr), when stdin is a terminal. */
  prompt(line: string): void;
}

const processIo: SecretIo = {
  env: commandEnvironment(),
  // Only when a secret is read from it: every command (the server's too) loads this module.
  get stdin() {
    return process.stdin;
  },
  warn,
  prompt: (line) => process.stderr.write(`${line}\n`),
};

/** More than any token or signing secret: past it, the file or stdin is not a secret at all. */
const MAX_SECRET_BYTES = 64 * 1024;

/** The property commander keeps a flag's value under: `api-token` → `apiToken`. */
export function optionKeyOf(flag: string): string {
  return flag.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** The variable a secret can come from: `api-token` → `LEADRELAY_API_TOKEN`. */
export function envVarOf(flag: string): string {
  return `LEADRELAY_${flag.replace(/-/g, '_').toUpperCase()}`;
}

/** The safer forms of one secret flag, for messages: "--token-file <path>, --token-stdin or LEADRELAY_TOKEN". */
export function saferForms(flag: string): string {
  return `--${flag}-file <path>, --${flag}-stdin or ${envVarOf(flag)}`;
}

/**
 * Adds --<flag> <valueName>, --<flag>-file <path> and --<flag>-stdin to a command, described by
 * `description` (what the value is, e.g. "page access token").
 */
export function addSecretOptions(command: Command, flag: string, valueName: string, description: string): Command {
  return command
    .option(`--${flag} <${valueName}>`, `${description} (shows in ps and shell history: prefer the two forms below or ${envVarOf(flag)})`)
    .option(`--${flag}-file <path>`, `read --${flag} from this file (one trailing newline is dropped)`)
    .option(`--${flag}-stdin`, `read --${flag} from standard input (one secret per command)`);
}

/** Words joined into lines of at most `width` characters. */
function wrap(text: string, width = 80): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return [...lines, line].join('\n');
}

/** The help section on a command's secret flags: the safer forms, the variables and the precedence. */
export function secretHelpText(flags: string[]): string {
  const [first] = flags;
  const one = flags.length === 1;
  const named = one ? `--${first}` : `a secret flag (${flags.map((f) => `--${f}`).join(', ')})`;
  const safer = one
    ? `--${first}-file <path>, --${first}-stdin (e.g. piped from a password manager) or the environment variable ${envVarOf(first)}`
    : `--<flag>-file <path>, --<flag>-stdin (e.g. piped from a password manager) or the environment variable LEADRELAY_<FLAG> (${flags.map(envVarOf).join(', ')})`;
  return `\n${wrap(
    `Secrets: ${named} on the command line shows in ps and the shell history. Prefer ${safer}. ` +
      'Precedence: flag, file, stdin, variable; giving two of flag, file and stdin for one secret is an error, and stdin carries at most one secret per command.',
  )}`;
}

/** Drops one trailing newline (\n or \r\n): what `echo` and most editors add. */
function dropTrailingNewline(s: string): string {
  return s.replace(/\r?\n$/, '');
}

/** All of a stream, or 'too_large' once it passes `limit` bytes (the rest is not read). */
async function readAll(stream: Readable, limit: number): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += buf.length;
    if (size > limit) return 'too_large';
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

const fileErrors: Record<string, string> = {
  ENOENT: 'no such file',
  EACCES: 'permission denied',
  EISDIR: 'it is a directory',
};

/** Refuses what cannot be a secret: nothing, only whitespace, or more than one line. */
function checkValue(value: string, givenAs: string, what: string): string {
  if (!value.trim()) throw new UsageError(`${givenAs} must not be empty`);
  if (/[\r\n]/.test(value)) throw new UsageError(`${givenAs}: the ${what} must be one line, with nothing else in it`);
  return value;
}

async function readFileSecret(path: string, givenAs: string, what: string): Promise<string> {
  let content: Buffer | 'too_large';
  try {
    content = await readAll(createReadStream(path), MAX_SECRET_BYTES);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    throw new UsageError(`${givenAs}: cannot read ${path} (${fileErrors[code] ?? (code || (err as Error).message)})`);
  }
  if (content === 'too_large') throw new UsageError(`${givenAs}: ${path} is larger than ${MAX_SECRET_BYTES / 1024} KiB, so it is not a ${what}`);
  const value = dropTrailingNewline(content.toString('utf8'));
  if (!value.trim()) throw new UsageError(`${givenAs}: ${path} is empty`);
  return checkValue(value, givenAs, what);
}

async function readStdinSecret(io: SecretIo, givenAs: string, what: string): Promise<string> {
  // Read anyway (a person may type or paste it), but say what is awaited.
  if (io.stdin.isTTY) io.prompt(`${givenAs}: type or paste the ${what}, then Enter and Ctrl-D`);
  const content = await readAll(io.stdin, MAX_SECRET_BYTES);
  if (content === 'too_large') throw new UsageError(`${givenAs}: standard input is larger than ${MAX_SECRET_BYTES / 1024} KiB, so it is not a ${what}`);
  const value = dropTrailingNewline(content.toString('utf8'));
  if (!value.trim()) throw new UsageError(`${givenAs}: standard input was empty`);
  return checkValue(value, givenAs, what);
}

interface GivenForm {
  kind: 'flag' | 'file' | 'stdin';
  /** As typed: `--token`, `--token-file` or `--token-stdin`. */
  givenAs: string;
  /** The flag's value or the file's path ('' for stdin). */
  arg: string;
}

/** The form each secret was given in on the command line (none: maybe a variable), refusing every conflict. */
function explicitForms(secrets: SecretFlag[], options: Record<string, unknown>): { secret: SecretFlag; form?: GivenForm }[] {
  const explicit = secrets.map((secret) => {
    const { flag, what } = secret;
    const value = options[optionKeyOf(flag)];
    const file = options[optionKeyOf(`${flag}-file`)];
    const forms: GivenForm[] = [];
    if (typeof value === 'string') forms.push({ kind: 'flag', givenAs: `--${flag}`, arg: value });
    if (typeof file === 'string') forms.push({ kind: 'file', givenAs: `--${flag}-file`, arg: file });
    if (options[optionKeyOf(`${flag}-stdin`)] === true) forms.push({ kind: 'stdin', givenAs: `--${flag}-stdin`, arg: '' });
    if (forms.length > 1) throw new UsageError(`${forms.map((f) => f.givenAs).join(' and ')} both give the ${what}: give it once`);
    return { secret, form: forms[0] };
  });
  const fromStdin = explicit.flatMap((e) => (e.form?.kind === 'stdin' ? [e.form.givenAs] : []));
  if (fromStdin.length > 1)
    throw new UsageError(`${fromStdin.join(' and ')}: standard input carries one secret per command; give the others with --<flag>-file <path> or a variable`);
  return explicit;
}

/**
 * Refuses, without reading anything, two forms of one secret or two secrets on stdin: for a
 * command that learns which of its secret flags apply only later (`destinations reauth`).
 */
export function checkSecretForms(secrets: SecretFlag[], options: Record<string, unknown>): void {
  explicitForms(secrets, options);
}

/**
 * The secrets given to a command, by flag (a secret given in no form is absent). Every conflict
 * is refused before anything is read; then files, stdin and variables are read in turn, and each
 * secret given as a flag gets a warning line.
 */
export async function readSecrets(secrets: SecretFlag[], options: Record<string, unknown>, io: SecretIo = processIo): Promise<Map<string, GivenSecret>> {
  const given = new Map<string, GivenSecret>();
  for (const { secret, form } of explicitForms(secrets, options)) {
    const { flag, what } = secret;
    if (form?.kind === 'flag') {
      given.set(flag, { value: checkValue(form.arg, form.givenAs, what), givenAs: form.givenAs });
      io.warn(`--${flag} on the command line shows in ps and the shell history; give it with ${saferForms(flag)} instead`);
    } else if (form?.kind === 'file') {
      given.set(flag, { value: await readFileSecret(form.arg, form.givenAs, what), givenAs: form.givenAs });
    } else if (form?.kind === 'stdin') {
      given.set(flag, { value: await readStdinSecret(io, form.givenAs, what), givenAs: form.givenAs });
    } else {
      const variable = envVarOf(flag);
      const value = io.env[variable];
      // Empty is unset, as for the program's other variables.
      if (value) given.set(flag, { value: checkValue(value, variable, what), givenAs: variable });
    }
  }
  return given;
}
