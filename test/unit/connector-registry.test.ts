import { expect } from 'chai';
import { fieldMappingOf, getManifest, listManifests, loadConnector, loadConnectors, validateRegistry } from '../../connectors/index.js';
import type { Connector } from '../../connectors/types.js';
import { webhookConnector } from '../../connectors/webhook/index.js';

function copyOf(connector: Connector, changes: Record<string, unknown>): Connector {
  return { ...connector, ...changes } as Connector;
}

describe('connector registry', () => {
  it('lists the webhook connector, and every listed connector is well formed and unique', async () => {
    const list = await loadConnectors();
    expect(list.map((c) => c.id)).to.include('webhook');
    expect(() => validateRegistry(list)).to.not.throw();
  });

  it('returns a copy of the list, so callers cannot change the registry', () => {
    const list = listManifests();
    list.length = 0;
    expect(listManifests()).to.not.be.empty;
  });

  it('finds a connector by id', async () => {
    expect(await loadConnector('webhook')).to.equal(webhookConnector);
  });

  it('names the unknown type and the known ones', () => {
    let message = '';
    try {
      getManifest('zoho');
    } catch (err) {
      message = (err as Error).message;
    }
    const known = listManifests().map((c) => c.id);
    expect(known).to.include('webhook');
    expect(message).to.equal(`unknown destination type "zoho"; known: ${known.join(', ')}`);
  });

  it('refuses a duplicate id', () => {
    expect(() => validateRegistry([webhookConnector, copyOf(webhookConnector, { label: 'Another' })])).to.throw(/"webhook" is registered more than once/);
  });

  it('refuses malformed entries, naming every problem at once', () => {
    const broken = copyOf(webhookConnector, {
      id: 'Bad Id',
      label: '',
      auth: [],
      configSchema: {},
      credentialsSchema: undefined,
      describeFields: undefined,
      deliver: 'nope',
      verify: undefined,
    });
    let message = '';
    try {
      validateRegistry([broken]);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const part of [
      'id must be',
      'label is missing',
      'auth must list',
      'configSchema is not',
      'credentialsSchema is not',
      'describeFields is not',
      'deliver is not',
      'verify is not',
    ]) {
      expect(message).to.contain(part);
    }
  });

  it('refuses a malformed field-mapping declaration', () => {
    const broken = copyOf(webhookConnector, {
      fieldMapping: { targets: 'any', withoutRouteMapping: 'sometimes', knownTargets: [{ key: 'x', label: 'X', type: 'string', required: true }] },
      renderBody: 'nope',
    });
    let message = '';
    try {
      validateRegistry([broken]);
    } catch (err) {
      message = (err as Error).message;
    }
    for (const part of [
      'fieldMapping.targets must be',
      'fieldMapping.withoutRouteMapping must be',
      'knownTargets may not be required',
      'renderBody is not a function',
    ]) {
      expect(message).to.contain(part);
    }
  });

  it('every connector says how it takes field mappings (declared, or the fixed-field default)', () => {
    for (const c of listManifests()) expect(['fixed', 'open'], c.id).to.include(fieldMappingOf(c).targets);
    expect(fieldMappingOf(webhookConnector)).to.deep.include({ targets: 'open', withoutRouteMapping: 'none' });
    expect(fieldMappingOf({})).to.deep.equal({ targets: 'fixed', withoutRouteMapping: 'preset' });
  });

  it('refuses an entry that is not an object', () => {
    expect(() => validateRegistry([null as unknown as Connector])).to.throw(/connector #1 is not an object/);
  });
});
