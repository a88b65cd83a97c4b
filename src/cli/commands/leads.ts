// `leadrelay leads list|show|replay|refetch|reconcile`: the lead log, sending leads again, and
// recording the leads Meta has whose webhook never came.
// `leadrelay leads find|export|erase`: data-subject requests by a person's email or phone. The
// address is personal data: taken from a flag, never printed, logged or put in the audit entry
// (the request's receipt names the person by a keyed hash only).
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { cliFieldNamer } from '../../services/errors.js';
import { type CommandDeps, operatorActor, positiveInt, print, printJson, requireWorkspace, UsageError } from '../command-kit.js';

interface SubjectOptions {
  workspace: string;
  email?: string;
  phone?: string;
  json?: boolean;
}

/** The flags every data-subject command takes. */
function subjectCommand(leads: Command, name: string, description: string): Command {
  return leads
    .command(name)
    .description(description)
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--email <address>', "the person's email address")
    .option('--phone <number>', 'or their phone number, with its country code (+14155550100)');
}

const receiptLine = (r: { id: string; status: string }) => `receipt ${r.id} (${r.status})`;

export function registerLeadCommands(program: Command, { withApp }: CommandDeps): void {
  const leads = program.command('leads').description('the lead log');
  leads
    .command('list')
    .description('recent leads and where they went (no answers: they are personal data)')
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--limit <n>', 'how many', (v) => positiveInt(v, '--limit'), 50)
    .option('--json', 'print JSON')
    .action((o: { workspace: string; limit: number; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { listLeadSummaries } = await import('../../services/leads.js');
        const out = await listLeadSummaries(app, o.workspace, { limit: o.limit });
        if (o.json) {
          print(JSON.stringify(out, null, 2));
          return;
        }
        if (out.length === 0) {
          print('no leads yet');
          return;
        }
        for (const l of out) {
          const ds = l.deliveries.map((d) => `${d.status}${d.error ? `:${d.error}` : ''}${d.mapping_drift ? ' (form changed)' : ''}`).join(',') || l.status;
          const why = l.status === 'unrouted' && l.status_reason ? `  (${l.status_reason})` : '';
          print(`${l.id}  ${l.received_at}  page ${l.page_id}  form ${l.form_id ?? '-'}  ${l.platform ?? '-'}  ${ds}${why}`);
        }
      }),
    );
  leads
    .command('show <leadId>')
    .description("one lead's metadata and, per delivery, every attempt with its time, outcome and reason (no answers: they are personal data)")
    .option('--json', 'print JSON')
    .action((leadId: string, o: { json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const { describeLead, getLead } = await import('../../services/leads.js');
        const out = await describeLead(app, await getLead(app, null, leadId, cliFieldNamer()));
        if (o.json) {
          printJson(out);
          return;
        }
        print(`lead ${out.id}  (Meta leadgen id ${out.leadgen_id}, workspace ${out.workspace_id})`);
        print(`  page      ${out.page.id}${out.page.name ? `  ${out.page.name}` : ''}`);
        print(`  form      ${out.form.id ?? '-'}${out.form.name ? `  ${out.form.name}` : ''}`);
        print(`  created   ${out.created_time}   received ${out.received_at}`);
        print(`  source    ${out.platform ?? '-'}${out.is_organic ? '  organic' : ''}${out.is_test ? '  test lead' : ''}`);
        const a = out.attribution;
        if (a.ad_id || a.campaign_id)
          print(`  ad        ${a.campaign_name ?? a.campaign_id ?? '-'} / ${a.adset_name ?? a.adset_id ?? '-'} / ${a.ad_name ?? a.ad_id ?? '-'}`);
        print(`  status    ${out.status}${out.status_reason ? ` (${out.status_reason})` : ''}`);
        print(
          `  answers   ${out.answers === 'stored' ? 'stored, encrypted (not shown)' : out.answers === 'erased' ? `erased ${out.answers_erased_at}` : 'none'}`,
        );
        if (out.deliveries.length === 0) print('no deliveries');
        for (const d of out.deliveries) {
          const dest = d.destination.type ? `${d.destination.type} "${d.destination.name}"` : 'destination';
          print(
            `delivery ${d.id} → ${dest} ${d.destination.id}: ${d.status}${d.external_id ? `, ${d.action ?? 'sent'} as ${d.external_id}` : ''}${d.mapping_drift ? ' (form changed since its mapping was set)' : ''}${d.status === 'pending' && d.next_attempt_at ? `, next attempt ${d.next_attempt_at}` : ''}`,
          );
          if (d.attempts.length === 0) print('  no attempts yet');
          for (const t of d.attempts) {
            const why = [t.error_kind, t.reason].filter(Boolean).join('/');
            print(
              `  #${t.attempt}  ${t.started_at}  ${t.outcome}${t.http_status !== null ? `  HTTP ${t.http_status}` : ''}${why ? `  ${why}` : ''}${t.message ? `: ${t.message.replace(/\s+/g, ' ')}` : ''}`,
            );
          }
        }
      }),
    );
  leads
    .command('replay [leadId]')
    .description('send a lead again (its dead and parked deliveries), or with --unrouted every unrouted lead (of a form)')
    .option('--unrouted', 'replay unrouted leads (they are delivered if a route now takes them)')
    .option('--form <formId>', 'with --unrouted: only this form')
    .option('--workspace <id>', 'with --unrouted: only this workspace')
    .option('--all', 'also re-send deliveries that succeeded')
    .option('--dead', 'replay every dead-lettered delivery of --destination D')
    .option('--destination <id>', 'with --dead: the destination')
    .action((leadId: string | undefined, o: { unrouted?: boolean; form?: string; workspace?: string; all?: boolean; dead?: boolean; destination?: string }) =>
      withApp({}, async (app, { repo, replay }) => {
        const leadService = await import('../../services/leads.js');
        if (o.dead) {
          if (!o.destination) throw new UsageError('--dead needs --destination D');
          if (!(await repo.findDestination(app.db, o.destination))) throw new UsageError(`destination "${o.destination}" not found`);
          print(`${await replay.replayDeadDeliveries(app, o.destination)} dead deliveries queued again`);
          return;
        }
        if (o.unrouted) {
          if (leadId) throw new UsageError('give either a lead id or --unrouted, not both');
          const r = await leadService.replayUnroutedLeads(app, o.workspace ?? null, o.form ?? null);
          print(`${r.replayed} unrouted lead(s) replayed: ${r.routed} now routed, ${r.queued} deliveries queued`);
          return;
        }
        if (!leadId) throw new UsageError('give a lead id, or --unrouted');
        const r = await leadService.replayOneLead(app, await leadService.getLead(app, null, leadId, cliFieldNamer()), o.all);
        print(r.unrouted ? `lead ${leadId} is still unrouted: ${r.reason}` : `lead ${leadId}: ${r.queued} deliveries queued`);
      }),
    );

  subjectCommand(leads, 'find', "a person's leads, found by email or phone, and where each was delivered (no answers); recorded with a receipt")
    .option('--json', 'print JSON')
    .action((o: SubjectOptions) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { findSubject, parseSubject, describeReceipt } = await import('../../services/data-requests.js');
        const term = parseSubject(o, cliFieldNamer());
        const { receipt, result } = await findSubject(app, o.workspace, term, { actor: operatorActor() });
        if (o.json) {
          printJson({ receipt: describeReceipt(receipt), leads: result });
          return;
        }
        print(`${result.length} lead(s); ${receiptLine(receipt)}`);
        for (const l of result) {
          print(`${l.id}  ${l.received_at}  form ${l.form.id ?? '-'}${l.form.name ? ` (${l.form.name})` : ''}  answers ${l.answers}`);
          for (const d of l.deliveries)
            print(
              `  → ${d.destination.type ?? 'destination'} "${d.destination.name ?? d.destination.id}": ${d.status}${d.external_id ? `  record ${d.external_id}` : ''}`,
            );
        }
      }),
    );
  subjectCommand(leads, 'export', "everything held of a person: each lead's answers, metadata, delivery history and where it went")
    .option('--format <format>', 'json or csv', 'json')
    .option('--out <file>', 'write to this file (created with mode 600; it must not exist) instead of stdout')
    .action((o: SubjectOptions & { format: string; out?: string }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        if (o.format !== 'json' && o.format !== 'csv') throw new UsageError('--format must be json or csv');
        await requireWorkspace(app, repo, o.workspace);
        const { exportSubject, parseSubject, describeReceipt, subjectCsv } = await import('../../services/data-requests.js');
        const term = parseSubject(o, cliFieldNamer());
        const { receipt, result } = await exportSubject(app, o.workspace, term, o.format, { actor: operatorActor() });
        const text =
          o.format === 'csv'
            ? subjectCsv(result)
            : `${JSON.stringify({ receipt: describeReceipt(receipt), subject: { kind: term.kind }, generated_at: new Date().toISOString(), leads: result }, null, 2)}\n`;
        if (!o.out) {
          process.stdout.write(text);
          return;
        }
        try {
          await writeFile(o.out, text, { mode: 0o600, flag: 'wx' });
        } catch (err) {
          if ((err as { code?: string }).code === 'EEXIST') throw new UsageError(`--out: ${o.out} exists; give a new file`);
          throw err;
        }
        process.stderr.write(`${result.length} lead(s) written to ${o.out}; ${receiptLine(receipt)}\n`);
      }),
    );
  subjectCommand(leads, 'erase', "erase a person's leads: answers, search entries and every copy in deliveries and attempts (cannot be undone)")
    .option('--in-crm', 'also erase the person in the CRMs whose connector can (a GDPR delete, where the CRM offers one)')
    .option('--json', 'print JSON')
    .action((o: SubjectOptions & { inCrm?: boolean }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { eraseSubject, parseSubject, describeReceipt } = await import('../../services/data-requests.js');
        const term = parseSubject(o, cliFieldNamer());
        const { receipt, result } = await eraseSubject(app, o.workspace, term, { inCrm: o.inCrm === true }, { actor: operatorActor() });
        if (o.json) {
          printJson({ receipt: describeReceipt(receipt) });
          return;
        }
        const c = (receipt.counts ?? {}) as Record<string, unknown>;
        print(
          `${result.leads.length} lead(s) erased (${c.attempts_scrubbed ?? 0} attempt(s) and ${c.deliveries_scrubbed ?? 0} deliveries scrubbed); ${receiptLine(receipt)}`,
        );
        for (const x of result.crm)
          print(
            `  CRM ${x.type} ${x.destination_id}: ${x.outcome}${x.reason ? ` (${x.reason})` : ''}${x.outcome === 'unsupported' ? ': erase the person there by hand' : ''}`,
          );
      }),
    );

  leads
    .command('reconcile')
    .description(
      "compare routed forms with Meta's list of their leads now, and record (then deliver) the leads whose webhook never came; also runs every RECONCILE_INTERVAL_MS",
    )
    .option('--workspace <id>', 'only this workspace')
    .option('--form <formId>', 'only this lead form')
    .option('--since <time>', "compare leads created after this time (Unix seconds or ISO 8601; at most ~90 days back) instead of each form's checkpoint")
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; form?: string; since?: string; json?: boolean }) =>
      withApp({}, async (app, { repo }) => {
        if (o.workspace) await requireWorkspace(app, repo, o.workspace);
        const { runReconciliation } = await import('../../services/reconciliation.js');
        const r = await runReconciliation(app, { workspaceId: o.workspace ?? null, formId: o.form, since: o.since }, cliFieldNamer({ form_id: '--form' }));
        if (o.json) {
          printJson(r);
          return;
        }
        if (r.forms.length === 0) {
          print('no routed forms to compare');
          return;
        }
        for (const f of r.forms) {
          const counts = `Meta has ${f.meta_count}, already recorded ${f.already_recorded}, recovered ${f.recovered}`;
          const window = f.after && f.before ? `  (leads created ${f.after} .. ${f.before})` : '';
          const stop =
            f.outcome === 'done'
              ? ''
              : `  ${f.outcome}${f.reason ? `: ${f.reason}` : ''}${f.retry_after ? `, Meta may be asked again after ${f.retry_after}` : ''}${f.outcome === 'throttled' || f.outcome === 'failed' ? ' (checkpoint kept)' : ''}`;
          print(`form ${f.form_id} (page ${f.page_id}): ${counts}${window}${stop}`);
        }
        if (r.forms.length > 1) print(`total: Meta has ${r.totals.meta_count}, already recorded ${r.totals.already_recorded}, recovered ${r.totals.recovered}`);
      }),
    );

  leads
    .command('refetch')
    .description('fetch again the leads whose fetch from Meta gave up (status failed)')
    .requiredOption('--failed', 'the leads whose fetch failed (required, for clarity)')
    .option('--page-id <id>', 'only this page')
    .action((o: { pageId?: string }) =>
      withApp({}, async (app, { replay }) => {
        print(`${await replay.refetchFailed(app, o.pageId ?? null)} lead fetch(es) queued again`);
      }),
    );
}
