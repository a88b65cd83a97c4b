// Summarises V8 .cpuprofile files (node --cpu-prof): self time per function, per module (the npm
// package or the source file), and per area of the pipeline. A sample's area is that of the
// deepest frame on its stack that belongs to the program or to a package, so time in Node's own
// internals (the HTTP parser, JSON, crypto, streams) counts for whoever called them: HMAC
// hashing under src/meta/signature.ts counts as "signature", JSON.stringify inside pino as
// "logging". Samples with no such frame (the event loop, GC, native) keep their own names.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  /** Sampled time, ms (idle excluded). */
  busyMs: number;
  idleMs: number;
  byArea: Map<string, number>;
  byModule: Map<string, number>;
  byFunction: Map<string, number>;
  files: number;
}

/** Areas of the pipeline, by npm package. */
const PACKAGE_AREAS: Record<string, string> = {
  bullmq: 'BullMQ/Redis client',
  ioredis: 'BullMQ/Redis client',
  '@ioredis/commands': 'BullMQ/Redis client',
  'redis-parser': 'BullMQ/Redis client',
  'redis-errors': 'BullMQ/Redis client',
  'cluster-key-slot': 'BullMQ/Redis client',
  'standard-as-callback': 'BullMQ/Redis client',
  msgpackr: 'BullMQ/Redis client',
  'cron-parser': 'BullMQ/Redis client',
  uuid: 'BullMQ/Redis client',
  pg: 'Kysely/pg',
  'pg-pool': 'Kysely/pg',
  'pg-protocol': 'Kysely/pg',
  'pg-types': 'Kysely/pg',
  'pg-connection-string': 'Kysely/pg',
  'postgres-array': 'Kysely/pg',
  'postgres-date': 'Kysely/pg',
  'postgres-interval': 'Kysely/pg',
  'postgres-bytea': 'Kysely/pg',
  kysely: 'Kysely/pg',
  pino: 'logging',
  'pino-std-serializers': 'logging',
  'sonic-boom': 'logging',
  'thread-stream': 'logging',
  'fast-redact': 'logging',
  '@pinojs/redact': 'logging',
  'quick-format-unescaped': 'logging',
  'atomic-sleep': 'logging',
  'on-exit-leak-free': 'logging',
  'safe-stable-stringify': 'logging',
  express: 'HTTP server (express)',
  router: 'HTTP server (express)',
  'body-parser': 'HTTP server (express)',
  'raw-body': 'HTTP server (express)',
  finalhandler: 'HTTP server (express)',
  'on-finished': 'HTTP server (express)',
  'type-is': 'HTTP server (express)',
  'content-type': 'HTTP server (express)',
  'iconv-lite': 'HTTP server (express)',
  qs: 'HTTP server (express)',
  debug: 'HTTP server (express)',
  'path-to-regexp': 'HTTP server (express)',
  'mime-types': 'HTTP server (express)',
  'media-typer': 'HTTP server (express)',
  negotiator: 'HTTP server (express)',
  accepts: 'HTTP server (express)',
  'http-errors': 'HTTP server (express)',
  statuses: 'HTTP server (express)',
  cookie: 'HTTP server (express)',
  axios: 'HTTP client (Graph, CRM)',
  'follow-redirects': 'HTTP client (Graph, CRM)',
  'form-data': 'HTTP client (Graph, CRM)',
  'proxy-from-env': 'HTTP client (Graph, CRM)',
  undici: 'HTTP client (Graph, CRM)',
  'p-retry': 'HTTP client (Graph, CRM)',
  zod: 'validation (zod)',
  'prom-client': 'metrics (prom-client)',
  'rate-limiter-flexible': 'rate limiting',
};

/** Helpers used from several areas: their time counts for the caller (e.g. phone parsing in redaction or in the blind index). */
const TRANSPARENT_PACKAGES = new Set(['libphonenumber-js', 'tslib']);

/** Areas of the program, by source path under dist/ (first match wins). */
const SOURCE_AREAS: [RegExp, string][] = [
  [/\/src\/meta\/signature\./, 'signature'],
  [/\/src\/http\/(meta-webhook|intake-batcher)\./, 'HTTP intake'],
  [/\/src\/meta\/(graph-client|graph-errors|page-access|webhook-payload)\./, 'Graph fetch'],
  [/\/src\/pipeline\/fetch-lead\./, 'Graph fetch'],
  [/\/src\/lead\/redact\./, 'delivery: redacting the CRM answer'],
  [/\/src\/(lead\/blind-index|pipeline\/lead-search-index)\./, 'search index (blind index)'],
  [/\/src\/(mapping|lead)\//, 'mapping'],
  [/\/src\/pipeline\/(mapping-step|routing|lead-record)\./, 'mapping'],
  [/\/src\/pipeline\/(deliver-lead|connector-|backoff)/, 'delivery'],
  [/\/connectors\//, 'delivery'],
  [/\/src\/crypto\//, 'encryption (envelope)'],
  [/\/src\/store\//, 'Kysely/pg'],
  [/\/src\/pipeline\/(queues|workers|periodic|maintenance|monitors|reconcile)\./, 'BullMQ/Redis client'],
  [/\/src\/util\/logger\./, 'logging'],
  [/\/src\/util\/metrics\./, 'metrics (prom-client)'],
  [/\/src\/http\//, 'HTTP server (express)'],
];

function packageOf(url: string): string | undefined {
  const i = url.lastIndexOf('/node_modules/');
  if (i < 0) return undefined;
  const rest = url.slice(i + '/node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

function sourceOf(url: string): string | undefined {
  const m = /\/dist\/((?:src|connectors)\/.*)$/.exec(url);
  return m ? m[1] : undefined;
}

/** The module a frame belongs to: an npm package, a program file, a Node internal, or a V8 pseudo-frame. */
function moduleOf(frame: CallFrame): string {
  const pkg = packageOf(frame.url);
  if (pkg) return pkg;
  const src = sourceOf(frame.url);
  if (src) return src;
  if (frame.url.startsWith('node:')) return frame.url;
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  return frame.url.replace(/^file:\/\//, '');
}

function areaOfFrame(frame: CallFrame): string | undefined {
  const pkg = packageOf(frame.url);
  if (pkg && TRANSPARENT_PACKAGES.has(pkg)) return undefined;
  if (pkg) return PACKAGE_AREAS[pkg] ?? `other package (${pkg})`;
  const src = sourceOf(frame.url);
  if (src) {
    for (const [re, area] of SOURCE_AREAS) if (re.test(frame.url)) return area;
    return `program, other (${src.split('/').slice(0, 2).join('/')})`;
  }
  return undefined;
}

/** A sample whose whole stack is Node/V8: name it by the outermost internal frame. */
function areaOfInternal(stack: CallFrame[]): string {
  const leaf = stack[0];
  if (leaf.functionName === '(garbage collector)') return 'GC';
  if (leaf.functionName === '(program)') return 'V8/native, unattributed (program)';
  const root = stack.filter((f) => f.url).at(-1);
  if (!root) return `native (${leaf.functionName || 'anonymous'})`;
  if (/_http_|internal\/http|node:http/.test(root.url)) return 'Node http internals (no program frame)';
  if (/net|stream|tcp/.test(root.url)) return 'Node socket/stream internals (no program frame)';
  if (/timers/.test(root.url)) return 'Node timers (no program frame)';
  return `Node internals (${root.url})`;
}

const add = (m: Map<string, number>, k: string, v: number) => m.set(k, (m.get(k) ?? 0) + v);

/**
 * Reads every .cpuprofile in `dir`. With `window` (CLOCK_MONOTONIC µs, as process.hrtime gives and
 * V8 stamps samples), only samples inside it count: start-up and warm-up stay out.
 */
export function summarizeProfiles(dir: string, window?: { fromUs: number; toUs: number }): ProfileSummary {
  const summary: ProfileSummary = { busyMs: 0, idleMs: 0, byArea: new Map(), byModule: new Map(), byFunction: new Map(), files: 0 };
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    summary.files++;
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const byId = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const selfUs = new Map<number, number>();
    // timeDeltas[i] is the time before sample i; the time after it is the next delta.
    let at = profile.startTime;
    for (let i = 0; i < profile.samples.length; i++) {
      at += profile.timeDeltas[i];
      if (window && (at < window.fromUs || at > window.toUs)) continue;
      selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (profile.timeDeltas[i + 1] ?? 0));
    }
    const areaCache = new Map<number, string>();
    const areaOf = (id: number): string => {
      const cached = areaCache.get(id);
      if (cached) return cached;
      const stack: CallFrame[] = [];
      let area: string | undefined;
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const frame = byId.get(at)!.callFrame;
        area = areaOfFrame(frame);
        if (area) break;
        stack.push(frame);
      }
      const result = area ?? areaOfInternal(stack);
      areaCache.set(id, result);
      return result;
    };
    for (const [id, us] of selfUs) {
      const frame = byId.get(id)!.callFrame;
      const ms = us / 1000;
      if (frame.functionName === '(idle)') {
        summary.idleMs += ms;
        continue;
      }
      summary.busyMs += ms;
      add(summary.byArea, areaOf(id), ms);
      const mod = moduleOf(frame);
      add(summary.byModule, mod, ms);
      add(summary.byFunction, `${frame.functionName || '(anonymous)'}  ${mod}${frame.url ? `:${frame.lineNumber + 1}` : ''}`, ms);
    }
  }
  return summary;
}

/** The largest entries of a map, as [key, value] pairs. */
export function top(m: Map<string, number>, n: number): [string, number][] {
  return [...m].sort((a, b) => b[1] - a[1]).slice(0, n);
}
