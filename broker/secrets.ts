import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * scrypt cost for device and service secrets. The secrets are 256-bit random values, so brute force is
 * infeasible at any cost; scrypt keeps a leaked registry file from being a list of usable credentials.
 * N = 2^14 costs ~33 ms on this class of machine and runs in libuv's pool, off the event loop.
 */
const scryptParams = { N: 16_384, r: 8, p: 1, keyLength: 32, saltLength: 16 } as const;

export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

function scryptAsync(secret: string, salt: Buffer, N: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(secret, salt, keyLength, { N, r, p, maxmem: 256 * N * r + 1024 * 1024 }, (error, key) => {
      if (error) reject(error);
      else resolve(key);
    });
  });
}

/** Encodes as `scrypt$N$r$p$salt$hash` (base64url), so parameters can change without breaking old hashes. */
export async function hashSecret(secret: string): Promise<string> {
  const { N, r, p, keyLength, saltLength } = scryptParams;
  const salt = randomBytes(saltLength);
  const key = await scryptAsync(secret, salt, N, r, p, keyLength);
  return ['scrypt', N, r, p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

/** Constant-time comparison of a presented secret against a stored hash. */
export async function verifySecret(secret: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltText, hashText] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashText, 'base64url');
  const key = await scryptAsync(secret, Buffer.from(saltText, 'base64url'), Number(n), Number(r), Number(p), expected.length);
  return key.length === expected.length && timingSafeEqual(key, expected);
}
