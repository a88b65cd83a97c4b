// Answers that are not JSON (a CSV, an archive): mount.ts writes JSON bodies, so a handler that
// downloads sends the whole answer itself and returns SENT_BY_HANDLER, after which mount's own
// end() is a no-op. The audit entry is still written by mount, before it (after the handler).
import { createReadStream } from 'node:fs';
import type { Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { Reply } from './operation.js';

/** What a handler returns once it has sent the answer itself. */
const SENT_BY_HANDLER = new Reply(200, undefined);

const disposition = (fileName: string) => `attachment; filename="${fileName.replace(/[^\w.-]/g, '_')}"`;

/** A text attachment (CSV), not cached anywhere on the way. */
export function sendAttachment(res: Response, a: { contentType: string; fileName: string; body: string }): Reply {
  res.status(200);
  res.setHeader('content-type', a.contentType);
  res.setHeader('content-disposition', disposition(a.fileName));
  res.setHeader('cache-control', 'no-store');
  res.end(a.body);
  return SENT_BY_HANDLER;
}

/** A file, streamed; a client that goes away mid-way just ends the transfer. */
export async function sendFileAttachment(res: Response, f: { path: string; size: number; contentType: string; fileName: string }): Promise<Reply> {
  res.status(200);
  res.setHeader('content-type', f.contentType);
  res.setHeader('content-length', String(f.size));
  res.setHeader('content-disposition', disposition(f.fileName));
  res.setHeader('cache-control', 'no-store');
  try {
    await pipeline(createReadStream(f.path), res);
  } catch {
    res.destroy();
  }
  return SENT_BY_HANDLER;
}
