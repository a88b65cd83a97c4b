// /metrics through the real binary: off (404) with neither METRICS_TOKEN nor METRICS_LISTEN;
// with a token, 401 without it or with a wrong one and 200 with it; with METRICS_LISTEN, served
// on that separate address while the public port still refuses it.
import { expect } from 'chai';
import { baseEnv, freePort, removeQueues, startProgram, type RunningProgram } from '../helpers/e2e.js';
import { createTestSchema, type TestSchema } from '../helpers/test-db.js';

const METRICS_TOKEN = 'metrics-token-for-e2e-0123456789';

describe('e2e: /metrics is not for the world', function () {
  this.timeout(300_000);
  let schema: TestSchema;
  const envs: Record<string, string>[] = [];
  const programs: RunningProgram[] = [];

  const start = async (extra: Record<string, string>) => {
    const env = baseEnv({ DATABASE_URL: schema.url, ...extra });
    envs.push(env);
    const program = await startProgram('serve', env);
    programs.push(program);
    return program;
  };
  const metricsOf = (url: string, token?: string) => fetch(`${url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  before(async () => {
    schema = await createTestSchema('e2e');
  });
  after(async () => {
    for (const p of programs) await p.kill();
    for (const env of envs) await removeQueues('redis', env.QUEUE_PREFIX);
    await schema?.drop();
  });

  it('answers 404 when neither METRICS_TOKEN nor METRICS_LISTEN is set', async () => {
    const program = await start({});
    const r = await metricsOf(program.url, METRICS_TOKEN);
    expect(r.status).to.equal(404);
    expect(await r.text()).to.not.include('leadrelay_');
  });

  it('answers 401 without the token or with a wrong one, and 200 with METRICS_TOKEN', async () => {
    const program = await start({ METRICS_TOKEN });
    const none = await metricsOf(program.url);
    expect(none.status).to.equal(401);
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer/);
    const wrong = await metricsOf(program.url, `${METRICS_TOKEN}x`);
    expect(wrong.status).to.equal(401);
    expect(await wrong.text()).to.not.include('leadrelay_');
    const right = await metricsOf(program.url, METRICS_TOKEN);
    expect(right.status).to.equal(200);
    expect(right.headers.get('content-type')).to.match(/^text\/plain/);
    expect(await right.text()).to.include('leadrelay_');
  });

  it("serves /metrics on METRICS_LISTEN's own address, and not on the public port", async () => {
    const port = await freePort();
    const program = await start({ METRICS_LISTEN: `127.0.0.1:${port}` });
    const separate = await metricsOf(`http://127.0.0.1:${port}`);
    expect(separate.status).to.equal(200);
    expect(await separate.text()).to.include('leadrelay_');
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 'only /metrics there').to.equal(404);
    expect((await metricsOf(program.url)).status).to.equal(404);
  });
});
