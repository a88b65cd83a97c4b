// Destinations: where a workspace's leads go. Settings and credentials are judged by the
// destination type's own schemas (its connector manifest); credentials go in and never come out.
import { z } from 'zod';
import { listManifests } from '../../../connectors/index.js';
import { type ConnectorManifest, isConnectorError } from '../../../connectors/types.js';
import type { App } from '../../app.js';
import { findMissingOAuthSettings, findOAuthConnector } from '../../http/oauth-providers.js';
import {
  addDestination,
  checkDestination,
  createConnectLink,
  getDestination,
  replaceDestinationSettings,
  resolveConnectRequest,
} from '../../services/destinations.js';
import { apiFieldNamer, InvalidInputError } from '../../services/errors.js';
import type { OAuthConnectRequest } from '../../http/oauth-state.js';
import * as repo from '../../store/repos.js';
import type { Destination } from '../../store/schema.js';
import { defineOperation, Reply } from '../operation.js';
import { workspaceIdParams } from './workspaces.js';

const destinationSchema = z
  .object({
    id: z.uuid(),
    type: z.string().meta({ description: 'the destination type (GET /destination-types)' }),
    name: z.string(),
    status: z.string().meta({ description: 'active, or why its deliveries wait (e.g. auth_failed)' }),
    status_reason: z.string().nullable(),
    rate_limited_until: z.iso.datetime().nullable(),
    has_credentials: z.boolean(),
    created_at: z.iso.datetime(),
    updated_at: z.iso.datetime(),
  })
  .meta({ id: 'Destination', description: 'Never its settings (a URL can itself be a credential) nor its credentials.' });

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());

// Not the config: a webhook URL's path or query can itself be a credential.
const destinationView = (d: Destination) => ({
  id: d.id,
  type: d.type,
  name: d.name,
  status: d.status,
  status_reason: d.status_reason,
  rate_limited_until: iso(d.rate_limited_until),
  has_credentials: d.credentials_envelope !== null,
  created_at: iso(d.created_at)!,
  updated_at: iso(d.updated_at)!,
});

const destinationParams = workspaceIdParams.extend({ destinationId: z.string().max(64).meta({ description: 'destination id (uuid)' }) });
const settingsObject = z.record(z.string(), z.unknown());

const fieldSchema = z
  .object({
    key: z.string(),
    label: z.string(),
    type: z.string(),
    required: z.boolean(),
    length: z.number().optional(),
    options: z.array(z.object({ value: z.string(), label: z.string() })).optional(),
    isExternalId: z.boolean().optional(),
  })
  .meta({ id: 'DestinationField' });

/** What names a new destination, whether added with its credentials or connected by OAuth. */
const newDestinationFields = { type: z.string().max(64), name: z.string().max(200).optional() };

const connectLinkSchema = z.object({
  url: z.string().meta({ description: 'open in a browser signed in to the CRM; anyone holding it can connect this workspace' }),
  expires_at: z.iso.datetime(),
});

const connectLinkView = (app: App, request: OAuthConnectRequest) => {
  const link = createConnectLink(app, request);
  return { url: link.url, expires_at: link.expiresAt.toISOString() };
};

const destinationTypeSchema = z
  .object({
    id: z.string(),
    label: z.string(),
    connects_by_oauth: z.boolean(),
    oauth: z
      .object({
        is_ready: z
          .boolean()
          .meta({ description: "this server has the CRM's OAuth app settings (client id and secret), so POST …/destinations/connect works" }),
        not_ready_reason: z.string().nullable().meta({ description: 'what the operator must set first, when not ready' }),
        login_url: z
          .object({ description: z.string() })
          .nullable()
          .meta({ description: 'the CRM signs in at a host of the account (a sandbox, a My Domain): POST …/destinations/connect takes it as login_url' }),
      })
      .nullable()
      .meta({ description: 'how the type connects by OAuth (null: only by the inputs below)' }),
    inputs: z.array(
      z.object({
        target: z.enum(['config', 'credentials']),
        key: z.string(),
        label: z.string().meta({ description: 'a short name for a form field, e.g. "Instance URL"' }),
        description: z.string(),
        required: z.boolean(),
        secret: z.boolean(),
      }),
    ),
  })
  .meta({ id: 'DestinationType' });

/** An input's short name: its label, else its flag in words ("instance-url" → "Instance URL"). */
function inputLabel(input: { flag: string; label?: string }): string {
  const words = (input.label ?? input.flag.replace(/-/g, ' ')).replace(/\burl\b/gi, 'URL').replace(/\bid\b/gi, 'ID');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** A type's OAuth: whether this server can start it, and whether it takes a login host. */
function oauthOf(app: App, manifest: ConnectorManifest) {
  const connector = findOAuthConnector(manifest.id);
  if (!connector) return null;
  const missing = findMissingOAuthSettings(app.config, connector);
  return {
    is_ready: missing === undefined,
    not_ready_reason: missing ?? null,
    login_url: connector.oauth.loginUrl ? { description: connector.oauth.loginUrl.description } : null,
  };
}

export const destinationOperations = [
  defineOperation({
    operationId: 'listDestinationTypes',
    method: 'get',
    path: '/destination-types',
    summary: 'The destination types this LeadRelay can send to, and the settings and credentials each takes',
    tag: 'Destinations',
    access: { kind: 'authenticated' },
    response: { status: 200, description: 'the types', schema: z.object({ items: z.array(destinationTypeSchema) }) },
    async handler({ app }) {
      return {
        items: listManifests().map((m) => ({
          id: m.id,
          label: m.label,
          connects_by_oauth: m.oauth !== undefined,
          oauth: oauthOf(app, m),
          inputs: m.cli.inputs.map((i) => ({
            target: i.target,
            key: i.key,
            label: inputLabel(i),
            description: i.description,
            required: i.required,
            secret: i.secret,
          })),
        })),
      };
    },
  }),
  defineOperation({
    operationId: 'listDestinations',
    method: 'get',
    path: '/workspaces/{workspaceId}/destinations',
    summary: "The workspace's destinations (never their settings or credentials)",
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.read' },
    params: workspaceIdParams,
    response: { status: 200, description: 'the destinations', schema: z.object({ items: z.array(destinationSchema) }) },
    async handler({ app, workspaceId }) {
      return { items: (await repo.listDestinations(app.db, workspaceId)).map(destinationView) };
    },
  }),
  defineOperation({
    operationId: 'getDestination',
    method: 'get',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}',
    summary: 'One destination (never its settings or credentials)',
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.read' },
    params: destinationParams,
    response: { status: 200, description: 'the destination', schema: destinationSchema },
    async handler({ app, workspaceId, params }) {
      return destinationView(await getDestination(app, workspaceId, params.destinationId));
    },
  }),
  defineOperation({
    operationId: 'addDestination',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations',
    summary: 'Add a destination with its settings and credentials',
    description:
      "config and credentials are checked by the type's own schemas (GET /destination-types lists what each takes); a URL LeadRelay will call must pass the outbound-address rules.",
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      ...newDestinationFields,
      config: settingsObject.default({}),
      credentials: settingsObject.default({}).meta({ description: 'stored encrypted, never shown again' }),
    }),
    response: { status: 201, description: 'the new destination', schema: z.object({ destination: destinationSchema, warnings: z.array(z.string()) }) },
    async handler({ app, workspaceId, body, audit }) {
      const { destination, warnings } = await addDestination(
        app,
        { workspaceId, type: body.type, name: body.name, config: body.config, credentials: body.credentials },
        apiFieldNamer('body'),
      );
      audit.target = { type: 'destination', id: destination.id };
      audit.details = { type: destination.type };
      return new Reply(201, { destination: destinationView(destination), warnings });
    },
  }),
  defineOperation({
    operationId: 'replaceDestinationCredentials',
    method: 'put',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}/credentials',
    summary: "Replace a destination's credentials and/or settings, and resume its parked deliveries",
    description:
      'config members given replace their stored values (the others are kept); credentials given replace the stored ones as a whole; ' +
      'at least one must be given. The destination becomes active again and its parked deliveries are sent, oldest first.',
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.write' },
    params: destinationParams,
    body: z.object({ config: settingsObject.optional(), credentials: settingsObject.optional() }),
    response: {
      status: 200,
      description: 'the destination as changed',
      schema: z.object({ destination: destinationSchema, resumed_deliveries: z.number().int(), warnings: z.array(z.string()) }),
    },
    async handler({ app, workspaceId, params, body, audit }) {
      const dest = await getDestination(app, workspaceId, params.destinationId);
      const name = apiFieldNamer('body');
      const changed = Object.keys(body.config ?? {});
      if (changed.length === 0 && !body.credentials)
        throw new InvalidInputError({ field: 'body', message: 'give new credentials, or config members to replace' });
      const { resumed, warnings } = await replaceDestinationSettings(
        app,
        dest,
        {
          config: { ...((dest.config ?? {}) as Record<string, unknown>), ...body.config },
          isConfigChanged: changed.length > 0,
          credentials: body.credentials ?? null,
        },
        name,
        (field) => (changed.includes(field.replace(/^config\./, '')) ? name(field) : `the stored ${field}`),
      );
      audit.details = { config: changed, credentials: body.credentials !== undefined };
      const updated = await getDestination(app, workspaceId, dest.id);
      return { destination: destinationView(updated), resumed_deliveries: resumed, warnings };
    },
  }),
  defineOperation({
    operationId: 'checkDestination',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}/check',
    summary: "Verify a destination's credentials with the CRM, and list the CRM's writable fields",
    description: "A refusal by the CRM is a result (ok: false, with its kind, stable reason and the CRM's words), not an error.",
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.read' },
    params: destinationParams,
    audit: 'none',
    response: {
      status: 200,
      description: 'what the CRM said',
      schema: z.object({
        ok: z.boolean(),
        fields: z.array(fieldSchema),
        error: z.object({ kind: z.string(), reason: z.string(), message: z.string().nullable() }).optional(),
      }),
    },
    async handler({ app, workspaceId, params }) {
      const dest = await getDestination(app, workspaceId, params.destinationId);
      try {
        return { ok: true, fields: await checkDestination(app, dest) };
      } catch (err) {
        if (!isConnectorError(err)) throw err;
        return { ok: false, fields: [], error: { kind: err.kind, reason: err.reason, message: err.crmMessage ?? null } };
      }
    },
  }),
  defineOperation({
    operationId: 'connectDestination',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations/connect',
    summary: "A link that connects a new destination by OAuth (through the CRM's consent screen)",
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.write' },
    params: workspaceIdParams,
    body: z.object({
      ...newDestinationFields,
      login_url: z.string().max(500).optional().meta({ description: 'for CRMs signed in at a host of the account (see the type)' }),
    }),
    response: { status: 200, description: 'the connect link', schema: connectLinkSchema },
    async handler({ app, workspaceId, body, audit }) {
      const request = await resolveConnectRequest(app, { workspaceId, type: body.type, name: body.name, loginUrl: body.login_url }, apiFieldNamer('body'));
      audit.details = { type: request.type };
      return connectLinkView(app, request);
    },
  }),
  defineOperation({
    operationId: 'reconnectDestination',
    method: 'post',
    path: '/workspaces/{workspaceId}/destinations/{destinationId}/connect',
    summary: 'A link that re-authorises a destination by OAuth and resumes its parked deliveries',
    tag: 'Destinations',
    access: { kind: 'workspace', permission: 'config.write' },
    params: destinationParams,
    body: z.object({ login_url: z.string().max(500).optional() }),
    response: { status: 200, description: 'the connect link', schema: connectLinkSchema },
    async handler({ app, workspaceId, params, body }) {
      const dest = await getDestination(app, workspaceId, params.destinationId);
      const request = await resolveConnectRequest(
        app,
        { workspaceId, destinationId: dest.id, loginUrl: body.login_url },
        apiFieldNamer('body', { destination: 'path.destinationId' }),
      );
      return connectLinkView(app, request);
    },
  }),
];
