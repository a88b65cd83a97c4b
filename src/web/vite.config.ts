// Builds the web app (this folder) into dist/web, which the server serves at `/`
// (src/http/web-app.ts). `npm run dev:web` serves it with live reload and sends the API,
// OAuth and webhook paths on to a LeadRelay running on localhost:3000.
import { defineConfig } from 'vite';

const server = 'http://localhost:3000';

export default defineConfig({
  // Run as `vite build src/web`: this folder is the root.
  base: '/',
  publicDir: 'public',
  build: {
    outDir: '../../dist/web',
    emptyOutDir: true,
    // No source maps in the served build: smaller and faster; the source is in the repository.
    sourcemap: false,
    // One entry script and its chunks, no inline script (the pages' CSP forbids it).
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1000,
    rolldownOptions: {
      onwarn(warning, warn) {
        // React Server Components' "use client" markers mean nothing in a browser-only bundle.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
  oxc: { jsx: { runtime: 'automatic' } },
  server: {
    proxy: { '/api': server, '/oauth': server, '/webhooks': server, '/healthz': server },
  },
});
