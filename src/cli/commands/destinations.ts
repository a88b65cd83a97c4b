// `leadrelay destinations add|reauth|check|disconnect|list` (`connect` is in ../connect.ts). Their flags
// come from the connector manifests, which are light; the connectors themselves load when a command runs.
import { type Command, Option } from 'commander';
import { getManifest, listManifests } from '../../../connectors/index.js';
import { type CommandDeps, iso, print, printJson, requireWorkspace, warn } from '../command-kit.js';
import { destinationInputFromFlags, fieldNamerOf, flagValuesOf, reauthInputFromFlags, secretFlagsOf } from '../destination-input.js';
import { addSecretOptions, checkSecretForms, secretHelpText } from '../secret-input.js';

export function registerDestinationCommands(program: Command, { withApp }: CommandDeps): void {
  const dests = program.command('destinations').description(
    `where leads go: ${listManifests()
      .map((m) => m.id)
      .join(', ')}`,
  );
  // Every connector's flags (its manifest's cli.inputs); one flag serves each connector that names
  // it. A secret one also comes as --<flag>-file and --<flag>-stdin (and a variable).
  const secretFlags = [...new Set(listManifests().flatMap((m) => secretFlagsOf(m).map((s) => s.flag)))];
  const destinationOptions = (c: Command) => {
    c.option('--name <name>', 'display name');
    const helpByFlag = new Map<string, string[]>();
    for (const m of listManifests())
      for (const input of m.cli.inputs) helpByFlag.set(input.flag, [...(helpByFlag.get(input.flag) ?? []), `${m.id}: ${input.description}`]);
    for (const [flag, help] of helpByFlag) {
      const valueName = flag.split('-').pop() ?? flag;
      if (secretFlags.includes(flag)) addSecretOptions(c, flag, valueName, help.join('; '));
      else c.option(`--${flag} <${valueName}>`, help.join('; '));
    }
    if (secretFlags.length > 0) c.addHelpText('after', secretHelpText(secretFlags));
    return c;
  };
  destinationOptions(
    dests
      .command('add')
      .description('add a destination and print its id')
      .requiredOption('--workspace <id>', 'workspace id')
      .addOption(new Option('--type <type>', 'destination type').choices(listManifests().map((m) => m.id)).makeOptionMandatory()),
  ).action(async (o: { workspace: string; type: string; name?: string } & Record<string, unknown>) => {
    const manifest = getManifest(o.type);
    // Before anything else: a secret given twice, an unreadable file or an empty stdin is refused at once.
    const given = await flagValuesOf(manifest, o);
    return withApp({ queues: false }, async (app, { repo }) => {
      await requireWorkspace(app, repo, o.workspace);
      const { addDestination } = await import('../../services/destinations.js');
      const input = destinationInputFromFlags(manifest, given.values);
      const { destination, warnings } = await addDestination(
        app,
        { workspaceId: o.workspace, type: o.type, name: o.name, ...input },
        fieldNamerOf(manifest, given.givenAs),
      );
      print(destination.id);
      warnings.forEach(warn);
    });
  });
  destinationOptions(
    dests
      .command('reauth <destinationId>')
      .description(
        "replace a destination's credentials and resume its parked deliveries, in order: config flags given (e.g. --url) replace their stored values, " +
          'optional credentials left out (e.g. --secret) are kept, and URLs are checked as on add',
      ),
  ).action((id: string, o: Record<string, unknown>) => {
    // Which secret flags apply depends on the destination's type: refuse a conflict among any of them at once.
    checkSecretForms(
      listManifests().flatMap((m) => secretFlagsOf(m)),
      o,
    );
    return withApp({}, async (app) => {
      const { getDestination, replaceDestinationSettings } = await import('../../services/destinations.js');
      const dest = await getDestination(app, null, id);
      const manifest = getManifest(dest.type);
      const { values, givenAs } = await flagValuesOf(manifest, o);
      const input = reauthInputFromFlags(manifest, values, (dest.config ?? {}) as Record<string, unknown>);
      const name = fieldNamerOf(manifest, givenAs);
      // Today's rules apply to the URLs the resumed deliveries will use, new or stored.
      const given = new Set(input.configInputs.map((i) => `config.${i.key}`));
      const { resumed, warnings } = await replaceDestinationSettings(
        app,
        dest,
        { config: input.config, isConfigChanged: input.configInputs.length > 0, credentials: input.credentials },
        name,
        (field) => (given.has(field) ? name(field) : `the stored ${name(field)} (give a new one with ${name(field)})`),
      );
      const replaced = [
        ...input.configInputs.map((i) => i.label ?? `--${i.flag}`),
        ...(input.credentials ? [manifest.cli.credentialsLabel ?? 'credentials'] : []),
      ];
      print(`${replaced.join(' and ')} replaced; resumed ${resumed} parked deliveries`);
      warnings.forEach(warn);
    });
  });
  dests
    .command('check <destinationId>')
    .description("verify a destination's credentials and print the CRM's fields")
    .option('--json', 'print the fields as JSON')
    .action((id: string, o: { json?: boolean }) =>
      withApp({ queues: false }, async (app) => {
        const { checkDestination, getDestination } = await import('../../services/destinations.js');
        const dest = await getDestination(app, null, id);
        const fields = await checkDestination(app, dest);
        if (o.json) {
          print(JSON.stringify(fields, null, 2));
          return;
        }
        print(`${dest.type} destination ${dest.id}: credentials OK, ${fields.length} writable fields`);
        for (const f of fields)
          print(
            `  ${f.key}${f.required ? ' *' : ''}  ${f.type}${f.length ? `(${f.length})` : ''}  ${f.label}${
              f.options?.length
                ? `  [${f.options
                    .slice(0, 6)
                    .map((x) => x.value)
                    .join(', ')}${f.options.length > 6 ? ', …' : ''}]`
                : ''
            }`,
          );
      }),
    );
  dests
    .command('disconnect <destinationId>')
    .description(
      'disconnect a destination: revoke its credentials at the CRM where it can (OAuth tokens), then delete them at once; ' +
        'its deliveries waiting to be sent are parked until it is given new credentials (reauth, or connect by OAuth)',
    )
    .action((id: string) =>
      withApp({ queues: false }, async (app) => {
        const { disconnectDestination } = await import('../../services/disconnect.js');
        const r = await disconnectDestination(app, null, id);
        const said =
          r.revocation.status === 'revoked'
            ? 'credentials revoked at the CRM and deleted'
            : r.revocation.status === 'no_credentials'
              ? 'it held no credentials'
              : 'credentials deleted';
        if (r.revocation.status === 'failed' || r.revocation.status === 'not_revocable') warn(r.revocation.message);
        print(`destination ${r.destination.id} disconnected: ${said}${r.parkedDeliveries ? `; ${r.parkedDeliveries} waiting delivery(ies) parked` : ''}`);
      }),
    );
  dests
    .command('list')
    .description('list destinations (never their credentials)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        const list = await repo.listDestinations(app.db, o.workspace);
        if (o.json) {
          printJson(
            list.map((d) => ({
              id: d.id,
              workspace_id: d.workspace_id,
              type: d.type,
              name: d.name,
              // Not the config: a webhook URL's path or query can itself be a credential.
              status: d.status,
              status_reason: d.status_reason,
              rate_limited_until: iso(d.rate_limited_until),
              created_at: iso(d.created_at),
              updated_at: iso(d.updated_at),
            })),
          );
          return;
        }
        for (const d of list) print(`${d.id}  ${d.type}  ${d.status}${d.status_reason ? ` (${d.status_reason})` : ''}  ${d.name}`);
      }),
    );
}
