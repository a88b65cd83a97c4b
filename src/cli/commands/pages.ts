// `leadrelay pages add|list`: the Facebook pages whose leads LeadRelay receives, and their tokens.
import type { Command } from 'commander';
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
      return withApp({}, async (app, { repo, replay, leadRecord, pageAccess }) => {
        await requireWorkspace(app, repo, o.workspace);
        if (!/^\d+$/.test(o.pageId)) throw new UsageError(`--page-id must be a numeric Facebook page id, got "${o.pageId.slice(0, 40)}"`);
        if (o.name !== undefined && !o.name.trim()) throw new UsageError('--name must not be empty');
        const existing = await repo.findPageByPageId(app.db, o.pageId);
        if (existing && existing.workspace_id !== o.workspace) throw new UsageError(`page ${o.pageId} is already registered to another workspace`);
        let name = o.name?.trim() ?? null;
        const { appId, appSecret, graphVersion } = app.config.meta;
        if (o.skipCheck) {
          warn(`--skip-check: the token of page ${o.pageId} was not checked with Meta; a wrong token shows up only when a lead arrives`);
        } else if (!appId || !appSecret) {
          warn(
            `the token of page ${o.pageId} cannot be checked with Meta because ${[!appId && 'META_APP_ID', !appSecret && 'META_APP_SECRET'].filter(Boolean).join(' and ')} ${!appId && !appSecret ? 'are' : 'is'} not set; ` +
              'it is stored unchecked (set them and run pages add again to check it)',
          );
        } else {
          const check = await pageAccess.checkPageAccess(app.graph, { appId, pageId: o.pageId, pageToken: token, graphVersion });
          if (check.outcome === 'refused') throw new UsageError(check.problem);
          if (check.outcome === 'unavailable')
            throw new Error(`${check.problem}; nothing was stored (try again, or add --skip-check to store the token unchecked)`);
          check.warnings.forEach(warn);
          name ??= check.pageName;
        }
        const page = await repo.upsertPage(app.db, {
          workspaceId: o.workspace,
          pageId: o.pageId,
          name,
          tokenEnvelope: app.keyRing.encrypt(token, leadRecord.pageTokenAad(o.pageId)),
        });
        const resumed = await replay.resumePage(app, o.pageId);
        print(page.id);
        if (resumed) process.stderr.write(`resumed ${resumed} waiting lead(s) of page ${o.pageId}\n`);
      });
    });
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
