// GET /oauth/facebook/callback: where the Facebook Login dialog sends the browser back (the
// redirect URI registered in the Meta app). Not an API operation: it is a browser navigation that
// ends in a redirect to the web app's wizard, with the new connection or a facebook_error code
// (src/services/facebook/login.ts FACEBOOK_LOGIN_ERRORS). The state is checked against the session
// cookie the browser sends with this top-level navigation (SameSite=Lax allows it).
// Mounted before the CRM OAuth routes, whose /oauth/:type/callback would otherwise take it.
import { parse as parseCookies } from 'cookie';
import express, { type Router } from 'express';
import { sessionCookieName } from '../api/session-cookie.js';
import type { App } from '../app.js';
import { completeFacebookLogin, facebookErrorUrl } from '../services/facebook/login.js';
import { errorSummary } from '../util/error-summary.js';

export function createFacebookLoginRouter(app: App): Router {
  const router = express.Router();
  router.get('/oauth/facebook/callback', async (req, res) => {
    // The URL holds the code: nothing may cache it or send it on as a Referer.
    res.set({ 'cache-control': 'no-store', 'referrer-policy': 'no-referrer' });
    try {
      const outcome = await completeFacebookLogin(app, {
        query: new URL(req.originalUrl, 'http://local').searchParams,
        sessionCookie: parseCookies(req.headers.cookie ?? '')[sessionCookieName(app.config)],
        ip: req.ip ?? null,
        userAgent: req.get('user-agent') ?? null,
      });
      res.redirect(303, outcome.location);
    } catch (err) {
      app.logger.error({ err: errorSummary(err) }, 'Facebook login callback failed');
      res.redirect(303, facebookErrorUrl(app, 'failed'));
    }
  });
  return router;
}
