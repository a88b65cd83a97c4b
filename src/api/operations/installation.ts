// The installation, for its operators: every user, and rotating the encryption keys (what
// `leadrelay users list` and `leadrelay keys rotate` do), with the rotation's progress.
import { z } from 'zod';
import { listUserSummaries } from '../../accounts/store.js';
import { latestKeyRotation, rotationStateOf, startKeyRotation } from '../../services/key-rotation.js';
import type { KeyRotationRun } from '../../store/schema.js';
import { defineOperation, Reply } from '../operation.js';

const rotationSchema = z
  .object({
    id: z.uuid(),
    key_id: z.string().meta({ description: 'the key everything is re-encrypted under (the first of LEADRELAY_ENCRYPTION_KEYS)' }),
    state: z.enum(['running', 'finished', 'failed', 'abandoned']).meta({ description: 'abandoned: its process stopped; start it again to finish' }),
    started_by: z.string().nullable(),
    started_at: z.iso.datetime(),
    finished_at: z.iso.datetime().nullable(),
    leads_done: z.number().int(),
    leads_total: z.number().int(),
    result: z.record(z.string(), z.number()).nullable().meta({ description: 'how many of each kind of secret were re-encrypted' }),
    error: z.string().nullable(),
  })
  .meta({ id: 'KeyRotation' });

const rotationView = (r: KeyRotationRun) => ({
  id: r.id,
  key_id: r.key_id,
  state: rotationStateOf(r),
  started_by: r.started_by,
  started_at: new Date(r.started_at).toISOString(),
  finished_at: r.finished_at ? new Date(r.finished_at).toISOString() : null,
  leads_done: r.done,
  leads_total: r.total,
  result: r.result,
  error: r.error,
});

export const installationOperations = [
  defineOperation({
    operationId: 'listUsers',
    method: 'get',
    path: '/installation/users',
    summary: 'Every user of the installation, with MFA and lockout state (never hashes or secrets)',
    tag: 'Installation',
    access: { kind: 'operator' },
    response: {
      status: 200,
      description: 'the users, oldest first',
      schema: z.object({
        items: z.array(
          z.object({
            id: z.uuid(),
            email: z.string(),
            name: z.string().nullable(),
            is_operator: z.boolean(),
            mfa_enabled: z.boolean(),
            locked_until: z.iso.datetime().nullable(),
            workspaces: z.number().int(),
            created_at: z.iso.datetime(),
          }),
        ),
      }),
    },
    async handler({ app }) {
      return { items: await listUserSummaries(app.db) };
    },
  }),
  defineOperation({
    operationId: 'startKeyRotation',
    method: 'post',
    path: '/installation/key-rotation',
    summary: 'Re-encrypt every secret and lead under the first key of LEADRELAY_ENCRYPTION_KEYS, in the background',
    description:
      'Put the new key first in LEADRELAY_ENCRYPTION_KEYS and restart every process before starting; follow the progress with GET. Running it again after a failure or an abandoned run continues: what is already under the new key is skipped.',
    tag: 'Installation',
    access: { kind: 'operator' },
    errors: [409],
    response: { status: 202, description: 'started', schema: rotationSchema },
    async handler({ app, actor, audit }) {
      const run = await startKeyRotation(app, actor?.type === 'user' ? actor.user.email : null);
      audit.target = { type: 'key_rotation', id: run.id };
      audit.details = { key_id: run.key_id };
      return new Reply(202, rotationView(run));
    },
  }),
  defineOperation({
    operationId: 'getKeyRotation',
    method: 'get',
    path: '/installation/key-rotation',
    summary: 'The latest key rotation and its progress',
    tag: 'Installation',
    access: { kind: 'operator' },
    response: {
      status: 200,
      description: 'the latest run, or null when none was started through the API',
      schema: z.object({ rotation: rotationSchema.nullable() }),
    },
    async handler({ app }) {
      const run = await latestKeyRotation(app);
      return { rotation: run ? rotationView(run) : null };
    },
  }),
];
