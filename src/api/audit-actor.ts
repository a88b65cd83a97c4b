// The caller as the audit log names them: the same words mount.ts writes in its own entries, for
// services that write their entries themselves (data-subject requests record failures too).
import type { AuditActor } from '../accounts/audit.js';
import type { Actor } from './operation.js';

export function auditActorOf(actor: Actor | null): AuditActor {
  if (!actor) return { type: 'anonymous', id: null, label: null };
  if (actor.type === 'user') return { type: 'user', id: actor.user.id, label: actor.user.email };
  return { type: 'api_key', id: actor.key.id, label: `${actor.key.name} (…${actor.key.last4})` };
}
