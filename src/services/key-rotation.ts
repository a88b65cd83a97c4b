// Key rotation started through the API (an operator's): runs in this server process in the
// background, records its progress in key_rotation_runs so that any process can report it, and
// refuses a second run while one is alive. The CLI's `keys rotate` runs the same rotateKeys in
// the foreground.
import type { App } from '../app.js';
import { rotateKeys } from './rotate-keys.js';
import { finishRotationRun, latestRotationRun, RUN_HEARTBEAT_TIMEOUT_MS, recordRotationProgress, startRotationRun } from '../store/key-rotation-runs.js';
import type { KeyRotationRun } from '../store/schema.js';
import { errorSummary } from '../util/error-summary.js';
import { ConflictError } from './errors.js';

/** How often progress is written while leads are re-encrypted (and the heartbeat beats). */
const PROGRESS_EVERY_MS = 1000;

export type RotationState = 'running' | 'finished' | 'failed' | 'abandoned';

export function rotationStateOf(run: KeyRotationRun, now = Date.now()): RotationState {
  if (run.finished_at) return run.error ? 'failed' : 'finished';
  return now - new Date(run.heartbeat_at).getTime() > RUN_HEARTBEAT_TIMEOUT_MS ? 'abandoned' : 'running';
}

/** Starts a rotation under the key ring's first key; throws ConflictError while another run is alive. */
export async function startKeyRotation(app: App, startedBy: string | null): Promise<KeyRotationRun> {
  const run = await startRotationRun(app.db, { keyId: app.keyRing.primaryKid, startedBy });
  if (!run) throw new ConflictError('a key rotation is already running; follow it with GET /api/v1/installation/key-rotation');
  let lastWrite = 0;
  // Beats even while the secrets before the leads are rewritten (no progress callback then).
  const heartbeat = setInterval(() => {
    recordRotationProgress(app.db, run.id, run.done, run.total).catch(() => {});
  }, RUN_HEARTBEAT_TIMEOUT_MS / 4);
  heartbeat.unref();
  rotateKeys(app, (done, total) => {
    run.done = done;
    run.total = total;
    const now = Date.now();
    if (now - lastWrite < PROGRESS_EVERY_MS && done < total) return;
    lastWrite = now;
    recordRotationProgress(app.db, run.id, done, total).catch((err) => app.logger.warn({ err: errorSummary(err) }, 'could not record key rotation progress'));
  })
    .then(
      (result) => finishRotationRun(app.db, run.id, { result: { ...result } }),
      (err) => {
        app.logger.error({ err: errorSummary(err) }, 'key rotation failed; running it again continues where it stopped');
        return finishRotationRun(app.db, run.id, { error: errorSummary(err).message ?? 'failed' });
      },
    )
    .catch((err) => app.logger.error({ err: errorSummary(err) }, 'could not record the end of a key rotation'))
    .finally(() => clearInterval(heartbeat));
  return run;
}

export const latestKeyRotation = (app: App) => latestRotationRun(app.db);
