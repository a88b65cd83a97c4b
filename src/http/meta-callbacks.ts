// Meta's callbacks about a person (App Dashboard → Settings → Basic → Data deletion request URL;
// Facebook Login → Settings → Deauthorize callback URL), both a form POST with `signed_request`:
// - POST /webhooks/meta/data-deletion: erase what LeadRelay holds for that app-scoped user and
//   answer `{url, confirmation_code}`; `url` is GET /privacy/deletion/{code}, a status page a
//   person can read (JSON to a client that asks for it).
// - POST /webhooks/meta/deauthorize: delete their tokens and disconnect their pages.
// A forged, expired or malformed signed request is answered 400 and changes nothing.
// Neither the signed request nor the user id is ever logged.
// https://developers.facebook.com/docs/development/create-an-app/app-dashboard/data-deletion-callback/
// https://developers.facebook.com/docs/facebook-login/manually-build-a-login-flow/#deauth-callback
import express, { type Request, type Response, type Router } from 'express';
import type { App } from '../app.js';
import { SIGNED_REQUEST_REFUSALS, type SignedRequestPayload, verifySignedRequest } from '../meta/signed-request.js';
import { findDataDeletionStatus, handleDataDeletion, handleDeauthorization } from '../services/facebook-user-removal.js';
import { errorSummary } from '../util/error-summary.js';

/** A form with one signed request is a few hundred bytes. */
const FORM_LIMIT = '16kb';

const DATA_DELETION_PATH = '/webhooks/meta/data-deletion';
const DEAUTHORIZE_PATH = '/webhooks/meta/deauthorize';
const STATUS_PATH = '/privacy/deletion';

/** The verified payload, or the answer already sent (400 for what Meta would not send, 503 when we cannot check). */
function readSignedRequest(app: App, req: Request, res: Response, callback: string): SignedRequestPayload | null {
  const form = (req.body ?? {}) as Record<string, unknown>;
  const check = verifySignedRequest(form.signed_request, [app.config.meta.appSecret], Date.now());
  if (check.ok) return check.payload;
  if (check.reason === 'no_secret') {
    app.logger.error({ callback }, 'META_APP_SECRET is not set: cannot verify signed requests from Meta');
    res.status(503).json({ error: SIGNED_REQUEST_REFUSALS.no_secret });
    return null;
  }
  app.logger.warn({ callback, reason: check.reason }, 'signed request refused');
  res.status(400).json({ error: SIGNED_REQUEST_REFUSALS[check.reason] });
  return null;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function statusPage(title: string, paragraphs: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;line-height:1.5;color:#1a1a1a}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n')}
</body></html>`;
}

const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

export function createMetaCallbackRouter(app: App): Router {
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: FORM_LIMIT });

  router.post(DATA_DELETION_PATH, form, async (req, res) => {
    const payload = readSignedRequest(app, req, res, 'data_deletion');
    if (!payload) return;
    try {
      const { confirmationCode, removal } = await handleDataDeletion(app, String(req.body.signed_request), payload.userId);
      if (removal) app.logger.info({ callback: 'data_deletion', ...removal }, 'Meta data-deletion request carried out');
      res.status(200).json({ url: `${app.config.publicUrl}${STATUS_PATH}/${confirmationCode}`, confirmation_code: confirmationCode });
    } catch (err) {
      app.logger.error({ err: errorSummary(err), callback: 'data_deletion' }, 'Meta data-deletion request failed; nothing was changed');
      res.status(503).json({ error: 'the request could not be carried out just now; send it again' });
    }
  });

  router.post(DEAUTHORIZE_PATH, form, async (req, res) => {
    const payload = readSignedRequest(app, req, res, 'deauthorize');
    if (!payload) return;
    try {
      const removal = await handleDeauthorization(app, String(req.body.signed_request), payload.userId);
      if (removal) app.logger.info({ callback: 'deauthorize', ...removal }, 'Meta deauthorization carried out');
      res.status(200).json({ status: removal ? 'done' : 'already_done' });
    } catch (err) {
      app.logger.error({ err: errorSummary(err), callback: 'deauthorize' }, 'Meta deauthorization failed; nothing was changed');
      res.status(503).json({ error: 'the request could not be carried out just now; send it again' });
    }
  });

  router.get(`${STATUS_PATH}/:code`, async (req, res) => {
    res.set('Cache-Control', 'no-store');
    const status = await findDataDeletionStatus(app, String(req.params.code));
    const wantsJson = req.accepts(['html', 'json']) === 'json';
    if (!status) {
      if (wantsJson) res.status(404).json({ error: 'no data-deletion request has this confirmation code' });
      else
        res
          .status(404)
          .type('html')
          .send(statusPage('Data deletion request not found', ['No data-deletion request has this confirmation code. Check the link Facebook gave you.']));
      return;
    }
    if (wantsJson) {
      res.json(status);
      return;
    }
    const erased = status.erased;
    const lines = [
      `Confirmation code: ${status.confirmation_code}.`,
      status.completed_at
        ? `Your request, received on ${status.received_at.slice(0, 10)}, was completed on ${status.completed_at.slice(0, 10)}.`
        : `Your request, received on ${status.received_at.slice(0, 10)}, is being carried out.`,
      ...(erased
        ? [
            `LeadRelay deleted ${plural(erased.facebook_logins_deleted, 'Facebook login', 'Facebook logins')} with their access tokens, ` +
              `deleted the tokens of ${plural(erased.pages_disconnected, 'Facebook Page', 'Facebook Pages')} connected through them (those Pages are now disconnected), ` +
              `and erased ${plural(erased.leads_erased, 'lead', 'leads')} tied to your Facebook account.`,
            'LeadRelay keeps no record of your Facebook user id.',
          ]
        : []),
    ];
    res.type('html').send(statusPage('Data deletion request', lines));
  });

  return router;
}
