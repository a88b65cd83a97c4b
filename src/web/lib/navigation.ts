/** A `next` parameter as a path on this site only (never another origin: no open redirect). */
export function safeNext(next: string | null | undefined, fallback = '/'): string {
  if (!next?.startsWith('/') || next.startsWith('//') || next.startsWith('/\\')) return fallback;
  return next;
}

/** `?next=` for the page the person wanted, to come back to after signing in. */
export const nextQuery = (path: string) => (path && path !== '/' ? `?next=${encodeURIComponent(path)}` : '');
