// The delivery record a route gives each connector, as the connector's field-mapping declaration
// says: open targets and no preset for the generic webhook (its saved mapping is honoured), a
// fixed field list and the preset for a CRM that declares nothing.
import { expect } from 'chai';
import { fieldMappingOf } from '../../connectors/index.js';
import type { Connector, FieldDescriptor } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';
import type { Mapping } from '../../src/mapping/schema.js';
import { loadPreset, suggestMapping } from '../../src/mapping/suggest.js';
import { validateMapping } from '../../src/mapping/validate.js';
import { buildDeliveryRecord, hasOpenTargets, mappingFieldsFor, needsFieldList } from '../../src/pipeline/mapping-step.js';
import type { Route } from '../../src/store/schema.js';
import { makeSampleLead, makeTestContext } from '../helpers/sample-lead.js';

const lead = makeSampleLead();
const questions = [
  { key: 'full_name', label: 'Full name', type: 'FULL_NAME' },
  { key: 'email', label: 'Email', type: 'EMAIL' },
  { key: 'phone_number', label: 'Phone', type: 'PHONE' },
  { key: 'favorite_color?', label: 'Favourite colour?', type: 'CUSTOM' },
];

function routeWith(mapping: unknown): Route {
  const now = new Date('2026-11-20T10:00:00.000Z');
  return {
    id: 'r0000000-0000-4000-8000-000000000001',
    workspace_id: lead.workspace_id,
    page_id: lead.page.id,
    form_id: null,
    destination_id: 'd0000000-0000-4000-8000-000000000001',
    mapping: mapping as Route['mapping'],
    filter: null,
    is_enabled: true,
    form_questions: null,
    drift: null,
    created_at: now,
    updated_at: now,
  };
}

const EMAIL_ONLY: Mapping = { version: 1, rules: [{ target: 'contact_email', source: { type: 'answer', key: 'email' }, transforms: [{ type: 'upper' }] }] };

/** A CRM connector that declares nothing about field mapping (the default: fixed fields, preset). */
const plainCrm: Pick<Connector, 'id' | 'fieldMapping'> = { id: 'hubspot' };

describe('mapping: the delivery record per connector declaration', () => {
  it('a webhook route with a saved mapping delivers the mapped fields beside the canonical record', () => {
    const record = buildDeliveryRecord(webhookConnector, routeWith(EMAIL_ONLY), lead, 'delivery-1');
    expect(record).to.deep.include({ isMapped: true, fields: { contact_email: 'ZOE.ANGSTROM@EXAMPLE.COM' } });
    expect(webhookConnector.renderBody!(record)).to.deep.equal({ ...lead, fields: { contact_email: 'ZOE.ANGSTROM@EXAMPLE.COM' } });
  });

  it('a webhook route without a mapping delivers the canonical record unchanged', () => {
    const record = buildDeliveryRecord(webhookConnector, routeWith(null), lead, 'delivery-1');
    expect(record).to.deep.include({ isMapped: false, fields: {} });
    expect(webhookConnector.renderBody!(record)).to.deep.equal(lead);
    expect(needsFieldList(webhookConnector, routeWith(null))).to.equal(false);
  });

  it('a webhook route whose stored mapping is unreadable delivers the canonical record unchanged', () => {
    const record = buildDeliveryRecord(webhookConnector, routeWith({ version: 2, rules: 'x' }), lead, 'delivery-1');
    expect(record.isMapped).to.equal(false);
  });

  it('a CRM declaring nothing uses its preset without a mapping, and needs its field list for that', () => {
    expect(needsFieldList(plainCrm, routeWith(null))).to.equal(true);
    expect(needsFieldList(plainCrm, routeWith(EMAIL_ONLY))).to.equal(false);
    const fields: FieldDescriptor[] = [
      { key: 'email', label: 'Email', type: 'email', required: false },
      { key: 'message', label: 'Message', type: 'text', required: false },
    ];
    const record = buildDeliveryRecord(plainCrm, routeWith(null), lead, 'delivery-1', fields, questions);
    expect(record.isMapped).to.equal(true);
    expect(Object.keys(record.fields)).to.deep.equal(['email', 'message']);
    expect(record.fields.email).to.equal('zoe.angstrom@example.com');
    expect(record.fields.message).to.contain('Favourite colour?: blue, green');
  });

  it("the webhook's mapping targets are the keys it documents, not the canonical record's paths", async () => {
    const ctx = makeTestContext({ config: { url: 'https://crm.example.test/in' }, credentials: {} });
    const targets = await mappingFieldsFor(webhookConnector, ctx);
    expect(targets.map((f) => f.key)).to.include.members(['lr_leadgen_id', 'lr_created_time', 'unmapped_answers']);
    expect(targets.every((f) => f.required === false)).to.equal(true);
    expect(targets.map((f) => f.key)).to.not.include('answers');
    expect(hasOpenTargets(webhookConnector)).to.equal(true);
    expect(hasOpenTargets(plainCrm)).to.equal(false);
  });

  it('every key the webhook preset writes (besides question keys) is a documented webhook target', () => {
    const preset = loadPreset('webhook');
    const documented = new Set((fieldMappingOf(webhookConnector).knownTargets ?? []).map((f) => f.key));
    for (const rule of preset.extraRules ?? []) expect(documented.has(rule.target), rule.target).to.equal(true);
    expect(documented.has(preset.unmapped!.target)).to.equal(true);
  });

  it("the webhook suggestion passes its own validation (it used to fail on the canonical record's paths)", async () => {
    const targets = fieldMappingOf(webhookConnector).knownTargets!;
    const mapping = suggestMapping('webhook', questions, targets, loadPreset('webhook'), { openTargets: true });
    expect(mapping.rules.map((r) => r.target)).to.include.members(['full_name', 'email', 'phone_number', 'favorite_color?', 'lr_leadgen_id']);
    expect(validateMapping(mapping, targets, questions, { openTargets: true })).to.deep.equal([]);
  });

  it('open targets accept any key but still check the types of documented ones', () => {
    const targets = fieldMappingOf(webhookConnector).knownTargets!;
    const mapping: Mapping = {
      version: 1,
      rules: [
        { target: 'anything_at_all', source: { type: 'answer', key: 'email' } },
        { target: 'lr_is_organic', source: { type: 'answer', key: 'email' } },
      ],
      unmapped: { target: 'somewhere_else' },
    };
    const issues = validateMapping(mapping, targets, questions, { openTargets: true });
    expect(issues.map((i) => [i.severity, i.field])).to.deep.equal([['warning', 'lr_is_organic']]);
    expect(
      validateMapping(mapping, targets, questions)
        .filter((i) => i.severity === 'error')
        .map((i) => i.field),
    ).to.deep.equal(['anything_at_all']);
  });
});
