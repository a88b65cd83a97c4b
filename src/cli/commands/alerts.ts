// `leadrelay alerts list|test|channels|add-channel|remove-channel` and `leadrelay monitors
// run|list`: the health monitors and the alerts they (and the pipeline) raise, and where alerts go.
import { Option, type Command } from 'commander';
import { cliFieldNamer } from '../../services/errors.js';
import { type CommandDeps, print, printJson, requireWorkspace, UsageError } from '../command-kit.js';
import { addSecretOptions, readSecrets, type SecretFlag, secretHelpText } from '../secret-input.js';

const CHANNEL_URL: SecretFlag = { flag: 'url', what: 'incoming-webhook URL' };
const CHANNEL_SECRET: SecretFlag = { flag: 'secret', what: 'webhook signing secret' };

export function registerAlertCommands(program: Command, { withApp }: CommandDeps): void {
  const alerts = program.command('alerts').description('alerts: one per cause (a dead page token, a CRM needing re-authorisation, …), and where they go');
  alerts
    .command('list')
    .description('open alerts (with --all, the recent resolved ones too): what happened, the leads waiting, the fix')
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--all', 'also resolved alerts')
    .option('--limit <n>', 'how many', '50')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; all?: boolean; limit: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const limit = Number(o.limit);
        if (!Number.isInteger(limit) || limit < 1 || limit > 200) throw new UsageError('--limit must be a whole number from 1 to 200');
        const { describeAlerts } = await import('../../services/alerts.js');
        const list = await describeAlerts(app, o.workspace, { status: o.all ? undefined : 'open', limit });
        if (o.json) {
          printJson(list);
          return;
        }
        if (list.length === 0) {
          print(o.all ? 'no alerts' : 'no open alerts');
          return;
        }
        for (const a of list) {
          const state = a.status === 'open' ? `OPEN since ${a.opened_at}` : `resolved ${a.resolved_at} (${a.resolution ?? 'cleared'})`;
          print(`${a.id}  ${a.cause_key}  ${state}`);
          print(`  ${a.title}`);
          print(`  what happened: ${a.detail}`);
          if (a.waiting_leads !== null) print(`  leads waiting: ${a.waiting_leads}`);
          if (a.status === 'open') print(`  fix: ${a.fix}`);
          print(`  messages: ${a.notifications}${a.next_send_at ? `, next reminder ${a.next_send_at}` : ''}`);
        }
      }),
    );
  alerts
    .command('test')
    .description('send a test alert to every channel of the workspace (or one) now; exits 1 when any channel failed')
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--channel <id>', 'only this channel')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; channel?: string; json?: boolean }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { sendTestAlert } = await import('../../services/alerts.js');
        const results = await sendTestAlert(app, o.workspace, { channelId: o.channel, name: cliFieldNamer({ channel_id: '--channel' }) });
        if (o.json) printJson(results);
        else
          for (const r of results)
            print(`${r.outcome === 'sent' ? 'sent  ' : 'FAILED'}  ${r.kind} "${r.name}" (${r.channel_id})${r.error ? `: ${r.error}` : ''}`);
        if (results.some((r) => r.outcome === 'failed')) process.exitCode = 1;
      }),
    );
  alerts
    .command('channels')
    .description("where the workspace's alerts go (never the URLs or secrets)")
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { listAlertChannelViews } = await import('../../services/alerts.js');
        const list = await listAlertChannelViews(app, o.workspace);
        if (o.json) {
          printJson(list);
          return;
        }
        if (list.length === 0) print('no alert channels');
        for (const c of list) print(`${c.id}  ${c.kind}  "${c.name}"  ${c.target}${c.last_error ? `  (last message failed: ${c.last_error})` : ''}`);
      }),
    );
  const add = alerts
    .command('add-channel')
    .description('add an alert channel and print its id: e-mail addresses, a Slack or Microsoft Teams incoming webhook, or a signed webhook')
    .requiredOption('--workspace <id>', 'workspace id')
    .addOption(new Option('--kind <kind>', 'channel kind').choices(['email', 'slack', 'teams', 'webhook']).makeOptionMandatory())
    .option('--name <name>', 'display name')
    .option('--email <address...>', 'email: the addresses');
  addSecretOptions(add, CHANNEL_URL.flag, 'url', 'slack, teams, webhook: the incoming-webhook URL (a credential)');
  addSecretOptions(add, CHANNEL_SECRET.flag, 'secret', 'webhook: the signing secret (at least 16 characters; made and printed once when left out)')
    .addHelpText('after', secretHelpText([CHANNEL_URL.flag, CHANNEL_SECRET.flag]))
    .action(async (o: { workspace: string; kind: 'email' | 'slack' | 'teams' | 'webhook'; name?: string; email?: string[] } & Record<string, unknown>) => {
      const given = (flag: string) => ['', 'File', 'Stdin'].some((suffix) => o[`${flag}${suffix}`] !== undefined);
      if (o.kind === 'email' && given('url')) throw new UsageError('--url is for slack, teams and webhook channels; an e-mail channel takes --email');
      if (o.kind !== 'webhook' && given('secret')) throw new UsageError('--secret is for webhook channels');
      // Only the secrets this kind takes: a variable meant for something else (LEADRELAY_SECRET) is not picked up.
      const secrets = await readSecrets(o.kind === 'email' ? [] : o.kind === 'webhook' ? [CHANNEL_URL, CHANNEL_SECRET] : [CHANNEL_URL], o);
      return withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { addAlertChannel } = await import('../../services/alerts.js');
        const r = await addAlertChannel(
          app,
          {
            workspaceId: o.workspace,
            kind: o.kind,
            name: o.name,
            url: secrets.get(CHANNEL_URL.flag)?.value,
            secret: secrets.get(CHANNEL_SECRET.flag)?.value,
            emails: o.email,
            createdBy: null,
          },
          cliFieldNamer({ emails: '--email' }),
        );
        print(r.channel.id);
        for (const w of r.warnings) process.stderr.write(`warning: ${w}\n`);
        if (r.secret) process.stderr.write(`signing secret (shown only now; keep it with the receiver): ${r.secret}\n`);
      });
    });
  alerts
    .command('remove-channel <channelId>')
    .description('remove an alert channel')
    .requiredOption('--workspace <id>', 'workspace id')
    .action((channelId: string, o: { workspace: string }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { removeAlertChannel } = await import('../../services/alerts.js');
        await removeAlertChannel(app, o.workspace, channelId);
        print(`removed ${channelId}`);
      }),
    );

  const monitors = program.command('monitors').description('health monitors: page tokens, app subscriptions, destinations, dead letters, queue age');
  monitors
    .command('run')
    .description('run every health monitor now (they also run every MONITOR_INTERVAL_MS in the work role); problems raise alerts')
    .option('--workspace <id>', 'only this workspace')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        if (o.workspace) await requireWorkspace(app, repo, o.workspace);
        const { runMonitors } = await import('../../pipeline/monitors.js');
        const reports = await runMonitors(app, { workspaceId: o.workspace });
        if (o.json) {
          printJson(reports);
          return;
        }
        for (const r of reports) {
          print(`workspace ${r.workspaceId}: ${r.opened} alert(s) opened, ${r.resolved} resolved`);
          for (const f of r.findings) print(`  ${f.status.padEnd(11)} ${f.monitor}${f.subject ? ` ${f.subject}` : ''}: ${f.summary}`);
        }
      }),
    );
  monitors
    .command('list')
    .description("each monitor's latest finding for the workspace")
    .requiredOption('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { describeMonitors } = await import('../../services/monitoring.js');
        const view = await describeMonitors(app, o.workspace);
        if (o.json) {
          printJson(view);
          return;
        }
        if (view.results.length === 0) print('the monitors have not run for this workspace yet (leadrelay monitors run)');
        for (const f of view.results)
          print(
            `${f.status.padEnd(11)} ${f.monitor}${f.subject ? ` ${f.subject}${f.subject_name ? ` "${f.subject_name}"` : ''}` : ''}: ${f.summary}  (${f.checked_at})`,
          );
      }),
    );
}
