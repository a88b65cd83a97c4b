// What a newcomer still has to do before Meta can deliver leads to this server, as short lines
// for the start log. Pure: the config in, the advice out.
import type { AppConfig } from '../config/env.js';

export function listStartupGaps(config: AppConfig): string[] {
  const gaps: string[] = [];
  if (!config.meta.appSecret)
    gaps.push('META_APP_SECRET is not set: webhooks cannot be verified, so every POST from Meta is refused (App Dashboard > App settings > Basic)');
  if (!config.meta.verifyToken)
    gaps.push(
      "META_VERIFY_TOKEN is not set: Meta's subscription handshake (GET /webhooks/meta) cannot succeed; choose any string and enter the same one in the App Dashboard",
    );
  if (!config.meta.appId) gaps.push('META_APP_ID is not set: page tokens cannot be checked with debug_token');
  let url: URL | null = null;
  try {
    url = new URL(config.publicUrl);
  } catch {
    url = null;
  }
  const isLocal = !url || ['localhost', '127.0.0.1', '[::1]', '0.0.0.0'].includes(url.hostname);
  if (url?.protocol !== 'https:' || isLocal) {
    gaps.push(
      `PUBLIC_URL is ${config.publicUrl}: Meta only calls public https:// URLs. While testing, expose port ${config.port} through a tunnel (for example \`cloudflared tunnel --url http://localhost:${config.port}\` or \`ngrok http ${config.port}\`) and set PUBLIC_URL to the https address it prints`,
    );
  }
  if (!config.encryptionKeys && config.env !== 'production')
    gaps.push('LEADRELAY_ENCRYPTION_KEYS is not set: secrets are encrypted with a development key kept in DATA_DIR (set a real key ring before real use)');
  return gaps;
}
