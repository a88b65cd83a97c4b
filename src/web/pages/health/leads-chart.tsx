// Leads per day, per form, by where each lead is now: a stacked bar chart drawn as SVG (no
// chart library), sized to its box so its text stays readable from 375 px up. It is one image
// to assistive technology, named by its title and described by a sentence with the totals; the
// numbers themselves are in the table under it (per day and form), which is the chart's
// accessible equivalent.
import { type RefObject, useEffect, useId, useMemo, useRef, useState } from 'react';
import { api } from '../../api/client';
import type { paths } from '../../api/schema';
import { SelectField } from '../../components/form';
import { LoadError, Loading, TableWrap } from '../../components/layout';

type LeadsPerDay = paths['/workspaces/{workspaceId}/stats/leads-per-day']['get']['responses'][200]['content']['application/json'];
type DayRow = LeadsPerDay['items'][number];

/** The chart's series: what the marketer asks (delivered, failed, pending) and the leads no route took. */
const SERIES = [
  { key: 'delivered', label: 'Delivered', colour: '#15803d' },
  { key: 'failed', label: 'Failed', colour: '#b91c1c' },
  { key: 'pending', label: 'Pending', colour: '#b45309' },
  { key: 'unrouted', label: 'Unrouted', colour: '#64748b' },
] as const;
type SeriesKey = (typeof SERIES)[number]['key'];
type Counts = Record<SeriesKey, number> & { total: number };

const ALL = 'all';
const NO_FORM = 'none';
const PERIODS = [
  { id: '7', label: 'Last 7 days' },
  { id: '30', label: 'Last 30 days' },
  { id: '90', label: 'Last 90 days' },
];

const zero = (): Counts => ({ delivered: 0, failed: 0, pending: 0, unrouted: 0, total: 0 });

/** A row's counts in the chart's series: leads waiting for re-authorisation count as pending. */
const countsOf = (r: DayRow): Counts => ({ delivered: r.delivered, failed: r.failed, pending: r.pending + r.parked, unrouted: r.unrouted, total: r.total });

function add(a: Counts, b: Counts): Counts {
  return {
    delivered: a.delivered + b.delivered,
    failed: a.failed + b.failed,
    pending: a.pending + b.pending,
    unrouted: a.unrouted + b.unrouted,
    total: a.total + b.total,
  };
}

/** Every UTC day from..to (YYYY-MM-DD), both included. */
function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const d = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`).getTime();
  while (d.getTime() <= end && out.length < 400) {
    out.push(d.toISOString().slice(0, 10));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

const dayLabel = (day: string, long = false) =>
  new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { day: 'numeric', month: 'short', ...(long ? { year: 'numeric' } : {}), timeZone: 'UTC' });

const formKey = (r: Pick<DayRow, 'form_id'>) => r.form_id ?? NO_FORM;
const formLabelOf = (r: Pick<DayRow, 'form_id' | 'form_name'>) => r.form_name ?? r.form_id ?? 'Leads without a form';

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

function summarise(c: Counts): string {
  return `${plural(c.total, 'lead', 'leads')}: ${c.delivered} delivered, ${c.failed} failed, ${c.pending} pending, ${c.unrouted} unrouted`;
}

/** The width of an element, followed as it changes. */
function useWidth<T extends HTMLElement>(): [RefObject<T | null>, number] {
  const ref = useRef<T>(null);
  const [width, setWidth] = useState(0);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth);
    const observer = new ResizeObserver((entries) => setWidth(Math.floor(entries[0]?.contentRect.width ?? el.clientWidth)));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width];
}

/** A round maximum for the y axis whose half is a whole number too (ticks are whole leads). */
function niceMax(max: number): number {
  if (max <= 5) return Math.max(1, max);
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 4, 5, 10]) if (step * magnitude >= max) return step * magnitude;
  return 10 * magnitude;
}

export function LeadsPerDayChart({ workspaceId }: { workspaceId: string }) {
  const [days, setDays] = useState('30');
  const [form, setForm] = useState(ALL);
  const stats = api.useQuery('get', '/workspaces/{workspaceId}/stats/leads-per-day', {
    params: { path: { workspaceId }, query: { days: Number(days) } },
  });

  const forms = useMemo(() => {
    const seen = new Map<string, string>();
    for (const r of stats.data?.items ?? []) if (!seen.has(formKey(r))) seen.set(formKey(r), formLabelOf(r));
    return [...seen].map(([id, label]) => ({ id, label })).sort((a, b) => a.label.localeCompare(b.label));
  }, [stats.data]);
  const formShown = form === ALL || forms.some((f) => f.id === form) ? form : ALL;

  return (
    <section aria-labelledby="chart-heading" className="panel">
      <h2 id="chart-heading">Leads per day</h2>
      <div className="chart-controls">
        <SelectField label="Period" value={days} onChange={setDays} options={PERIODS} />
        <SelectField label="Form" value={formShown} onChange={setForm} options={[{ id: ALL, label: 'All forms' }, ...forms]} />
      </div>
      {stats.isPending ? (
        <Loading what="leads per day" />
      ) : stats.error ? (
        <LoadError error={stats.error} what="leads per day" />
      ) : (
        <ChartAndTable data={stats.data} form={formShown} formLabel={forms.find((f) => f.id === formShown)?.label ?? 'all forms'} />
      )}
    </section>
  );
}

function ChartAndTable({ data, form, formLabel }: { data: LeadsPerDay; form: string; formLabel: string }) {
  const rows = useMemo(() => data.items.filter((r) => form === ALL || formKey(r) === form), [data.items, form]);
  const allDays = useMemo(() => daysBetween(data.from, data.to), [data.from, data.to]);
  const perDay = useMemo(() => {
    const m = new Map<string, Counts>();
    for (const r of rows) m.set(r.date, add(m.get(r.date) ?? zero(), countsOf(r)));
    return m;
  }, [rows]);
  const totals = useMemo(() => rows.reduce((t, r) => add(t, countsOf(r)), zero()), [rows]);
  const period = `${dayLabel(data.from, true)} to ${dayLabel(data.to, true)}`;
  const what = form === ALL ? 'all forms' : formLabel;

  return (
    <>
      <p className="chart-summary" data-testid="chart-summary">
        {period}, {what}: {summarise(totals)}.
      </p>
      <BarChart
        days={allDays}
        perDay={perDay}
        title={`Leads per day, ${what}, ${period}`}
        description={`${summarise(totals)}. Each day's numbers are in the table below.`}
      />
      <ul className="chart-legend" aria-label="Legend">
        {SERIES.map((s) => (
          <li key={s.key}>
            <svg aria-hidden="true" width="14" height="14" viewBox="0 0 14 14">
              <rect width="14" height="14" rx="3" fill={s.colour} />
            </svg>
            {s.label}
          </li>
        ))}
      </ul>
      <p className="chart-note muted">Pending includes leads waiting for a destination to be re-authorised.</p>
      {rows.length === 0 ? (
        <p>No leads in this period.</p>
      ) : (
        <TableWrap label="Leads per day per form">
          <table className="numbers">
            <caption className="visually-hidden">Leads per day per form, {period}</caption>
            <thead>
              <tr>
                <th scope="col">Day</th>
                <th scope="col">Form</th>
                <th scope="col">Delivered</th>
                <th scope="col">Failed</th>
                <th scope="col">Pending</th>
                <th scope="col">Waiting for re-authorisation</th>
                <th scope="col">Unrouted</th>
                <th scope="col">Total</th>
              </tr>
            </thead>
            <tbody>
              {[...rows].reverse().map((r) => (
                <tr key={`${r.date}-${formKey(r)}`}>
                  <th scope="row">{dayLabel(r.date, true)}</th>
                  <td>{formLabelOf(r)}</td>
                  <td>{r.delivered}</td>
                  <td>{r.failed}</td>
                  <td>{r.pending}</td>
                  <td>{r.parked}</td>
                  <td>{r.unrouted}</td>
                  <td>{r.total}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </TableWrap>
      )}
    </>
  );
}

const HEIGHT = 220;
const MARGIN = { top: 12, right: 8, bottom: 28, left: 36 };

function BarChart({ days, perDay, title, description }: { days: string[]; perDay: Map<string, Counts>; title: string; description: string }) {
  const [box, width] = useWidth<HTMLDivElement>();
  const titleId = useId();
  const descId = useId();
  const plotWidth = Math.max(0, width - MARGIN.left - MARGIN.right);
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const max = niceMax(Math.max(0, ...[...perDay.values()].map((c) => c.total)));
  const y = (n: number) => MARGIN.top + plotHeight - (n / max) * plotHeight;
  const slot = days.length > 0 ? plotWidth / days.length : 0;
  const barWidth = Math.max(1, Math.min(28, slot * 0.7));
  // As many day labels as fit, about 56 px apart.
  const labelEvery = Math.max(1, Math.ceil(days.length / Math.max(1, Math.floor(plotWidth / 56))));
  const ticks = max <= 5 ? Array.from({ length: max + 1 }, (_, i) => i) : [0, max / 2, max];

  return (
    <div ref={box} className="chart-box">
      {width > 0 && (
        <svg className="chart" role="img" aria-labelledby={`${titleId} ${descId}`} width={width} height={HEIGHT} viewBox={`0 0 ${width} ${HEIGHT}`}>
          <title id={titleId}>{title}</title>
          <desc id={descId}>{description}</desc>
          {ticks.map((t) => (
            <g key={t}>
              <line x1={MARGIN.left} x2={MARGIN.left + plotWidth} y1={y(t)} y2={y(t)} stroke={t === 0 ? '#4d5562' : '#d5d9df'} strokeWidth="1" />
              <text x={MARGIN.left - 6} y={y(t)} dy="0.32em" textAnchor="end" className="chart-text">
                {t}
              </text>
            </g>
          ))}
          {days.map((day, i) => {
            const c = perDay.get(day);
            const x = MARGIN.left + i * slot + (slot - barWidth) / 2;
            let top = 0;
            return (
              <g key={day} data-day={day}>
                {c && c.total > 0 && <title>{`${dayLabel(day)}: ${summarise(c)}`}</title>}
                {c &&
                  SERIES.map((s) => {
                    const n = c[s.key];
                    if (n === 0) return null;
                    const y0 = y(top + n);
                    const h = y(top) - y0;
                    top += n;
                    return <rect key={s.key} x={x} y={y0} width={barWidth} height={h} fill={s.colour} data-series={s.key} data-count={n} />;
                  })}
                {i % labelEvery === 0 && (
                  <text x={x + barWidth / 2} y={HEIGHT - MARGIN.bottom + 16} textAnchor="middle" className="chart-text">
                    {dayLabel(day)}
                  </text>
                )}
              </g>
            );
          })}
        </svg>
      )}
    </div>
  );
}
