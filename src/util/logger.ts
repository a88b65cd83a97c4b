// Structured logs (pino). Secrets and lead answers never reach a log line: callers log ids,
// codes and reasons only, and these paths are redacted as a second line of defence.
import { pino, type Logger } from 'pino';

export type { Logger };

const REDACT = [
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'secret',
  'appSecret',
  'password',
  'authorization',
  'headers.authorization',
  'credentials',
  'answers',
  'field_data',
  'fields',
  'body',
  'email',
  'phone',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.secret',
  '*.credentials',
  '*.answers',
  '*.field_data',
  '*.body',
];

export function createLogger(level: string, opts: { name?: string; destination?: NodeJS.WritableStream } = {}): Logger {
  return pino(
    {
      level,
      name: opts.name ?? 'leadrelay',
      redact: { paths: REDACT, censor: '[redacted]' },
      base: { pid: process.pid },
    },
    opts.destination as never,
  );
}
