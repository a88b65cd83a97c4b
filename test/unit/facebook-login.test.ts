import { expect } from 'chai';
import { buildDialogUrl, checkPageTasks, createLoginStateSigner, findMissingPermissions } from '../../src/meta/facebook-login.js';

const KEY = Buffer.alloc(32, 3);
const NOW = Date.UTC(2026, 10, 20, 12, 0, 0);
const SESSION = 'a'.repeat(64);
const base = {
  dialogUrl: 'https://www.facebook.com/',
  graphVersion: 'v25.0',
  appId: '123',
  redirectUri: 'https://lr.example.com/oauth/facebook/callback',
  state: 's.t',
};

describe('Facebook Login dialog URL', () => {
  it('asks by scope without a configuration', () => {
    const url = new URL(buildDialogUrl({ ...base, scopes: ['pages_show_list', 'leads_retrieval'] }));
    expect(`${url.origin}${url.pathname}`).to.equal('https://www.facebook.com/v25.0/dialog/oauth');
    expect(Object.fromEntries(url.searchParams)).to.deep.equal({
      client_id: '123',
      redirect_uri: base.redirectUri,
      state: 's.t',
      response_type: 'code',
      scope: 'pages_show_list,leads_retrieval',
    });
  });

  it('sends config_id instead of scope with a Login for Business configuration, and auth_type=rerequest to ask again', () => {
    const url = new URL(buildDialogUrl({ ...base, scopes: ['leads_retrieval'], configId: '987', rerequest: true }));
    expect(url.searchParams.get('config_id')).to.equal('987');
    expect(url.searchParams.has('scope')).to.equal(false);
    expect(url.searchParams.get('auth_type')).to.equal('rerequest');
  });
});

describe('Facebook Login state', () => {
  const signer = createLoginStateSigner(KEY);
  const made = () => signer.create({ workspaceId: 'w1', userId: 'u1', sessionIdHash: SESSION }, NOW);

  it('reads back its workspace and user with the session it was made for', () => {
    const r = signer.read(made(), SESSION, NOW + 60_000);
    expect(r.ok).to.equal(true);
    if (r.ok) expect(r.state).to.include({ workspaceId: 'w1', userId: 'u1' });
  });

  it('gives each state its own nonce', () => {
    const a = signer.read(made(), SESSION, NOW);
    const b = signer.read(made(), SESSION, NOW);
    expect(a.ok && b.ok && a.state.nonce !== b.state.nonce).to.equal(true);
  });

  it('refuses it with another session or none', () => {
    expect(signer.read(made(), 'b'.repeat(64), NOW)).to.deep.include({ ok: false, failure: 'other_session', workspaceId: 'w1' });
    expect(signer.read(made(), null, NOW)).to.deep.include({ ok: false, failure: 'other_session' });
  });

  it('refuses it after 15 minutes', () => {
    expect(signer.read(made(), SESSION, NOW + 15 * 60_000)).to.deep.include({ ok: false, failure: 'expired' });
  });

  it('refuses an altered body, a signature of another key, and garbage', () => {
    const [body, sig] = made().split('.');
    const other = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body!, 'base64url').toString()), w: 'w2' })).toString('base64url');
    expect(signer.read(`${other}.${sig}`, SESSION, NOW)).to.deep.include({ ok: false, failure: 'bad_signature' });
    expect(createLoginStateSigner(Buffer.alloc(32, 4)).read(made(), SESSION, NOW)).to.deep.include({ ok: false, failure: 'bad_signature' });
    expect(signer.read('not a state', SESSION, NOW)).to.deep.include({ ok: false, failure: 'malformed' });
    expect(signer.read('', SESSION, NOW)).to.deep.include({ ok: false, failure: 'malformed' });
  });

  it('refuses a key shorter than 32 bytes', () => {
    expect(() => createLoginStateSigner(Buffer.alloc(16))).to.throw(/32 bytes/);
  });
});

describe('Facebook permissions that stop leads', () => {
  const granted = (...names: string[]) => names.map((permission) => ({ permission, status: 'granted' }));
  const all = ['pages_show_list', 'pages_manage_metadata', 'pages_read_engagement', 'leads_retrieval', 'ads_management'];

  it('finds none when every lead permission is granted', () => {
    expect(findMissingPermissions(granted(...all))).to.deep.equal([]);
  });

  it('names a declined or never granted lead permission', () => {
    const permissions = [
      ...granted('pages_show_list', 'pages_manage_metadata', 'pages_read_engagement'),
      { permission: 'leads_retrieval', status: 'declined' },
    ];
    expect(findMissingPermissions(permissions)).to.deep.equal(['leads_retrieval', 'ads_management']);
  });

  it('names an extra permission only when the person declined it, not when it was never asked (a configuration without it)', () => {
    expect(findMissingPermissions(granted(...all))).to.not.include('pages_manage_ads');
    expect(findMissingPermissions([...granted(...all), { permission: 'pages_manage_ads', status: 'declined' }])).to.deep.equal(['pages_manage_ads']);
  });

  it('counts an expired permission as missing', () => {
    expect(findMissingPermissions([...granted(...all.slice(1)), { permission: 'pages_show_list', status: 'expired' }])).to.deep.equal(['pages_show_list']);
  });
});

describe('Page tasks', () => {
  it('allows leads with full control', () => {
    expect(checkPageTasks(['ADVERTISE', 'ANALYZE', 'CREATE_CONTENT', 'MESSAGING', 'MODERATE', 'MANAGE'])).to.deep.equal({
      canManageLeads: true,
      canInstallApp: true,
      canReadLeads: true,
    });
  });
  it('needs ADVERTISE to read leads and MANAGE, CREATE_CONTENT or MODERATE to install the app', () => {
    expect(checkPageTasks(['ADVERTISE', 'ANALYZE'])).to.deep.equal({ canManageLeads: false, canInstallApp: false, canReadLeads: true });
    expect(checkPageTasks(['MODERATE'])).to.deep.equal({ canManageLeads: false, canInstallApp: true, canReadLeads: false });
    expect(checkPageTasks(['create_content', 'advertise']).canManageLeads).to.equal(true);
  });
});
