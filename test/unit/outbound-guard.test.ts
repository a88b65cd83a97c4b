import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import {
  classifyAddress,
  createPinnedAgent,
  guardOutboundUrl,
  sharedPinnedAgent,
  type ResolveHost,
  type ResolvedAddress,
} from '../../src/util/outbound-guard.js';
import { nockOffWhileRunning } from '../helpers/nock-off.js';

const resolvingTo =
  (table: Record<string, string[]>): ResolveHost =>
  async (hostname) => {
    const list = table[hostname];
    if (!list) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return list.map((address): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

describe('outbound guard', () => {
  describe('classifyAddress', () => {
    const refused: Array<[string, string]> = [
      ['10.0.0.1', 'private'],
      ['10.255.255.255', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.254', 'private'],
      ['192.168.1.10', 'private'],
      ['127.0.0.1', 'loopback'],
      ['127.53.1.2', 'loopback'],
      ['169.254.169.254', 'linkLocal'],
      ['100.64.0.1', 'carrierGradeNat'],
      ['100.127.255.254', 'carrierGradeNat'],
      ['0.0.0.0', 'unspecified'],
      ['224.0.0.251', 'multicast'],
      ['255.255.255.255', 'broadcast'],
      ['::1', 'loopback'],
      ['::', 'unspecified'],
      ['fc00::1', 'uniqueLocal'],
      ['fd12:3456:789a::1', 'uniqueLocal'],
      ['fe80::1', 'linkLocal'],
      ['febf::1', 'linkLocal'],
      ['ff02::1', 'multicast'],
      ['::ffff:127.0.0.1', 'loopback'],
      ['::ffff:10.1.2.3', 'private'],
      ['::ffff:169.254.169.254', 'linkLocal'],
      ['::7f00:1', 'ipv4Compatible'],
      ['64:ff9b::a00:1', 'rfc6052'],
    ];
    for (const [address, range] of refused) {
      it(`refuses ${address} (${range})`, () => {
        const verdict = classifyAddress(address);
        expect(verdict, address).to.not.equal(null);
        expect(verdict!.isPublic).to.equal(false);
        expect(verdict!.range).to.equal(range);
      });
    }

    const allowed = [
      '8.8.8.8',
      '93.184.215.14',
      '172.32.0.1',
      '172.15.255.255',
      '100.128.0.1',
      '2606:4700:4700::1111',
      '2a00:1450:4001:80b::200e',
      '::ffff:8.8.8.8',
    ];
    for (const address of allowed) {
      it(`allows public ${address}`, () => {
        const verdict = classifyAddress(address);
        expect(verdict?.isPublic, address).to.equal(true);
        expect(verdict?.range).to.equal('unicast');
      });
    }

    it('returns null for text that is not an address', () => {
      expect(classifyAddress('crm.example.test')).to.equal(null);
    });
  });

  describe('guardOutboundUrl', () => {
    const resolveHost = resolvingTo({
      'crm.example.test': ['93.184.215.14'],
      'v6.example.test': ['2606:4700:4700::1111'],
      'mixed.example.test': ['93.184.215.14', '10.0.0.7'],
      'mixed6.example.test': ['2606:4700:4700::1111', 'fd00::5'],
      'internal.example.test': ['192.168.0.20'],
      'empty.example.test': [],
    });

    it('allows an https URL whose host resolves to public addresses, pinned to the first', async () => {
      const outcome = await guardOutboundUrl('https://crm.example.test/hooks?token=abc', { allowPrivateDestinations: false, resolveHost });
      expect(outcome.isAllowed).to.equal(true);
      if (!outcome.isAllowed) return;
      expect(outcome.destination.address).to.equal('93.184.215.14');
      expect(outcome.destination.family).to.equal(4);
      expect(outcome.destination.hostname).to.equal('crm.example.test');
      expect(outcome.destination.addresses).to.deep.equal([{ address: '93.184.215.14', family: 4 }]);
    });

    it('allows a public IPv6 host', async () => {
      const outcome = await guardOutboundUrl('https://v6.example.test/', { allowPrivateDestinations: false, resolveHost });
      expect(outcome.isAllowed && outcome.destination.family).to.equal(6);
    });

    for (const host of ['mixed.example.test', 'mixed6.example.test']) {
      it(`refuses ${host}, which resolves to a mix of public and private addresses`, async () => {
        const outcome = await guardOutboundUrl(`https://${host}/x`, { allowPrivateDestinations: false, resolveHost });
        expect(outcome.isAllowed).to.equal(false);
        if (outcome.isAllowed) return;
        expect(outcome.refusal.reason).to.equal('private_address_refused');
        expect(outcome.refusal.message).to.contain(host);
      });
    }

    it('refuses private IP literals (v4, v6, IPv4-mapped, odd IPv4 spellings)', async () => {
      for (const url of [
        'https://127.0.0.1/',
        'https://[::1]/',
        'https://[::ffff:127.0.0.1]/',
        'https://0x7f.1/',
        'https://2130706433/',
        'https://[fe80::1]/',
        'https://169.254.169.254/latest',
      ]) {
        const outcome = await guardOutboundUrl(url, { allowPrivateDestinations: false, resolveHost });
        expect(outcome.isAllowed, url).to.equal(false);
        if (!outcome.isAllowed) expect(outcome.refusal.reason, url).to.equal('private_address_refused');
      }
    });

    it('does not resolve an IP literal', async () => {
      let calls = 0;
      const outcome = await guardOutboundUrl('https://93.184.215.14/', {
        allowPrivateDestinations: false,
        resolveHost: async () => {
          calls++;
          return [];
        },
      });
      expect(outcome.isAllowed).to.equal(true);
      expect(calls).to.equal(0);
    });

    it('allows private addresses and plain http only when private destinations are allowed', async () => {
      const refused = await guardOutboundUrl('http://internal.example.test/', { allowPrivateDestinations: false, resolveHost });
      expect(refused.isAllowed === false && refused.refusal.reason).to.equal('scheme_refused');
      const refusedHttps = await guardOutboundUrl('https://internal.example.test/', { allowPrivateDestinations: false, resolveHost });
      expect(refusedHttps.isAllowed === false && refusedHttps.refusal.reason).to.equal('private_address_refused');
      const allowed = await guardOutboundUrl('http://internal.example.test/', { allowPrivateDestinations: true, resolveHost });
      expect(allowed.isAllowed && allowed.destination.address).to.equal('192.168.0.20');
    });

    it('refuses other schemes, credentials in the URL and unparsable URLs', async () => {
      const cases: Array<[string, string]> = [
        ['ftp://crm.example.test/', 'scheme_refused'],
        ['file:///etc/passwd', 'scheme_refused'],
        ['https://user:pw@crm.example.test/', 'credentials_in_url'],
        ['not a url', 'invalid_url'],
      ];
      for (const [url, reason] of cases) {
        const outcome = await guardOutboundUrl(url, { allowPrivateDestinations: true, resolveHost });
        expect(outcome.isAllowed === false && outcome.refusal.reason, url).to.equal(reason);
        if (!outcome.isAllowed) expect(outcome.refusal.message).to.not.contain('pw');
      }
    });

    it('reports resolver failures with their code, and a host without addresses', async () => {
      const missing = await guardOutboundUrl('https://nowhere.example.test/', { allowPrivateDestinations: false, resolveHost });
      expect(missing.isAllowed === false && missing.refusal).to.deep.include({ reason: 'dns_lookup_failed', networkCode: 'ENOTFOUND' });
      const empty = await guardOutboundUrl('https://empty.example.test/', { allowPrivateDestinations: false, resolveHost });
      expect(empty.isAllowed === false && empty.refusal.reason).to.equal('dns_lookup_failed');
    });

    it('never puts the path or query (which may hold a token) in its message', async () => {
      const outcome = await guardOutboundUrl('https://internal.example.test/hook/s3cr3t-path?key=s3cr3t-query', {
        allowPrivateDestinations: false,
        resolveHost,
      });
      expect(outcome.isAllowed).to.equal(false);
      if (!outcome.isAllowed) {
        expect(outcome.refusal.message).to.not.contain('s3cr3t');
        expect(outcome.refusal.message).to.contain('192.168.0.20');
      }
    });
  });

  describe('createPinnedAgent', () => {
    let server: http.Server;
    let port: number;
    nockOffWhileRunning();
    before(async () => {
      server = http.createServer((req, res) => res.end(`host=${req.headers.host}`));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('connects to the checked address whatever the host name resolves to now, keeping the Host header', async () => {
      // `pinned.invalid` cannot resolve through real DNS (RFC 6761), so reaching the server
      // proves the agent used the pinned address.
      const outcome = await guardOutboundUrl(`http://pinned.invalid:${port}/`, {
        allowPrivateDestinations: true,
        resolveHost: resolvingTo({ 'pinned.invalid': ['127.0.0.1'] }),
      });
      expect(outcome.isAllowed).to.equal(true);
      if (!outcome.isAllowed) return;
      const agent = createPinnedAgent(outcome.destination);
      const text = await new Promise<string>((resolve, reject) => {
        http
          .get(outcome.destination.url, { agent }, (res) => {
            let data = '';
            res.on('data', (c) => (data += c));
            res.on('end', () => resolve(data));
          })
          .on('error', reject);
      });
      agent.destroy();
      expect(text).to.equal(`host=pinned.invalid:${port}`);
    });

    it('offers every checked address, so a host with ::1 first still reaches a server on 127.0.0.1', async () => {
      const outcome = await guardOutboundUrl(`http://both.invalid:${port}/`, {
        allowPrivateDestinations: true,
        resolveHost: resolvingTo({ 'both.invalid': ['::1', '127.0.0.1'] }),
      });
      if (!outcome.isAllowed) throw new Error('expected the guard to allow it');
      expect(outcome.destination.address).to.equal('::1');
      const agent = createPinnedAgent(outcome.destination);
      const status = await new Promise<number | undefined>((resolve, reject) => {
        http
          .get(outcome.destination.url, { agent }, (res) => {
            res.resume();
            resolve(res.statusCode);
          })
          .on('error', reject);
      });
      agent.destroy();
      expect(status).to.equal(200);
    });
  });
  describe('sharedPinnedAgent', () => {
    let server: http.Server;
    let port: number;
    /** The client ports of the connections the server accepted, in order. */
    const connections: number[] = [];
    nockOffWhileRunning();
    before(async () => {
      server = http.createServer((req, res) => res.end(`host=${req.headers.host}`));
      server.on('connection', (socket) => connections.push(socket.remotePort ?? 0));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
    });
    after(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    const check = async (host: string, addresses: string[]) => {
      const outcome = await guardOutboundUrl(`http://${host}:${port}/`, { allowPrivateDestinations: true, resolveHost: resolvingTo({ [host]: addresses }) });
      if (!outcome.isAllowed) throw new Error('expected the guard to allow it');
      return outcome.destination;
    };
    const get = (url: URL, agent: http.Agent) =>
      new Promise<string>((resolve, reject) => {
        http
          .get(url, { agent }, (res) => {
            let data = '';
            res.on('data', (c) => (data += c));
            res.on('end', () => resolve(data));
          })
          .on('error', reject);
      });

    it('sends one request after another to a checked destination over one connection, to the pinned address', async () => {
      const before = connections.length;
      const first = await check('keep.invalid', ['127.0.0.1']);
      const agent = sharedPinnedAgent(first);
      // The socket goes back to the pool just after the answer ends.
      const isFree = new Promise((resolve) => agent.once('free', resolve));
      expect(await get(first.url, agent)).to.equal(`host=keep.invalid:${port}`);
      await isFree;
      const second = await check('keep.invalid', ['127.0.0.1']);
      expect(sharedPinnedAgent(second)).to.equal(agent);
      expect(await get(second.url, sharedPinnedAgent(second))).to.equal(`host=keep.invalid:${port}`);
      expect(connections.length - before).to.equal(1);
    });

    it('gives another host name, or the same name checked to other addresses, an agent of its own', async () => {
      const a = sharedPinnedAgent(await check('one.invalid', ['127.0.0.1']));
      const b = sharedPinnedAgent(await check('two.invalid', ['127.0.0.1']));
      const c = sharedPinnedAgent(await check('one.invalid', ['::1', '127.0.0.1']));
      expect(new Set([a, b, c]).size).to.equal(3);
    });
  });
});
