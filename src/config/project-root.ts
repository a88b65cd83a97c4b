// Where the project lives: the folder holding config/defaults.json, found from src or dist/src.
// Its own module, so modules that config/env.ts reads (the connector manifests) may use it too.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));

/** Finds the project root (the folder holding config/defaults.json) from src or dist/src. */
function findProjectRoot(start = here): string {
  let dir = start;
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(resolve(dir, 'config/defaults.json'));
      return dir;
    } catch {
      dir = resolve(dir, '..');
    }
  }
  throw new Error(`config/defaults.json not found above ${start}`);
}

export const projectRoot = findProjectRoot();
