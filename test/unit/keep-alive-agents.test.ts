import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import axios from 'axios';
import { expect } from 'chai';
import { createGraphRequester } from '../../src/meta/graph-request.js';
import { crmHttpAgent, graphHttpAgent } from '../../src/util/keep-alive-agents.js';
import { guardOutboundUrl, sharedPinnedAgent } from '../../src/util/outbound-guard.js';
import { nockOffWhileRunning } from '../helpers/nock-off.js';

/** The native keep-alive setter of a socket (what makes the setsockopt calls). */
type HandleWithKeepAlive = { setKeepAlive(enable: boolean, delaySeconds: number): number };

describe('kept-alive outbound connections', () => {
  let server: http.Server;
  let base: string;
  /** Connections the server accepted. */
  let accepted = 0;
  nockOffWhileRunning();
  before(async () => {
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end('{"id":"1"}');
    });
    server.on('connection', () => accepted++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /**
   * Sends once, then twice more on the socket the first one left in the agent's pool, and counts
   * how often that socket's keep-alive setting reached the kernel during the two reuses.
   */
  async function keepAliveSettingsOnReuse(agent: http.Agent, send: () => Promise<unknown>): Promise<{ settings: number; connections: number }> {
    const acceptedBefore = accepted;
    const freed = new Promise<Socket>((resolve) => agent.once('free', (socket: Socket) => resolve(socket)));
    await send();
    const socket = await freed;
    const handle = (socket as unknown as { _handle: HandleWithKeepAlive })._handle;
    const original = handle.setKeepAlive.bind(handle);
    let settings = 0;
    handle.setKeepAlive = (enable, delaySeconds) => {
      settings++;
      return original(enable, delaySeconds);
    };
    await send();
    await send();
    return { settings, connections: accepted - acceptedBefore };
  }

  it('reuses a Graph connection without setting its keep-alive probe again', async () => {
    const graph = createGraphRequester({ graphUrl: base, version: 'v25.0', appSecret: 'secret', timeoutMs: 5000, retries: 0, retryMinDelayMs: 10 });
    const result = await keepAliveSettingsOnReuse(graphHttpAgent, () => graph.request('GET', 'me', 'token'));
    expect(result).to.deep.equal({ settings: 0, connections: 1 });
  });

  it('reuses a CRM connection without setting its keep-alive probe again', async () => {
    const client = axios.create({ baseURL: base, httpAgent: crmHttpAgent });
    const result = await keepAliveSettingsOnReuse(crmHttpAgent, () => client.get('/crm/v3/objects/contacts'));
    expect(result).to.deep.equal({ settings: 0, connections: 1 });
  });

  it('reuses a checked destination connection without setting its keep-alive probe again', async () => {
    const outcome = await guardOutboundUrl(`${base}/hook`, { allowPrivateDestinations: true });
    if (!outcome.isAllowed) throw new Error(outcome.refusal.message);
    const agent = sharedPinnedAgent(outcome.destination);
    const result = await keepAliveSettingsOnReuse(agent, () => axios.post(`${base}/hook`, { a: 1 }, { httpAgent: agent }));
    expect(result).to.deep.equal({ settings: 0, connections: 1 });
  });
});
