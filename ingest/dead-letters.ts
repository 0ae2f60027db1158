import type Database from 'better-sqlite3';
import type { Counter } from 'prom-client';
import type { Logger } from '../core/logger.ts';
import type { DeviceTopic } from '../protocol/topics.ts';

/** How many dead-letter log lines per reason per window, and the window, in ms. */
const logBurst = 5;
const logWindowMs = 60_000;

export interface DeadLetter {
  topic: DeviceTopic | null;
  reason: string;
  sizeBytes: number;
  receivedAtMs: number;
}

/**
 * Messages that could not be used. Only the parsed topic (ids, never free text), the reason (which never
 * echoes payload values) and the size are kept: never the payload, so never a raw MAC.
 */
export class DeadLetters {
  private readonly insert: Database.Statement<[number, string | null, string | null, string | null, string | null, string, number]>;
  private readonly logWindows = new Map<string, { startMs: number; logged: number; suppressed: number }>();

  constructor(
    db: Database.Database,
    private readonly counter: Counter<'channel' | 'kind'>,
    private readonly logger: Logger,
  ) {
    db.exec(`
      CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        received_ms INTEGER NOT NULL,
        mall TEXT, store TEXT, device TEXT, channel TEXT,
        reason TEXT NOT NULL,
        size_bytes INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_ms);
    `);
    this.insert = db.prepare(
      'INSERT INTO dead_letters (received_ms, mall, store, device, channel, reason, size_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
  }

  /** Records a dead letter; call inside the message's transaction. */
  record(letter: DeadLetter, kind: 'invalid' | 'rejected'): void {
    const t = letter.topic;
    const reason = letter.reason.slice(0, 500);
    this.insert.run(letter.receivedAtMs, t?.mall ?? null, t?.store ?? null, t?.device ?? null, t?.channel ?? null, reason, letter.sizeBytes);
    this.counter.inc({ channel: t?.channel ?? 'unknown', kind });
    this.log(letter, reason, kind);
  }

  private log(letter: DeadLetter, reason: string, kind: string): void {
    const key = `${kind}\0${letter.topic?.channel ?? ''}\0${reason.split(':')[0] ?? ''}`;
    const now = letter.receivedAtMs;
    let window = this.logWindows.get(key);
    if (window === undefined || now - window.startMs > logWindowMs) {
      if (window !== undefined && window.suppressed > 0) {
        this.logger.warn({ kind, suppressed: window.suppressed }, 'dead letters not logged individually in the last minute');
      }
      window = { startMs: now, logged: 0, suppressed: 0 };
      this.logWindows.set(key, window);
      if (this.logWindows.size > 1000) this.logWindows.clear();
    }
    if (window.logged < logBurst) {
      window.logged += 1;
      this.logger.warn({ kind, device: letter.topic?.device, channel: letter.topic?.channel, reason, sizeBytes: letter.sizeBytes }, 'dead letter');
    } else {
      window.suppressed += 1;
    }
  }
}
