import { createCipheriv, createDecipheriv, randomBytes, randomInt } from 'node:crypto';
import type Database from 'better-sqlite3';
import { hmacB64 } from '../keys.ts';

export const consentTypes = ['terms', 'analytics', 'marketing'] as const;
export type ConsentType = (typeof consentTypes)[number];

export interface ConsentRecord {
  type: ConsentType;
  action: 'granted' | 'withdrawn';
  textVersion: string;
  language: string;
  tsMs: number;
}

export interface Member {
  memberId: string;
  phone: string;
  name: string | undefined;
  createdMs: number;
}

interface MemberRow {
  member_id: string;
  phone_enc: string;
  name_enc: string | null;
  created_ms: number;
}

/** Members and their consent history. Phone and name are AES-256-GCM encrypted; phones are found by HMAC. */
export class MemberStore {
  constructor(
    private readonly db: Database.Database,
    private readonly dataKey: Buffer,
    private readonly indexKey: Buffer,
  ) {}

  byId(memberId: string): Member | undefined {
    const row = this.db.prepare('SELECT member_id, phone_enc, name_enc, created_ms FROM members WHERE member_id = ?').get(memberId) as MemberRow | undefined;
    return row === undefined ? undefined : this.toMember(row);
  }

  byPhone(phone: string): Member | undefined {
    const row = this.db
      .prepare('SELECT member_id, phone_enc, name_enc, created_ms FROM members WHERE phone_index = ?')
      .get(this.phoneIndex(phone)) as MemberRow | undefined;
    return row === undefined ? undefined : this.toMember(row);
  }

  /** Returns the member with this phone, creating one (with a new 9-digit member number) if there is none. */
  findOrCreate(phone: string, name: string | undefined, nowMs: number): { member: Member; created: boolean } {
    return this.db.transaction(() => {
      const existing = this.byPhone(phone);
      if (existing !== undefined) return { member: existing, created: false };
      let memberId: string;
      do memberId = String(randomInt(100_000_000, 1_000_000_000));
      while (this.db.prepare('SELECT 1 FROM members WHERE member_id = ?').get(memberId) !== undefined);
      this.db
        .prepare('INSERT INTO members (member_id, phone_index, phone_enc, name_enc, created_ms) VALUES (?, ?, ?, ?, ?)')
        .run(memberId, this.phoneIndex(phone), this.encrypt(phone, 'phone'), name === undefined ? null : this.encrypt(name, 'name'), nowMs);
      return { member: { memberId, phone, name, createdMs: nowMs }, created: true };
    })();
  }

  recordConsent(memberId: string, record: ConsentRecord): void {
    this.db
      .prepare('INSERT INTO consents (member_id, type, action, text_version, language, ts_ms) VALUES (?, ?, ?, ?, ?, ?)')
      .run(memberId, record.type, record.action, record.textVersion, record.language, record.tsMs);
  }

  history(memberId: string): ConsentRecord[] {
    const rows = this.db
      .prepare('SELECT type, action, text_version, language, ts_ms FROM consents WHERE member_id = ? ORDER BY id')
      .all(memberId) as { type: ConsentType; action: 'granted' | 'withdrawn'; text_version: string; language: string; ts_ms: number }[];
    return rows.map((r) => ({ type: r.type, action: r.action, textVersion: r.text_version, language: r.language, tsMs: r.ts_ms }));
  }

  /** Current state per consent type: the latest record wins; no record means not given. */
  currentConsents(memberId: string): Record<ConsentType, boolean> {
    const state: Record<ConsentType, boolean> = { terms: false, analytics: false, marketing: false };
    for (const record of this.history(memberId)) state[record.type] = record.action === 'granted';
    return state;
  }

  /** Deletes the member and (by cascade) every consent record. */
  delete(memberId: string): boolean {
    return this.db.prepare('DELETE FROM members WHERE member_id = ?').run(memberId).changes > 0;
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM members').get() as { n: number }).n;
  }

  private phoneIndex(phone: string): string {
    return hmacB64(this.indexKey, 'phone', phone);
  }

  private encrypt(text: string, field: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.dataKey, iv);
    cipher.setAAD(Buffer.from(field));
    const body = Buffer.concat([cipher.update(text, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64');
  }

  private decrypt(value: string, field: string): string {
    const raw = Buffer.from(value, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.dataKey, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(field));
    decipher.setAuthTag(raw.subarray(raw.length - 16));
    return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8');
  }

  private toMember(row: MemberRow): Member {
    return {
      memberId: row.member_id,
      phone: this.decrypt(row.phone_enc, 'phone'),
      name: row.name_enc === null ? undefined : this.decrypt(row.name_enc, 'name'),
      createdMs: row.created_ms,
    };
  }
}
