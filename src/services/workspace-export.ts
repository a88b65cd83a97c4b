// Workspace export: everything a workspace owns as one .tar.gz, one JSON file per table plus
// leads.csv. Pages without their tokens, destinations without their credentials, API keys
// without their hashes, members without passwords or MFA secrets; leads with their answers
// (decrypted: the archive is personal data, made on an owner's request and kept 24 hours).
// It runs in the background of the server process that was asked, with its progress in
// export_jobs (any process can report it); tables are written one by one to files under
// DATA_DIR/exports (directory 700, files 600), so memory stays flat however large the workspace.
import { once } from 'node:events';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { stringify } from 'csv-stringify';
import tar from 'tar-stream';
import type { App } from '../app.js';
import {
  EXPORT_HEARTBEAT_TIMEOUT_MS,
  finishExportJob,
  findExportJob,
  listExpiredExports,
  listKeptExportFiles,
  markExportExpired,
  recordExportProgress,
  startExportJob,
} from '../store/export-jobs.js';
import * as repo from '../store/repos.js';
import type { ExportJob } from '../store/schema.js';
import * as store from '../store/workspace-export.js';
import { errorSummary } from '../util/error-summary.js';
import { ConflictError, NotFoundError } from './errors.js';
import { csvColumnsFor, csvRowsOf, exportLead, questionLabelsOf } from './lead-export.js';

/** How long an archive is kept after it is made. */
const EXPORT_TTL_MS = 24 * 3_600_000;
/** How often progress (and the heartbeat) is written while an export runs. */
const PROGRESS_EVERY_MS = 1000;
const BATCH = 500;

export const exportsDirOf = (app: App) => join(app.config.database.dataDir, 'exports');

export type ExportState = 'running' | 'done' | 'failed' | 'expired' | 'abandoned';

function exportStateOf(job: ExportJob, now = Date.now()): ExportState {
  if (job.status !== 'running') return job.status;
  return now - new Date(job.heartbeat_at).getTime() > EXPORT_HEARTBEAT_TIMEOUT_MS ? 'abandoned' : 'running';
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

export function describeExportJob(job: ExportJob) {
  const state = exportStateOf(job);
  return {
    id: job.id,
    status: state,
    done: job.done,
    total: job.total,
    /** 0 to 1. */
    progress: state === 'done' ? 1 : job.total > 0 ? Math.min(1, job.done / job.total) : 0,
    size_bytes: job.size_bytes,
    requested_by: job.requested_by,
    created_at: iso(job.created_at)!,
    finished_at: iso(job.finished_at),
    expires_at: iso(job.expires_at),
  };
}

// ---- writing files ------------------------------------------------------------------------

async function write(out: WriteStream, chunk: string): Promise<void> {
  if (!out.write(chunk)) await once(out, 'drain');
}

async function close(out: WriteStream): Promise<void> {
  out.end();
  await once(out, 'finish');
}

/** A JSON array, one element per line (so it can be read back line by line). */
class JsonArrayFile {
  private readonly out: WriteStream;
  private count = 0;
  constructor(readonly path: string) {
    this.out = createWriteStream(path, { mode: 0o600 });
  }
  async add(row: unknown): Promise<void> {
    await write(this.out, `${this.count === 0 ? '[\n' : ',\n'}${JSON.stringify(row)}`);
    this.count++;
  }
  async close(): Promise<number> {
    await write(this.out, this.count === 0 ? '[]\n' : '\n]\n');
    await close(this.out);
    return this.count;
  }
}

type Progress = (rows: number) => void;

/** A whole (small) table at once. */
async function writeAll(dir: string, name: string, rows: unknown[], progress: Progress): Promise<number> {
  const file = new JsonArrayFile(join(dir, name));
  for (const r of rows) await file.add(r);
  progress(rows.length);
  return file.close();
}

/** A large table a batch at a time, by its id (keyset paging). */
async function writePaged<K extends string | number, T extends { id: K }>(
  dir: string,
  name: string,
  page: (after: K | null) => Promise<T[]>,
  shape: (row: T) => unknown,
  progress: Progress,
): Promise<number> {
  const file = new JsonArrayFile(join(dir, name));
  let after: K | null = null;
  for (;;) {
    const rows = await page(after);
    for (const r of rows) await file.add(shape(r));
    progress(rows.length);
    if (rows.length < BATCH) break;
    after = rows[rows.length - 1]!.id;
  }
  return file.close();
}

/** The leads, with answers: leads.json, and the rows of leads.csv (their columns are known only at the end). */
async function writeLeads(app: App, workspaceId: string, dir: string, progress: Progress): Promise<{ leads: number; csvRows: number }> {
  const labels = await questionLabelsOf(app.db, workspaceId);
  const destinations = new Map((await repo.listDestinations(app.db, workspaceId)).map((d) => [d.id, d]));
  const json = new JsonArrayFile(join(dir, 'leads.json'));
  const rowsPath = join(dir, '.leads-csv-rows.jsonl');
  const rowsOut = createWriteStream(rowsPath, { mode: 0o600 });
  const answerKeys = new Set<string>();
  const consentKeys = new Set<string>();
  let after: string | null = null;
  let csvRows = 0;
  for (;;) {
    const leads = await store.pageOfLeads(app.db, workspaceId, after, BATCH);
    const deliveries = await repo.listDeliveriesOfLeads(
      app.db,
      leads.map((l) => l.id),
    );
    for (const lead of leads) {
      // The attempts are in delivery_attempts.json; the CSV names each delivery's outcome.
      const history = deliveries.filter((d) => d.lead_id === lead.id).map((delivery) => ({ delivery, attempts: [] }));
      const exported = exportLead(app, lead, history, destinations, labels.get(lead.form_id ?? ''));
      const { deliveries: _omitted, ...withoutDeliveries } = exported;
      await json.add({ ...withoutDeliveries, event_id: lead.event_id, fetched_at: iso(lead.fetched_at), updated_at: iso(lead.updated_at) });
      for (const a of exported.answers ?? []) answerKeys.add(a.key);
      for (const c of exported.consents ?? []) consentKeys.add(c.key);
      for (const row of csvRowsOf(exported)) {
        await write(rowsOut, `${JSON.stringify(row)}\n`);
        csvRows++;
      }
    }
    progress(leads.length);
    if (leads.length < BATCH) break;
    after = leads[leads.length - 1]!.id;
  }
  const count = await json.close();
  await close(rowsOut);

  const csvOut = createWriteStream(join(dir, 'leads.csv'), { mode: 0o600 });
  const csv = stringify({ header: true, columns: csvColumnsFor(answerKeys, consentKeys) });
  const written = pipeline(csv, csvOut);
  for await (const line of createInterface({ input: createReadStream(rowsPath), crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line && !csv.write(JSON.parse(line))) await once(csv, 'drain');
  }
  csv.end();
  await written;
  await rm(rowsPath, { force: true });
  return { leads: count, csvRows };
}

/** Every table of the workspace into `dir`; returns rows per file. */
async function writeTables(app: App, workspaceId: string, dir: string, progress: Progress): Promise<Record<string, number>> {
  const { db } = app;
  const counts: Record<string, number> = {};
  const none = () => {};
  const ws = await repo.findWorkspace(db, workspaceId);
  if (!ws) throw new NotFoundError(`workspace "${workspaceId}"`);
  counts['workspace.json'] = await writeAll(dir, 'workspace.json', [ws], none);
  counts['members.json'] = await writeAll(dir, 'members.json', await store.listMembersForExport(db, workspaceId), none);
  counts['api_keys.json'] = await writeAll(dir, 'api_keys.json', await store.listApiKeysForExport(db, workspaceId), none);
  // Never a token or a credential: pages, Facebook connections and destinations without them.
  counts['pages.json'] = await writeAll(dir, 'pages.json', await store.listPagesForExport(db, workspaceId), progress);
  counts['page_checks.json'] = await writeAll(dir, 'page_checks.json', await store.listPageChecksForExport(db, workspaceId), none);
  counts['facebook_connections.json'] = await writeAll(dir, 'facebook_connections.json', await store.listFacebookConnectionsForExport(db, workspaceId), none);
  counts['destinations.json'] = await writeAll(dir, 'destinations.json', await store.listDestinationsForExport(db, workspaceId), progress);
  const routes = await repo.listRoutes(db, workspaceId);
  counts['routes.json'] = await writeAll(
    dir,
    'routes.json',
    routes.map(({ mapping: _m, filter: _f, ...r }) => r),
    progress,
  );
  counts['mappings.json'] = await writeAll(
    dir,
    'mappings.json',
    routes.map((r) => ({ route_id: r.id, mapping: r.mapping, filter: r.filter })),
    none,
  );
  counts['forms.json'] = await writeAll(dir, 'forms.json', await store.listFormsForExport(db, workspaceId), progress);
  const leads = await writeLeads(app, workspaceId, dir, progress);
  counts['leads.json'] = leads.leads;
  counts['leads.csv'] = leads.csvRows;
  const same = <T>(r: T) => r;
  counts['deliveries.json'] = await writePaged(
    dir,
    'deliveries.json',
    (after: string | null) => store.pageOfDeliveries(db, workspaceId, after, BATCH),
    same,
    progress,
  );
  counts['delivery_attempts.json'] = await writePaged(
    dir,
    'delivery_attempts.json',
    (after: number | null) => store.pageOfAttempts(db, workspaceId, after, BATCH),
    same,
    progress,
  );
  counts['leadgen_events.json'] = await writePaged(
    dir,
    'leadgen_events.json',
    (after: number | null) => store.pageOfEvents(db, workspaceId, after, BATCH),
    same,
    progress,
  );
  counts['audit_log.json'] = await writePaged(
    dir,
    'audit_log.json',
    (after: number | null) => store.pageOfAuditEntries(db, workspaceId, after, BATCH),
    same,
    progress,
  );
  counts['data_requests.json'] = await writeAll(dir, 'data_requests.json', await store.listDataRequestsForExport(db, workspaceId), none);
  return counts;
}

/** Packs the files of `dir` (in `names` order) into a gzipped tar at `path` (mode 600). */
async function packArchive(dir: string, names: string[], path: string): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createGzip(), createWriteStream(path, { mode: 0o600 }));
  for (const name of names) {
    const { size, mtime } = await stat(join(dir, name));
    await new Promise<void>((resolve, reject) => {
      const entry = pack.entry({ name, size, mode: 0o600, mtime }, (err) => (err ? reject(err) : resolve()));
      (async () => {
        for await (const chunk of createReadStream(join(dir, name))) if (!entry.write(chunk)) await once(entry, 'drain');
        // (streamx's typings want an argument; undefined writes nothing more)
        entry.end(undefined);
      })().catch(reject);
    });
  }
  pack.finalize();
  await written;
}

/** Builds the archive for a job; returns its file name (under the exports directory), size and the rows written. */
async function buildArchive(app: App, job: ExportJob, onProgress: (done: number, total: number) => void) {
  const dir = exportsDirOf(app);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const work = await mkdtemp(join(dir, `.work-${job.id}-`));
  try {
    const total = await store.countExportRows(app.db, job.workspace_id);
    let done = 0;
    onProgress(0, total);
    const counts = await writeTables(app, job.workspace_id, work, (n) => {
      done += n;
      onProgress(Math.min(done, total), Math.max(total, done));
    });
    const manifest = {
      format: 'leadrelay.workspace-export/v1',
      workspace_id: job.workspace_id,
      export_id: job.id,
      created_at: new Date().toISOString(),
      note: 'Pages without tokens, destinations without credentials, API keys without their hashes. leads.json and leads.csv hold lead answers (personal data).',
      files: counts,
    };
    await writeAll(work, 'manifest.json', [manifest], () => {});
    const fileName = `${job.id}.tar.gz`;
    const partial = join(work, fileName);
    await packArchive(work, ['manifest.json', ...Object.keys(counts)], partial);
    await rename(partial, join(dir, fileName));
    const { size } = await stat(join(dir, fileName));
    return { fileName, sizeBytes: size, rows: done };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * Starts an export of the workspace in the background of this process and returns its job;
 * ConflictError while another export of the workspace is running.
 */
export async function startWorkspaceExport(app: App, workspaceId: string, requestedBy: string | null): Promise<ExportJob> {
  // This process's own expired archives go first (the maintenance loop may run on another host).
  await deleteExpiredExports(app).catch((err) => app.logger.warn({ err: errorSummary(err) }, 'could not delete expired workspace exports'));
  const job = await startExportJob(app.db, workspaceId, requestedBy);
  if (!job) throw new ConflictError('an export of this workspace is already running; follow it with GET …/exports/{exportId}');
  let last = { done: 0, total: 0 };
  let lastWrite = 0;
  const heartbeat = setInterval(() => {
    recordExportProgress(app.db, job.id, last.done, last.total).catch(() => {});
  }, EXPORT_HEARTBEAT_TIMEOUT_MS / 4);
  heartbeat.unref();
  buildArchive(app, job, (done, total) => {
    last = { done, total };
    const now = Date.now();
    if (now - lastWrite < PROGRESS_EVERY_MS) return;
    lastWrite = now;
    recordExportProgress(app.db, job.id, done, total).catch((err) => app.logger.warn({ err: errorSummary(err) }, 'could not record export progress'));
  })
    .then(
      (r) => finishExportJob(app.db, job.id, { fileName: r.fileName, sizeBytes: r.sizeBytes, expiresAt: new Date(Date.now() + EXPORT_TTL_MS), done: r.rows }),
      (err) => {
        app.logger.error({ err: errorSummary(err), exportId: job.id }, 'workspace export failed');
        return finishExportJob(app.db, job.id, { error: errorSummary(err).name ?? 'failed' });
      },
    )
    .catch((err) => app.logger.error({ err: errorSummary(err) }, 'could not record the end of a workspace export'))
    .finally(() => clearInterval(heartbeat));
  return job;
}

export async function getExportJob(app: App, workspaceId: string, exportId: string): Promise<ExportJob> {
  const job = await findExportJob(app.db, workspaceId, exportId);
  if (!job) throw new NotFoundError(`export "${exportId}"`);
  return job;
}

/** The archive of a finished export, to send: ConflictError while it runs (or failed), NotFoundError once deleted. */
export async function openExportArchive(app: App, workspaceId: string, exportId: string): Promise<{ path: string; size: number; downloadName: string }> {
  const job = await getExportJob(app, workspaceId, exportId);
  const state = exportStateOf(job);
  if (state === 'expired' || (state === 'done' && job.expires_at !== null && new Date(job.expires_at).getTime() <= Date.now()))
    throw new NotFoundError(`export "${exportId}" (archives are kept 24 hours; start a new export)`);
  if (state !== 'done' || !job.file_name) throw new ConflictError(`export "${exportId}" is ${state}, not done`);
  const path = join(exportsDirOf(app), job.file_name);
  let size: number;
  try {
    ({ size } = await stat(path));
  } catch {
    throw new NotFoundError(`export "${exportId}" (its archive is not on this server)`);
  }
  const day = new Date(job.created_at).toISOString().slice(0, 10);
  return { path, size, downloadName: `leadrelay-workspace-${workspaceId}-${day}.tar.gz` };
}

/**
 * Deletes the archives past their 24 hours (marking their exports expired) and leftovers of
 * exports that died while writing. Returns how many archives went.
 */
export async function deleteExpiredExports(app: App, now = new Date()): Promise<number> {
  const dir = exportsDirOf(app);
  let deleted = 0;
  for (const job of await listExpiredExports(app.db, now)) {
    if (job.file_name) await rm(join(dir, job.file_name), { force: true });
    await markExportExpired(app.db, job.id);
    deleted++;
  }
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return deleted;
  }
  const kept = await listKeptExportFiles(app.db);
  for (const name of names) {
    if (kept.has(name)) continue;
    const path = join(dir, name);
    const { mtimeMs } = await stat(path).catch(() => ({ mtimeMs: now.getTime() }));
    // An archive no export points to, or a work directory left by a process that died: once old enough that no export can still be writing it.
    if (now.getTime() - mtimeMs > EXPORT_TTL_MS) await rm(path, { recursive: true, force: true });
  }
  return deleted;
}
