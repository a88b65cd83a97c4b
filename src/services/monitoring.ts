// The health monitors' latest findings, and a run on demand, for the API (GET/POST
// …/monitors) and the CLI (`leadrelay monitors`). The monitors themselves: src/pipeline/monitors.ts.
import type { App } from '../app.js';
import { runMonitors } from '../pipeline/monitors.js';
import { listMonitorResults } from '../store/alerts.js';
import * as repo from '../store/repos.js';
import type { MonitorResult } from '../store/schema.js';

interface MonitorResultView {
  monitor: string;
  /** A page id, a destination id, or null for the workspace as a whole. */
  subject: string | null;
  /** The page's or destination's name. */
  subject_name: string | null;
  status: MonitorResult['status'];
  summary: string;
  details: Record<string, unknown> | null;
  checked_at: string;
}

export interface MonitorsView {
  /** When the monitors last ran for the workspace (null: never). */
  checked_at: string | null;
  /** MONITOR_INTERVAL_MS (0: they run only on demand). */
  interval_ms: number;
  results: MonitorResultView[];
}

export async function describeMonitors(app: App, workspaceId: string): Promise<MonitorsView> {
  const rows = await listMonitorResults(app.db, workspaceId);
  const names = new Map<string, string | null>();
  for (const p of await repo.listPages(app.db, workspaceId)) names.set(p.page_id, p.name);
  for (const d of await repo.listDestinations(app.db, workspaceId)) names.set(d.id, d.name);
  const latest = rows.reduce<Date | null>((max, r) => (max === null || new Date(r.checked_at) > max ? new Date(r.checked_at) : max), null);
  return {
    checked_at: latest?.toISOString() ?? null,
    interval_ms: app.config.monitoring.intervalMs,
    results: rows.map((r) => ({
      monitor: r.monitor,
      subject: r.subject === '' ? null : r.subject,
      subject_name: r.subject === '' ? null : (names.get(r.subject) ?? null),
      status: r.status,
      summary: r.summary,
      details: r.details ?? null,
      checked_at: new Date(r.checked_at).toISOString(),
    })),
  };
}

/** Runs every monitor for the workspace now; what they found, and how many alerts opened and resolved. */
export async function runMonitorsNow(app: App, workspaceId: string): Promise<MonitorsView & { alerts_opened: number; alerts_resolved: number }> {
  const [report] = await runMonitors(app, { workspaceId });
  return { ...(await describeMonitors(app, workspaceId)), alerts_opened: report?.opened ?? 0, alerts_resolved: report?.resolved ?? 0 };
}
