// Password hashing: argon2id through @node-rs/argon2 (prebuilt N-API binaries, no install script),
// with OWASP's recommended minimum cost (19 MiB, 2 passes). Hashes carry their own parameters, so
// raising the cost later leaves old hashes verifiable (`needsRehash` tells when to upgrade one).
import { Algorithm, hash, verify } from '@node-rs/argon2';

const PARAMS = { algorithm: Algorithm.Argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

const PASSWORD_MIN_LENGTH = 10;
export const PASSWORD_MAX_LENGTH = 256;

/** Why a password is refused, or null when it is acceptable. */
export function passwordProblem(password: string, email?: string): string | null {
  if (password.length < PASSWORD_MIN_LENGTH) return `must be at least ${PASSWORD_MIN_LENGTH} characters`;
  if (password.length > PASSWORD_MAX_LENGTH) return `must be at most ${PASSWORD_MAX_LENGTH} characters`;
  if (email && password.toLowerCase() === email.toLowerCase()) return 'must not be the email address';
  if (/^(.)\1*$/.test(password)) return 'must not be one character repeated';
  return null;
}

export const hashPassword = (password: string): Promise<string> => hash(password, PARAMS);

export async function verifyPassword(stored: string, password: string): Promise<boolean> {
  try {
    return await verify(stored, password);
  } catch {
    return false;
  }
}

/** A hash to verify against when the account does not exist, so both cases take the same time. */
let decoy: Promise<string> | undefined;
export function decoyHash(): Promise<string> {
  decoy ??= hashPassword('decoy password that matches nothing');
  return decoy;
}
