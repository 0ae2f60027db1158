import { createHmac, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';

export type VerifyResult = { ok: true } | { ok: false; reason: 'wrong'; attemptsLeft: number } | { ok: false; reason: 'expired' };

interface ChallengeRow {
  code_hash: string;
  sent_ms: number;
  expires_ms: number;
  attempts: number;
  consumed: number;
}

/** Pending one-time codes. Only an HMAC of (challenge id, code) is stored; the code itself never is. */
export class ChallengeStore {
  constructor(
    private readonly db: Database.Database,
    private readonly key: Buffer,
  ) {}

  /** A new challenge with a fresh 6-digit code. The caller sends the code (or, for unknown members, drops it). */
  issue(nowMs: number, ttlMs: number): { id: string; code: string } {
    const id = randomBytes(16).toString('base64url');
    const code = newCode();
    this.db.prepare('INSERT INTO otp_challenges (id, code_hash, sent_ms, expires_ms) VALUES (?, ?, ?, ?)').run(id, this.hash(id, code), nowMs, nowMs + ttlMs);
    return { id, code };
  }

  /** Replaces the code of an existing challenge (resend): the old code stops working, tries start again. */
  reissue(id: string, nowMs: number, ttlMs: number): string | null {
    const code = newCode();
    const result = this.db
      .prepare('UPDATE otp_challenges SET code_hash = ?, sent_ms = ?, expires_ms = ?, attempts = 0, consumed = 0 WHERE id = ?')
      .run(this.hash(id, code), nowMs, nowMs + ttlMs, id);
    return result.changes === 0 ? null : code;
  }

  sentMs(id: string): number | undefined {
    return (this.db.prepare('SELECT sent_ms FROM otp_challenges WHERE id = ?').get(id) as { sent_ms: number } | undefined)?.sent_ms;
  }

  /** Checks a code; a match consumes the challenge, a miss uses up one of maxAttempts tries. */
  verify(id: string, code: string, nowMs: number, maxAttempts: number): VerifyResult {
    return this.db.transaction((): VerifyResult => {
      const row = this.db.prepare('SELECT code_hash, sent_ms, expires_ms, attempts, consumed FROM otp_challenges WHERE id = ?').get(id) as ChallengeRow | undefined;
      if (row === undefined || row.consumed !== 0 || row.expires_ms <= nowMs || row.attempts >= maxAttempts) return { ok: false, reason: 'expired' };
      const expected = Buffer.from(row.code_hash);
      const given = Buffer.from(this.hash(id, code));
      if (given.length === expected.length && timingSafeEqual(given, expected)) {
        this.db.prepare('UPDATE otp_challenges SET consumed = 1 WHERE id = ?').run(id);
        return { ok: true };
      }
      this.db.prepare('UPDATE otp_challenges SET attempts = attempts + 1 WHERE id = ?').run(id);
      const attemptsLeft = maxAttempts - row.attempts - 1;
      return attemptsLeft > 0 ? { ok: false, reason: 'wrong', attemptsLeft } : { ok: false, reason: 'expired' };
    })();
  }

  /** Deletes challenges that expired more than graceMs ago. */
  purge(nowMs: number, graceMs = 60 * 60 * 1000): number {
    return this.db.prepare('DELETE FROM otp_challenges WHERE expires_ms < ?').run(nowMs - graceMs).changes;
  }

  private hash(id: string, code: string): string {
    return createHmac('sha256', this.key).update(`${id}\0${code}`).digest('base64url');
  }
}

function newCode(): string {
  return String(randomInt(0, 1_000_000)).padStart(6, '0');
}
