// `leadrelay pages add|list|disconnect`: the Facebook pages whose leads LeadRelay receives, and their tokens.
import type { Command } from 'commander';
import { cliFieldNamer } from '../../services/errors.js';
import { type CommandDeps, iso, print, printJson, requireWorkspace, UsageError, warn } from '../command-kit.js';
import { addSecretOptions, readSecrets, type SecretFlag, saferForms, secretHelpText } from '../secret-input.js';

const PAGE_TOKEN: SecretFlag = { flag: 'token', what: 'page access token' };

export function registerPageCommands(program: Command, { withApp }: CommandDeps): void {
  const pages = program.command('pages').description('Facebook pages whose leads LeadRelay receives');
  const add = pages
    .command('add')
    .description(
      'register a page and its page access token (re-adding replaces the token and resumes parked leads); ' +
        'the token is first checked with Meta (needs META_APP_ID and META_APP_SECRET): an invalid token, one of another page, or one without the lead permissions is refused',
    )
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--page-id <id>', 'Facebook page id');
  addSecretOptions(add, PAGE_TOKEN.flag, 'token', 'page access token')
    .option('--name <name>', "page name (default: the page's name on Facebook)")
    .option('--skip-check', 'store the token without asking Meta about it (e.g. when Graph cannot be reached)')
    .addHelpText('after', secretHelpText([PAGE_TOKEN.flag]))
    .action(async (o: { workspace: string; pageId: string; name?: string; skipCheck?: boolean } & Record<string, unknown>) => {
      // Before anything else: a conflict, an unreadable file or an empty stdin is refused at once.
      const token = (await readSecrets([PAGE_TOKEN], o)).get(PAGE_TOKEN.flag)?.value;
      if (token === undefined) throw new UsageError(`the page access token is required: give it with ${saferForms(PAGE_TOKEN.flag)} (or --token)`);
      return withApp({}, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { savePage } = await import('../../services/pages.js');
        const saved = await savePage(app, { workspaceId: o.workspace, pageId: o.pageId, token, name: o.name, skipCheck: o.skipCheck }, cliFieldNamer());
        saved.warnings.forEach(warn);
        print(saved.page.id);
        if (saved.resumed) process.stderr.write(`resumed ${saved.resumed} waiting lead(s) of page ${o.pageId}\n`);
      });
    });
  pages
    .command('disconnect')
    .description(
      'disconnect a page: uninstall LeadRelay from it at Meta (with its token), then delete the token at once; the page stays listed as disconnected with its routes and history, ' +
        'and leads that still arrive for it are kept, not fetched, until it is added again',
    )
    .requiredOption('--workspace <id>', 'workspace id')
    .requiredOption('--page-id <id>', 'Facebook page id')
    .action((o: { workspace: string; pageId: string }) =>
      withApp({ queues: false }, async (app, { repo }) => {
        await requireWorkspace(app, repo, o.workspace);
        const { disconnectPage } = await import('../../services/disconnect.js');
        const { page, uninstall } = await disconnectPage(app, o.workspace, o.pageId);
        if (uninstall.status === 'failed') warn(uninstall.message);
        print(`page ${page.page_id} disconnected: token deleted${uninstall.status === 'uninstalled' ? ', LeadRelay removed from the page at Meta' : ''}`);
      }),
    );
  pages
    .command('list')
    .description('list pages (never their tokens)')
    .option('--workspace <id>', 'workspace id')
    .option('--json', 'print JSON')
    .action((o: { workspace?: string; json?: boolean }) =>
      withApp({ readOnly: true }, async (app, { repo }) => {
        const list = await repo.listPages(app.db, o.workspace);
        if (o.json) {
          printJson(
            list.map((p) => ({
              id: p.id,
              workspace_id: p.workspace_id,
              page_id: p.page_id,
              name: p.name,
              status: p.status,
              status_reason: p.status_reason,
              created_at: iso(p.created_at),
              updated_at: iso(p.updated_at),
            })),
          );
          return;
        }
        for (const p of list) print(`${p.page_id}  ${p.status}${p.status_reason ? ` (${p.status_reason})` : ''}  ${p.name ?? ''}`);
      }),
    );
}
