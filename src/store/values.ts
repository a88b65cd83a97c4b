// Value helpers shared by the repositories.

export const json = (value: unknown): string => JSON.stringify(value);

export function isUuid(s: string): boolean {
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(s);
}
