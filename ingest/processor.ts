import type Database from 'better-sqlite3';
import type { DeviceTopic, PayloadOf } from '../protocol/topics.ts';
import type { Point } from './store/types.ts';

/**
 * A reading that passed the protocol schema but cannot be used (too old, unknown store, …). The pipeline turns
 * it into a dead letter. The message must not contain payload values (no raw MAC).
 */
export class RejectedReading extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'RejectedReading';
  }
}

/**
 * Turns validated readings of one channel into points. process() and tick() run inside the ingest state
 * database transaction of the message (or tick): state they change in `db` commits atomically with the
 * points the pipeline appends to the outbox, and the MQTT message is acknowledged only after that commit.
 * So a crash at any moment either loses nothing (redelivery) or repeats work idempotently.
 */
export interface Processor<C extends 'door' | 'probe' | 'status'> {
  /** Creates this processor's tables in the ingest state database. Idempotent. */
  migrate(db: Database.Database): void;
  process(topic: DeviceTopic<C>, payload: PayloadOf<C>, receivedAtMs: number): Point[];
  /** Periodic work (closing visits, day rollover), about once a second. */
  tick?(nowMs: number): Point[];
  /**
   * The transaction (or savepoint) of a process() or tick() call was rolled back: in-memory state may be ahead of
   * the database and must be dropped. The pipeline calls it on every failed message, tick or batch commit.
   */
  discardCaches?(): void;
}
