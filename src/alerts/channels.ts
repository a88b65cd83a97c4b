// An alert channel's settings: where its messages go and, for the signed webhook, the secret it
// signs with. A Slack or Teams incoming-webhook URL is itself a credential (whoever has it can
// post to the channel), so the whole of the settings is one key-ring envelope bound to the
// channel's id; what may be shown is only `targetHintOf` (a host and the last characters).
import { z } from 'zod';
import type { KeyRing } from '../crypto/key-ring.js';
import type { AlertChannel, AlertChannelKind } from '../store/schema.js';

export const ALERT_CHANNEL_KINDS: readonly [AlertChannelKind, ...AlertChannelKind[]] = ['email', 'slack', 'teams', 'webhook'];

const urlSchema = z.string().min(1).max(2000);
const channelSettingsSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('email'), to: z.array(z.string()).min(1) }),
  z.object({ kind: z.literal('slack'), url: urlSchema }),
  z.object({ kind: z.literal('teams'), url: urlSchema }),
  z.object({ kind: z.literal('webhook'), url: urlSchema, secret: z.string().min(1) }),
]);
export type ChannelSettings = z.infer<typeof channelSettingsSchema>;

export const alertChannelAad = (channelId: string) => `alert-channel:${channelId}`;

export function encryptChannelSettings(keyRing: KeyRing, channelId: string, settings: ChannelSettings): string {
  return keyRing.encrypt(JSON.stringify(settings), alertChannelAad(channelId));
}

/** The channel's settings; throws (EnvelopeError) when no key of the ring opens them. */
export function decryptChannelSettings(keyRing: KeyRing, channel: Pick<AlertChannel, 'id' | 'settings_envelope'>): ChannelSettings {
  return channelSettingsSchema.parse(JSON.parse(keyRing.decrypt(channel.settings_envelope, alertChannelAad(channel.id))));
}

/** What may be shown of a channel's target: the mail addresses, or a URL's scheme and host and the last 4 characters of the rest. */
export function targetHintOf(settings: ChannelSettings): string {
  if (settings.kind === 'email') return settings.to.join(', ');
  let url: URL;
  try {
    url = new URL(settings.url);
  } catch {
    return '(not a URL)';
  }
  const rest = `${url.pathname}${url.search}`;
  return `${url.protocol}//${url.host}/…${rest.length > 8 ? rest.slice(-4) : ''}`;
}
