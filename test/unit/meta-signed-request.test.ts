// Verifying Meta's signed_request (data-deletion and deauthorize callbacks): signature over the
// encoded payload with the app secret, the algorithm, and the request's age.
import { createHmac } from 'node:crypto';
import { expect } from 'chai';
import { verifySignedRequest } from '../../src/meta/signed-request.js';
import { buildSignedRequest } from '../helpers/meta-signed-request.js';

const SECRET = 'unit-app-secret';
const NOW_MS = Date.parse('2026-11-20T10:15:00Z');
const NOW_S = NOW_MS / 1000;

describe('verifySignedRequest', () => {
  it('accepts a request signed with the app secret and reads its app-scoped user id', () => {
    const r = verifySignedRequest(buildSignedRequest({ user_id: '10000000000123', issued_at: NOW_S - 10 }, SECRET), [SECRET], NOW_MS);
    expect(r).to.deep.equal({ ok: true, payload: { userId: '10000000000123', issuedAt: NOW_S - 10, expires: null } });
  });

  it('accepts it when any of several secrets signed it', () => {
    const r = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S }, SECRET), ['other', SECRET], NOW_MS);
    expect(r.ok).to.equal(true);
  });

  it('keeps a user id beyond 2^53 exact when Meta sends it as a number', () => {
    const encoded = Buffer.from(`{"algorithm":"HMAC-SHA256","issued_at":${NOW_S},"user_id":10000000000000000123}`).toString('base64url');
    const sig = createHmac('sha256', SECRET).update(encoded).digest('base64url');
    const r = verifySignedRequest(`${sig}.${encoded}`, [SECRET], NOW_MS);
    expect(r.ok && r.payload.userId).to.equal('10000000000000000123');
  });

  it('refuses a request signed with another secret', () => {
    expect(verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S }, 'not-the-secret'), [SECRET], NOW_MS)).to.deep.equal({
      ok: false,
      reason: 'bad_signature',
    });
  });

  it('refuses a payload changed after signing', () => {
    const [sig] = buildSignedRequest({ user_id: '42', issued_at: NOW_S }, SECRET).split('.');
    const other = Buffer.from(JSON.stringify({ algorithm: 'HMAC-SHA256', issued_at: NOW_S, user_id: '43' })).toString('base64url');
    expect(verifySignedRequest(`${sig}.${other}`, [SECRET], NOW_MS)).to.deep.equal({ ok: false, reason: 'bad_signature' });
  });

  it('refuses an algorithm other than HMAC-SHA256, even correctly signed', () => {
    const r = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S, algorithm: 'HMAC-SHA1' }, SECRET), [SECRET], NOW_MS);
    expect(r).to.deep.equal({ ok: false, reason: 'wrong_algorithm' });
  });

  it('refuses a request older than a day, one whose expires has passed, and one issued in the future', () => {
    const old = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S - 2 * 86_400 }, SECRET), [SECRET], NOW_MS);
    const expired = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S - 60, expires: NOW_S - 1 }, SECRET), [SECRET], NOW_MS);
    const future = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S + 3600 }, SECRET), [SECRET], NOW_MS);
    expect([old, expired, future]).to.deep.equal([
      { ok: false, reason: 'expired' },
      { ok: false, reason: 'expired' },
      { ok: false, reason: 'not_yet_valid' },
    ]);
  });

  it('treats expires 0 as no end', () => {
    const r = verifySignedRequest(buildSignedRequest({ user_id: '42', issued_at: NOW_S, expires: 0 }, SECRET), [SECRET], NOW_MS);
    expect(r.ok && r.payload.expires).to.equal(null);
  });

  it('refuses malformed requests without reading them', () => {
    for (const bad of [undefined, '', 'onlyonepart', 'a.b.c', '!!!.abc', 'abc.def', `${'A'.repeat(43)}.%%%`, 'x'.repeat(9000)])
      expect(verifySignedRequest(bad, [SECRET], NOW_MS), String(bad).slice(0, 20)).to.deep.equal({ ok: false, reason: 'malformed' });
  });

  it('refuses a payload without issued_at, and one without a numeric user_id', () => {
    const encoded = Buffer.from(JSON.stringify({ algorithm: 'HMAC-SHA256', user_id: '42' })).toString('base64url');
    const noIssuedAt = `${createHmac('sha256', SECRET).update(encoded).digest('base64url')}.${encoded}`;
    expect(verifySignedRequest(noIssuedAt, [SECRET], NOW_MS)).to.deep.equal({ ok: false, reason: 'malformed' });
    expect(verifySignedRequest(buildSignedRequest({ user_id: 'me', issued_at: NOW_S }, SECRET), [SECRET], NOW_MS)).to.deep.equal({
      ok: false,
      reason: 'no_user',
    });
  });

  it('says no_secret when no app secret is configured, whatever it is sent', () => {
    expect(verifySignedRequest(buildSignedRequest({ user_id: '42' }, SECRET), [''], NOW_MS)).to.deep.equal({ ok: false, reason: 'no_secret' });
  });
});
