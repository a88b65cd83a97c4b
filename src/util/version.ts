// LeadRelay's own version, read once from package.json: `leadrelay --version` and the
// User-Agent of outbound calls.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { projectRoot } from '../config/project-root.js';

function readLeadRelayVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(resolve(projectRoot, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}

export const LEADRELAY_VERSION = readLeadRelayVersion();
