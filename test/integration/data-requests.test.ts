// Data-subject requests on the real PostgreSQL, through the services the API and the CLI share:
// find (also leads the blind index has not reached), export (JSON, CSV), correct, erase; each
// request's receipt and audit entry name the person by a keyed hash only.
import { expect } from 'chai';
import { graphLeadSchema } from '../../src/meta/graph-types.js';
import { recentRecordKeyHash } from '../../src/pipeline/connector-context.js';
import { decryptLeadAnswers, leadRowFromGraph } from '../../src/pipeline/lead-record.js';
import { indexFetchedLead, questionTypesOf } from '../../src/pipeline/lead-search-index.js';
import { correctSubject, eraseSubject, exportSubject, findSubject, parseSubject, subjectCsv } from '../../src/services/data-requests.js';
import { cliFieldNamer, InvalidInputError } from '../../src/services/errors.js';
import { saveRecentRecord } from '../../src/store/recent-records.js';
import * as repo from '../../src/store/repos.js';
import { parseCsvRows } from '../helpers/csv.js';
import { waitingForLockOrDone } from '../helpers/rows.js';
import { createTestApp, type TestApp } from '../helpers/test-app.js';

const PAGE = '840000001';
const FORM = '840000002';
const QUESTIONS = [
  { key: 'full_name', type: 'FULL_NAME', label: 'Full name' },
  { key: 'email', type: 'EMAIL', label: 'Email' },
  { key: 'phone_number', type: 'PHONE', label: 'Phone' },
  { key: 'note', type: 'CUSTOM', label: 'Anything else?' },
];
const ANN = { name: 'Ann Example', email: 'Ann.Example@Example.COM', phone: '+1 (415) 555-0100' };
const BOB = { name: 'Bob Other', email: 'bob.other@example.com', phone: '+44 7700 900123' };
const requester = { actor: { type: 'operator' as const, id: null, label: 'tester (CLI)' } };
const name = cliFieldNamer();

describe('data-subject requests', function () {
  this.timeout(60_000);
  let t: TestApp;
  let workspaceId: string;
  let destinationId: string;
  let routeId: string;
  let nextLeadgen = 8_400_000_000_000_000_000n;

  before(async () => {
    t = await createTestApp();
    workspaceId = (await repo.createWorkspace(t.app.db, 'Requests')).id;
    await repo.upsertForm(t.app.db, { workspaceId, formId: FORM, pageId: PAGE, name: 'Test ride', questions: QUESTIONS });
    const dest = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'Sales hook',
      config: { url: 'http://127.0.0.1:9/unused' },
      credentialsEnvelope: null,
    });
    destinationId = dest.id;
    routeId = (await repo.createRoute(t.app.db, { workspaceId, pageId: PAGE, formId: FORM, destinationId, filter: undefined })).id;
  });
  after(async () => {
    await t?.cleanup();
  });

  /** A fetched lead of a person, indexed like the fetch step does (unless `indexed` is false), with a delivered delivery and an attempt quoting them. */
  async function storeLead(person: typeof ANN, opts: { indexed?: boolean; note?: string } = {}) {
    const leadgenId = String(nextLeadgen++);
    const g = graphLeadSchema.parse({
      id: leadgenId,
      created_time: '2026-11-20T10:15:00+0000',
      form_id: FORM,
      field_data: [
        { name: 'full_name', values: [person.name] },
        { name: 'email', values: [person.email] },
        { name: 'phone_number', values: [person.phone] },
        ...(opts.note ? [{ name: 'note', values: [opts.note] }] : []),
      ],
      platform: 'fb',
      is_organic: false,
    });
    const row = leadRowFromGraph(
      t.app.keyRing,
      { workspaceId, eventId: 0, pageId: PAGE, pageName: 'Page', formName: 'Test ride', receivedAt: new Date(), isTest: false },
      g,
    );
    const lead = await repo.insertLead(t.app.db, { ...row, event_id: null });
    if (opts.indexed !== false)
      await indexFetchedLead(t.app.db, t.app.keyRing, lead, decryptLeadAnswers(t.app.keyRing, lead).answers, questionTypesOf(QUESTIONS));
    const [delivery] = await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: lead.id, destinationId, routeId }]);
    await repo.updateDelivery(t.app.db, delivery!.id, {
      status: 'delivered',
      attempts: 1,
      external_id: `rec-${leadgenId}`,
      external_url: `https://crm.example.com/rec-${leadgenId}`,
      action: 'created',
      delivered_at: new Date(),
      last_error_message: `Duplicate of ${person.email.toLowerCase()}`,
      connector_state: repo.json({ personId: 7 }),
    });
    // A row written before messages were redacted at write time: the person's words, verbatim.
    await repo.recordAttempt(t.app.db, {
      workspaceId,
      deliveryId: delivery!.id,
      attempt: 1,
      startedAt: new Date(),
      outcome: 'delivered',
      httpStatus: 200,
      message: `${person.name} <${person.email}> ${person.phone}`,
      responseBody: `{"email":"${person.email}","name":"${person.name}"}`,
    });
    return { lead: (await repo.findLead(t.app.db, lead.id))!, deliveryId: delivery!.id };
  }

  const answersOf = async (leadId: string) => decryptLeadAnswers(t.app.keyRing, (await repo.findLead(t.app.db, leadId))!).answers;

  it('names the subject field without repeating the value', () => {
    for (const [input, field] of [
      [{ email: 'not-an-address' }, '--email'],
      [{ phone: '12' }, '--phone'],
      [{ email: 'a@example.com', phone: '+14155550100' }, '--email'],
      [{}, '--email'],
    ] as const) {
      let err: unknown;
      try {
        parseSubject(input, name);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(field)).to.be.instanceOf(InvalidInputError);
      expect((err as InvalidInputError).issues[0]!.field).to.equal(field);
      for (const v of Object.values(input)) expect((err as Error).message).to.not.contain(v);
    }
  });

  it('finds exactly the person’s leads by email and by phone, also one the index had not reached', async () => {
    const a1 = await storeLead(ANN);
    const a2 = await storeLead(ANN, { indexed: false });
    const b1 = await storeLead(BOB);
    const byEmail = await findSubject(t.app, workspaceId, parseSubject({ email: '  ann.example@EXAMPLE.com ' }, name), requester);
    expect(byEmail.result.map((l) => l.id).sort()).to.deep.equal([a1.lead.id, a2.lead.id].sort());
    expect(byEmail.result[0]!.deliveries[0]).to.deep.include({ status: 'delivered', external_id: `rec-${a1.lead.leadgen_id}` });
    expect(byEmail.result[0]!.deliveries[0]!.destination).to.deep.equal({ id: destinationId, name: 'Sales hook', type: 'webhook' });
    const byPhone = await findSubject(t.app, workspaceId, parseSubject({ phone: '+14155550100' }, name), requester);
    expect(byPhone.result.map((l) => l.id).sort()).to.deep.equal([a1.lead.id, a2.lead.id].sort());
    expect(byPhone.result.map((l) => l.id)).to.not.include(b1.lead.id);
    // Another workspace's index does not answer for this one.
    const other = (await repo.createWorkspace(t.app.db, 'Other')).id;
    expect((await findSubject(t.app, other, parseSubject({ email: ANN.email }, name), requester)).result).to.deep.equal([]);
  });

  it('records each request with a receipt and an audit entry that name the person by a keyed hash only', async () => {
    const { receipt } = await findSubject(t.app, workspaceId, parseSubject({ email: BOB.email }, name), requester);
    expect(receipt).to.include({ kind: 'find', subject_kind: 'email', status: 'done', requested_by: 'tester (CLI)' });
    expect(receipt.subject_hash).to.match(/^[0-9a-f]{64}$/);
    expect(receipt.counts).to.deep.equal({ leads: 1 });
    // Not the blind index's hash: a receipt cannot be joined to lead_search.
    expect(await t.app.db.selectFrom('lead_search').select('lead_id').where('hash', '=', receipt.subject_hash).execute()).to.deep.equal([]);
    const entry = await t.app.db.selectFrom('audit_log').selectAll().where('target_id', '=', receipt.id).executeTakeFirstOrThrow();
    expect(entry).to.include({ action: 'dataRequest.find', target_type: 'data_request', workspace_id: workspaceId, actor_type: 'operator' });
    expect(JSON.stringify(entry)).to.not.contain('bob.other');
    expect(JSON.stringify(receipt)).to.not.contain('bob.other');
  });

  it('exports the person’s answers, metadata and delivery history as JSON and CSV, with formulas made inert', async () => {
    const person = { name: 'Cleo Csv', email: 'cleo@example.com', phone: '+33 6 12 34 56 78' };
    const one = await storeLead(person, { note: '=HYPERLINK("https://evil.example/")' });
    const two = await storeLead(person);
    const { receipt, result } = await exportSubject(t.app, workspaceId, parseSubject({ email: person.email }, name), 'json', requester);
    expect(receipt).to.include({ kind: 'export', status: 'done' });
    expect(result.map((l) => l.id)).to.deep.equal([one.lead.id, two.lead.id]);
    expect(result[0]!.answers).to.deep.include({ key: 'email', label: 'Email', values: [person.email] });
    expect(result[0]!.form).to.deep.equal({ id: FORM, name: 'Test ride' });
    const d = result[0]!.deliveries[0]!;
    expect(d).to.deep.include({
      status: 'delivered',
      external_id: `rec-${one.lead.leadgen_id}`,
      external_url: `https://crm.example.com/rec-${one.lead.leadgen_id}`,
    });
    expect(d.destination).to.deep.equal({ id: destinationId, name: 'Sales hook', type: 'webhook' });
    expect(d.history.map((h) => h.outcome)).to.deep.equal(['delivered']);

    const rows = parseCsvRows(subjectCsv(result));
    expect(rows.map((r) => r.lead_id)).to.deep.equal([one.lead.id, two.lead.id]);
    expect(rows[0]!['answer:email']).to.equal(person.email);
    expect(rows[0]!['answer:phone_number'], 'a phone number stays as typed').to.equal(person.phone);
    expect(rows[0]!['answer:note']).to.equal(`'=HYPERLINK("https://evil.example/")`);
    expect(rows[0]).to.include({
      destination_name: 'Sales hook',
      destination_type: 'webhook',
      delivery_status: 'delivered',
      external_id: `rec-${one.lead.leadgen_id}`,
    });
  });

  it('corrects an answer: re-encrypted, re-indexed, the old value out of stored messages, and re-delivered on request', async () => {
    const person = { name: 'Dora Typo', email: 'dora.typo@example.com', phone: '+1 212 555 0199' };
    const { lead, deliveryId } = await storeLead(person);
    const term = parseSubject({ email: person.email }, name);
    const r = await correctSubject(
      t.app,
      workspaceId,
      term,
      {
        answers: [
          { key: 'email', values: ['dora@example.com'] },
          { key: 'full_name', values: ['Dora Fixed'] },
        ],
        redeliver: true,
      },
      requester,
      name,
    );
    expect(r.receipt).to.include({ kind: 'correct', status: 'done' });
    expect(r.receipt.counts).to.deep.equal({ leads: 1, answers: 2, redeliveries: 1 });
    expect(await answersOf(lead.id)).to.deep.include.members([
      { key: 'email', values: ['dora@example.com'] },
      { key: 'full_name', values: ['Dora Fixed'] },
    ]);
    // Found by the new address, no longer by the old.
    expect((await findSubject(t.app, workspaceId, parseSubject({ email: 'dora@example.com' }, name), requester)).result.map((l) => l.id)).to.deep.equal([
      lead.id,
    ]);
    expect((await findSubject(t.app, workspaceId, term, requester)).result).to.deep.equal([]);
    const attempts = await repo.listAttempts(t.app.db, deliveryId);
    expect(JSON.stringify(attempts)).to.not.contain('dora.typo@example.com').and.not.contain('Dora Typo');
    // Re-delivered through the replay path: the delivered delivery is pending again.
    expect((await repo.findDelivery(t.app.db, deliveryId))!.status).to.equal('pending');
  });

  it('refuses a correction of a question none of the person’s leads answered, recording the failure', async () => {
    let err: unknown;
    try {
      await correctSubject(
        t.app,
        workspaceId,
        parseSubject({ email: BOB.email }, name),
        { answers: [{ key: 'no_such_question', values: ['x'] }], redeliver: false },
        requester,
        name,
      );
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(InvalidInputError);
    const receipt = await t.app.db.selectFrom('data_requests').selectAll().where('kind', '=', 'correct').where('status', '=', 'failed').executeTakeFirst();
    expect(receipt?.counts).to.deep.equal({ error: 'InvalidInputError' });
  });

  it("erases the person: answers, index rows, copies in deliveries and attempts, recent records; another person's data stays", async () => {
    const person = { name: 'Erin Gone', email: 'erin.gone@example.com', phone: '+1 646 555 0142' };
    const e1 = await storeLead(person);
    const e2 = await storeLead(person);
    const keep = await storeLead({ name: 'Kim Kept', email: 'kim.kept@example.com', phone: '+1 646 555 0143' });
    // A delivery of Erin's still waiting, to another destination.
    const later = await repo.createDestination(t.app.db, {
      workspaceId,
      type: 'webhook',
      name: 'Later',
      config: { url: 'http://127.0.0.1:9/l' },
      credentialsEnvelope: null,
    });
    const pending = (await repo.ensureDeliveries(t.app.db, [{ workspaceId, leadId: e2.lead.id, destinationId: later.id, routeId }])).find(
      (d) => d.destination_id === later.id,
    )!;
    const keyOf = (k: string) => recentRecordKeyHash(t.app, destinationId, k);
    await saveRecentRecord(t.app.db, { workspaceId, destinationId, keyHash: keyOf('email:erin.gone@example.com') }, 'person-1', 60_000);
    await saveRecentRecord(t.app.db, { workspaceId, destinationId, keyHash: keyOf('email:kim.kept@example.com') }, 'person-2', 60_000);

    const { receipt } = await eraseSubject(t.app, workspaceId, parseSubject({ phone: '+16465550142' }, name), { inCrm: true }, requester);
    expect(receipt).to.include({ kind: 'erase', subject_kind: 'phone', status: 'done' });
    expect(receipt.counts).to.deep.include({ leads: 2, recent_records: 1 });
    // The webhook connector cannot erase anything at the receiver: said so, with the records to erase by hand.
    expect((receipt.counts as { crm: unknown[] }).crm).to.deep.equal([
      { destination_id: destinationId, type: 'webhook', outcome: 'unsupported', records: 2 },
      { destination_id: later.id, type: 'webhook', outcome: 'unsupported', records: 0 },
    ]);

    for (const { lead, deliveryId } of [e1, e2]) {
      const row = (await repo.findLead(t.app.db, lead.id))!;
      expect(row.answers_envelope).to.equal(null);
      expect(row.erased_at).to.not.equal(null);
      // The tombstone: ids, times, form, status, destinations.
      expect(row).to.include({ leadgen_id: lead.leadgen_id, form_id: FORM, page_id: PAGE, status: 'routed' });
      const delivery = (await repo.findDelivery(t.app.db, deliveryId))!;
      expect(delivery).to.include({ last_error_message: null, connector_state: null, destination_id: destinationId, status: 'delivered', attempts: 1 });
      expect((await repo.listAttempts(t.app.db, deliveryId)).map((a) => [a.message, a.response_body, a.outcome])).to.deep.equal([[null, null, 'delivered']]);
      expect(await t.app.db.selectFrom('lead_search').select('hash').where('lead_id', '=', lead.id).execute()).to.deep.equal([]);
    }
    expect((await repo.findDelivery(t.app.db, pending.id))!).to.include({ status: 'dead', last_error_reason: 'lead_erased' });
    const records = await t.app.db.selectFrom('connector_recent_records').select('external_id').where('destination_id', '=', destinationId).execute();
    expect(records.map((r) => r.external_id)).to.deep.equal(['person-2']);

    // Kim is untouched.
    expect(await answersOf(keep.lead.id)).to.deep.include({ key: 'email', values: ['kim.kept@example.com'] });
    expect((await repo.listAttempts(t.app.db, keep.deliveryId))[0]!.message).to.contain('kim.kept@example.com');
    expect((await findSubject(t.app, workspaceId, parseSubject({ email: 'kim.kept@example.com' }, name), requester)).result).to.have.length(1);
    // Erin is found no more.
    expect((await findSubject(t.app, workspaceId, parseSubject({ email: person.email }, name), requester)).result).to.deep.equal([]);
  });

  it('saves no recent record for a delivery whose lead is erased', async () => {
    const person = { name: 'Lou Late', email: 'lou.late@example.com', phone: '+1 646 555 0150' };
    const { deliveryId } = await storeLead(person);
    await eraseSubject(t.app, workspaceId, parseSubject({ email: person.email }, name), { inCrm: false }, requester);
    const keyHash = recentRecordKeyHash(t.app, destinationId, 'email:lou.late@example.com');
    await saveRecentRecord(t.app.db, { workspaceId, destinationId, keyHash }, 'person-late', 60_000, deliveryId);
    const rows = await t.app.db.selectFrom('connector_recent_records').select('external_id').where('key_hash', '=', keyHash).execute();
    expect(rows).to.deep.equal([]);
  });

  it('erases a recent record that a send was saving while the erasure began', async () => {
    const person = { name: 'Mo Mid', email: 'mo.mid@example.com', phone: '+1 646 555 0151' };
    const { deliveryId } = await storeLead(person);
    const keyHash = recentRecordKeyHash(t.app, destinationId, 'email:mo.mid@example.com');
    let erasure: Promise<unknown> | undefined;
    // The send's save, not committed yet, while the erasure starts: the erasure waits for it.
    await t.app.db.transaction().execute(async (trx) => {
      await saveRecentRecord(trx, { workspaceId, destinationId, keyHash }, 'person-mid', 60_000, deliveryId);
      erasure = eraseSubject(t.app, workspaceId, parseSubject({ email: person.email }, name), { inCrm: false }, requester);
      await waitingForLockOrDone(t.app.db, 'update "leads"', erasure);
    });
    await erasure;
    const rows = await t.app.db.selectFrom('connector_recent_records').select('external_id').where('key_hash', '=', keyHash).execute();
    expect(rows).to.deep.equal([]);
  });
});
