// The profile benchmark's summary of V8 .cpuprofile files: which area a sample counts for, and
// which samples fall inside the measured window. Synthetic profiles written to a temporary folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { summarizeProfiles } from '../../bench/cpuprofile.js';

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0, columnNumber: 0, scriptId: '0' },
  hitCount: 0,
  children,
});

// (root) → processTicksAndRejections → verifySignature256 (src/meta/signature) → Hmac (node internal)
//        → query (pg) → writev (native)
//        → redactAnswerValues (src/lead/redact) → parsePhoneNumber (libphonenumber-js)
//        → (idle), (garbage collector)
const nodes = [
  frame(1, '(root)', '', [2, 6, 7]),
  frame(2, 'processTicksAndRejections', 'node:internal/process/task_queues', [3, 4, 8]),
  frame(3, 'verifySignature256', 'file:///app/dist/src/meta/signature.js', [9]),
  frame(4, 'query', 'file:///app/node_modules/pg/lib/client.js', [5]),
  frame(5, 'writev', ''),
  frame(6, '(idle)', ''),
  frame(7, '(garbage collector)', ''),
  frame(8, 'redactAnswerValues', 'file:///app/dist/src/lead/redact.js', [10]),
  frame(9, 'Hmac', 'node:internal/crypto/hash'),
  frame(10, 'parsePhoneNumber', 'file:///app/node_modules/libphonenumber-js/build/parse.js'),
];

describe('bench profile summary', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cpuprof-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** One sample per entry, 1 ms apart, starting at t = 1,000,000 µs. */
  function writeProfile(samples: number[]): void {
    const deltas = samples.map(() => 1000);
    writeFileSync(
      join(dir, 'a.cpuprofile'),
      JSON.stringify({ nodes, startTime: 1_000_000, endTime: 1_000_000 + 1000 * samples.length, samples, timeDeltas: deltas }),
    );
  }

  it('counts Node internals and native frames for the deepest program or package frame that called them', () => {
    writeProfile([9, 9, 5, 5, 5, 10, 7, 6, 6]);
    const s = summarizeProfiles(dir);
    expect(s.byArea.get('signature')).to.be.closeTo(2, 1e-9);
    expect(s.byArea.get('Kysely/pg')).to.be.closeTo(3, 1e-9);
    // A helper package used from several places counts for its caller.
    expect(s.byArea.get('delivery: redacting the CRM answer')).to.be.closeTo(1, 1e-9);
    expect(s.byArea.get('GC')).to.be.closeTo(1, 1e-9);
    expect(s.byArea.has('(idle)')).to.equal(false);
    // The last sample's duration is unknown (no next delta): one of the two idle samples counts.
    expect(s.idleMs).to.be.closeTo(1, 1e-9);
    expect(s.busyMs).to.be.closeTo(7, 1e-9);
  });

  it('keeps only the samples stamped inside the window', () => {
    // Sample i is stamped at 1,000,000 + 1000 × (i + 1) µs.
    writeProfile([9, 9, 5, 5, 5, 10]);
    const s = summarizeProfiles(dir, { fromUs: 1_002_500, toUs: 1_004_500 });
    expect([...s.byArea.keys()]).to.deep.equal(['Kysely/pg']);
    expect(s.busyMs).to.be.closeTo(2, 1e-9);
  });
});
