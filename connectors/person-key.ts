// The person key: what a connector for a CRM without an upsert locks find-or-create on
// (ctx.withLock) and remembers resolved persons by (ctx.recentRecords). Two leads share a key
// when they would find the same person: the same email (case and surrounding spaces aside), else
// the same phone (punctuation aside), else never (the Meta lead id: a lead with neither is a
// person of its own). The key holds personal data; the context hashes it before storing it.

/** `email:<normalised email>`, else `phone:<normalised phone>`, else `lead:<leadgen id>`. */
export function derivePersonKey(p: { email?: string; phone?: string; leadgenId: string }): string {
  const email = normalizeEmail(p.email);
  if (email !== undefined) return `email:${email}`;
  const phone = normalizePhone(p.phone);
  if (phone !== undefined) return `phone:${phone}`;
  return `lead:${p.leadgenId}`;
}

/** Trimmed and lower-cased; undefined when shorter than 2 characters (too short to search for). */
function normalizeEmail(email: string | undefined): string | undefined {
  const value = email?.trim().toLowerCase();
  return value !== undefined && value.length >= 2 ? value : undefined;
}

/** Digits only, keeping a leading +; undefined with fewer than 2 digits. */
function normalizePhone(phone: string | undefined): string | undefined {
  const value = phone?.trim();
  if (!value) return undefined;
  const digits = value.replace(/\D/g, '');
  if (digits.length < 2) return undefined;
  return value.startsWith('+') ? `+${digits}` : digits;
}
