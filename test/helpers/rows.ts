// Rows the integration tests store directly, built in one place.
import type { App } from '../../src/app.js';
import { encryptCredentials } from '../../src/pipeline/connector-context.js';
import * as repo from '../../src/store/repos.js';
import type { NewLead } from '../../src/store/schema.js';

/** A lead with no answers and no attribution: enough for delivery and queue bookkeeping. */
export function makeBareLeadRow(workspaceId: string, leadgenId: string, pageId: string): NewLead {
  return {
    workspace_id: workspaceId,
    event_id: null,
    leadgen_id: leadgenId,
    page_id: pageId,
    page_name: null,
    form_id: null,
    form_name: null,
    created_time: new Date(),
    ad_id: null,
    ad_name: null,
    adset_id: null,
    adset_name: null,
    campaign_id: null,
    campaign_name: null,
    platform: 'fb',
    is_organic: true,
    is_test: false,
    answers_envelope: null,
    status_reason: null,
    received_at: new Date(),
    erased_at: null,
  };
}

/** A Pipedrive destination on an API token and a route of one form to it, mapping name and email. */
export async function createPipedriveRoute(app: App, r: { workspaceId: string; pageId: string; formId: string; apiToken: string }) {
  const dest = await repo.createDestination(app.db, {
    workspaceId: r.workspaceId,
    type: 'pipedrive',
    name: 'Pipedrive',
    config: {},
    credentialsEnvelope: null,
  });
  await repo.updateDestinationCredentials(app.db, dest.id, encryptCredentials(app, dest.id, { type: 'api_token', apiToken: r.apiToken }), true);
  const route = await repo.createRoute(app.db, {
    workspaceId: r.workspaceId,
    pageId: r.pageId,
    formId: r.formId,
    destinationId: dest.id,
    mapping: {
      version: 1,
      rules: [
        { target: 'person.name', source: { type: 'answer', key: 'full_name' } },
        { target: 'person.email', source: { type: 'answer', key: 'email' } },
      ],
    },
  });
  return { dest, route };
}
