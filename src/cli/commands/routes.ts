// `leadrelay routes add|list|enable|disable|delete`: which page (and form) goes to which destination.
import type { Command } from 'commander';
import { cliFieldNamer } from '../../services/errors.js';
import { type CommandDeps, print, requireWorkspace, UsageError } from '../command-kit.js';

export function registerRouteCommands(program: Command, { withApp }: CommandDeps): void {
  const routes = program.command('routes').description('which page (and form) goes to which destination');
  routes
    .command('add')
    .description('route a page (optionally one form) to a destination and print the route id')
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--page-id <id>', 'Facebook page id')
    .option('--form-id <id>', 'only this lead form (default: every form of the page)')
    .requiredOption('--destination <id>', 'destination id')
    .option('--filter <json>', 'route filter as JSON (see README: Routing)')
    .action((o: { workspace: string; pageId: string; formId?: string; destination: string; filter?: string }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { addRoute } = await import('../../services/routes.js');
        let filter: unknown;
        if (o.filter) {
          try {
            filter = JSON.parse(o.filter);
          } catch {
            throw new UsageError('--filter is not valid JSON');
          }
        }
        const added = await addRoute(
          app,
          { workspaceId: o.workspace, pageId: o.pageId, formId: o.formId, destinationId: o.destination, filter },
          cliFieldNamer({ destination_id: '--destination' }),
        );
        print(added.route.id);
        if (added.waitingUnrouted)
          process.stderr.write(
            `${added.waitingUnrouted} unrouted lead(s) wait; deliver them with: leadrelay leads replay --unrouted${o.formId ? ` --form ${o.formId}` : ''} --workspace ${o.workspace}\n`,
          );
        if (!added.isPageRegistered) process.stderr.write(`note: page ${o.pageId} is not registered yet; add it with: leadrelay pages add\n`);
      }),
    );
  for (const [name, isEnabled] of [
    ['enable', true],
    ['disable', false],
  ] as const)
    routes
      .command(`${name} <routeId>`)
      .description(isEnabled ? 'enable a route: it takes new leads again' : 'disable a route: it takes no new lead until enabled again')
      .action((id: string) =>
        withApp({ queues: false }, async (app) => {
          const { setRouteEnabled } = await import('../../services/routes.js');
          await setRouteEnabled(app, null, id, isEnabled, 'list them with: leadrelay routes list');
          print(`route ${id} ${isEnabled ? 'enabled' : 'disabled'}`);
        }),
      );
  routes
    .command('delete <routeId>')
    .description('delete a route; its deliveries not sent yet are stopped (dead, route_deleted), sent ones keep their history')
    .action((id: string) =>
      withApp({ queues: false }, async (app) => {
        const { deleteRoute } = await import('../../services/disconnect.js');
        const { stoppedDeliveries } = await deleteRoute(app, null, id, 'list them with: leadrelay routes list');
        print(`route ${id} deleted${stoppedDeliveries ? `; ${stoppedDeliveries} delivery(ies) not yet sent were stopped` : ''}`);
      }),
    );
  routes
    .command('list')
    .description('list routes (a route whose form changed since its mapping was set is flagged, with the rules it affects)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app) => {
        const { describeRouteDrift } = await import('../../pipeline/form-drift.js');
        const { listRoutesWithDrift } = await import('../../services/routes.js');
        const list = await listRoutesWithDrift(app, o.workspace);
        if (o.json) {
          const rows = list.map((r) => ({
            id: r.id,
            workspace_id: r.workspace_id,
            page_id: r.page_id,
            form_id: r.form_id,
            destination_id: r.destination_id,
            is_enabled: r.is_enabled,
            mapping: r.mapping,
            filter: r.filter,
            drift: r.parsedDrift,
          }));
          print(JSON.stringify(rows, null, 2));
          return;
        }
        for (const r of list) {
          const drift = r.parsedDrift;
          const flag = drift
            ? `  (FORM CHANGED since ${drift.detected_at}: ${describeRouteDrift(drift)}; check the mapping)`
            : r.drift
              ? '  (FORM CHANGED: check the mapping)'
              : '';
          print(
            `${r.id}  page ${r.page_id}  form ${r.form_id ?? '*'}  → ${r.destination_id}${r.is_enabled ? '' : '  (disabled)'}${r.mapping ? '  (mapped)' : ''}${r.filter ? '  (filtered)' : ''}${flag}`,
          );
        }
      }),
    );
}
