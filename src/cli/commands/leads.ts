// `leadrelay leads list|show|replay|refetch`: the lead log, and sending leads again.
import type { Command } from 'commander';
import { type CommandDeps, iso, positiveInt, print, printJson, requireWorkspace, UsageError } from '../command-kit.js';

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
        const rows = await repo.listLeads(app.db, o.workspace, o.limit);
        // A delivery through a route whose form changed since its mapping was set may have put
        // answers in the wrong place (or only in the note): flag it.
        const driftedRoutes = new Set((await repo.listRoutes(app.db, o.workspace)).filter((r) => r.drift !== null).map((r) => r.id));
        const out = [];
        for (const l of rows) {
          const deliveries = await repo.listDeliveriesOfLead(app.db, l.id);
          out.push({
            id: l.id,
            leadgen_id: l.leadgen_id,
            received_at: new Date(l.received_at).toISOString(),
            page_id: l.page_id,
            form_id: l.form_id,
            platform: l.platform,
            is_organic: l.is_organic,
            status: l.status,
            status_reason: l.status_reason,
            deliveries: deliveries.map((d) => ({
              id: d.id,
              destination_id: d.destination_id,
              route_id: d.route_id,
              status: d.status,
              attempts: d.attempts,
              external_id: d.external_id,
              action: d.action,
              error: d.last_error_reason,
              message: d.last_error_message,
              mapping_drift: d.route_id !== null && driftedRoutes.has(d.route_id),
            })),
          });
        }
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
      withApp({ readOnly: true }, async (app, { repo }) => {
        if (!repo.isUuid(leadId)) throw new UsageError(`"${leadId.slice(0, 40)}" is not a lead id (a uuid from leads list)`);
        const l = await repo.findLead(app.db, leadId);
        if (!l) throw new UsageError(`lead "${leadId}" not found (list them with: leadrelay leads list --workspace W)`);
        const deliveries = await repo.listDeliveriesOfLead(app.db, l.id);
        const attempts = await repo.listAttemptsOfLead(app.db, l.id);
        const destinations = new Map((await repo.listDestinations(app.db, l.workspace_id)).map((d) => [d.id, d]));
        const driftedRoutes = new Set((await repo.listRoutes(app.db, l.workspace_id)).filter((r) => r.drift !== null).map((r) => r.id));
        const out = {
          id: l.id,
          workspace_id: l.workspace_id,
          leadgen_id: l.leadgen_id,
          page: { id: l.page_id, name: l.page_name },
          form: { id: l.form_id, name: l.form_name },
          created_time: iso(l.created_time),
          received_at: iso(l.received_at),
          fetched_at: iso(l.fetched_at),
          platform: l.platform,
          is_organic: l.is_organic,
          is_test: l.is_test,
          attribution: {
            ad_id: l.ad_id,
            ad_name: l.ad_name,
            adset_id: l.adset_id,
            adset_name: l.adset_name,
            campaign_id: l.campaign_id,
            campaign_name: l.campaign_name,
          },
          status: l.status,
          status_reason: l.status_reason,
          // Whether answers are held (encrypted), never what they are.
          answers: l.answers_envelope !== null ? 'stored' : l.erased_at !== null ? 'erased' : 'none',
          answers_erased_at: iso(l.erased_at),
          deliveries: deliveries.map((d) => ({
            id: d.id,
            destination: {
              id: d.destination_id,
              type: destinations.get(d.destination_id)?.type ?? null,
              name: destinations.get(d.destination_id)?.name ?? null,
            },
            route_id: d.route_id,
            status: d.status,
            attempts_count: d.attempts,
            external_id: d.external_id,
            external_url: d.external_url,
            action: d.action,
            error_kind: d.last_error_kind,
            error: d.last_error_reason,
            message: d.last_error_message,
            next_attempt_at: iso(d.next_attempt_at),
            delivered_at: iso(d.delivered_at),
            mapping_drift: d.route_id !== null && driftedRoutes.has(d.route_id),
            attempts: attempts
              .filter((a) => a.delivery_id === d.id)
              .map((a) => ({
                attempt: a.attempt,
                started_at: iso(a.started_at),
                finished_at: iso(a.finished_at),
                outcome: a.outcome,
                http_status: a.http_status,
                error_kind: a.error_kind,
                reason: a.reason,
                message: a.message,
              })),
          })),
        };
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
        if (o.dead) {
          if (!o.destination) throw new UsageError('--dead needs --destination D');
          if (!(await repo.findDestination(app.db, o.destination))) throw new UsageError(`destination "${o.destination}" not found`);
          print(`${await replay.replayDeadDeliveries(app, o.destination)} dead deliveries queued again`);
          return;
        }
        if (o.unrouted) {
          if (leadId) throw new UsageError('give either a lead id or --unrouted, not both');
          const results = await replay.replayUnrouted(app, o.workspace ?? null, o.form ?? null);
          const routed = results.filter((r) => !r.unrouted);
          print(`${results.length} unrouted lead(s) replayed: ${routed.length} now routed, ${routed.reduce((n, r) => n + r.queued, 0)} deliveries queued`);
          return;
        }
        if (!leadId) throw new UsageError('give a lead id, or --unrouted');
        if (!repo.isUuid(leadId)) throw new UsageError(`"${leadId.slice(0, 40)}" is not a lead id (a uuid from leads list)`);
        const r = await replay.replayLead(app, leadId, o.all ? ['dead', 'parked', 'delivered'] : ['dead', 'parked']);
        print(r.unrouted ? `lead ${leadId} is still unrouted: ${r.reason}` : `lead ${leadId}: ${r.queued} deliveries queued`);
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
