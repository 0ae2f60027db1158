import type Database from 'better-sqlite3';
import { posSalesSchema } from '../protocol/payloads/pos.ts';
import { parsePortalTopic, platformTopicSchemas } from '../protocol/platform.ts';
import { parsePosTopic } from '../protocol/pos.ts';
import type { DeviceKind } from '../protocol/topics.ts';
import { type Channel, type DeviceTopic, parseDeviceTopic, parseJsonWith, parsePayload, readingChannelOf } from '../protocol/topics.ts';
import type { DeadLetters } from './dead-letters.ts';
import { CachedDirectory } from './device-cache.ts';
import type { IngestMetrics } from './metrics.ts';
import type { Outbox } from './outbox.ts';
import type { PosProcessor } from './pos.ts';
import type { PortalProcessor } from './portal/processor.ts';
import type { PrepareResult } from './probe/prepare.ts';
import type { ProbeProcessor } from './probe/processor.ts';
import { type Processor, RejectedReading } from './processor.ts';
import type { Point } from './store/types.ts';

/** Where a device is installed, as the device registry says. */
export interface DeviceDirectory {
  lookup(deviceId: string): { mall: string; store: string; kind: DeviceKind } | undefined;
}

export interface Processors {
  door: Processor<'door'>;
  probe: ProbeProcessor;
  status: Processor<'status'>;
  portal: PortalProcessor;
  pos: PosProcessor;
}

export type Outcome = 'stored' | 'invalid' | 'rejected' | 'ignored';

/**
 * Validates one message and makes its whole effect durable in one transaction: processor state + outbox
 * points, or a dead letter. Throws only when the state database itself fails (then the message must not be
 * acknowledged).
 */
export class Pipeline {
  private readonly handleTx: (topic: string, payload: Buffer, receivedAtMs: number, prepared: PrepareResult | undefined) => Outcome;
  private readonly tickTx: (nowMs: number) => number;
  private readonly listeners: ((points: readonly Point[]) => void)[] = [];
  /** Points appended in the current transaction, handed to listeners once it committed. */
  private committed: Point[] = [];
  /** Points of an open batch transaction (beginBatch), handed to listeners at its commit. */
  private batch: Point[] | undefined;
  /** Messages handled in the open batch transaction. */
  private batchMessages = 0;
  private readonly devices: DeviceDirectory;

  constructor(
    private readonly db: Database.Database,
    private readonly processors: Processors,
    private readonly outbox: Outbox,
    private readonly deadLetters: DeadLetters,
    directory: DeviceDirectory,
    private readonly metrics: IngestMetrics,
  ) {
    this.devices = new CachedDirectory(directory);
    for (const processor of Object.values(processors) as { migrate(db: Database.Database): void }[]) processor.migrate(db);
    this.handleTx = db.transaction((topic: string, payload: Buffer, receivedAtMs: number, prepared: PrepareResult | undefined) =>
      this.handleInTx(topic, payload, receivedAtMs, prepared),
    );
    this.tickTx = db.transaction((nowMs: number) => {
      let count = 0;
      for (const processor of this.readingProcessors) {
        const points = processor.tick?.(nowMs) ?? [];
        this.append(points);
        count += points.length;
      }
      return count;
    });
  }

  /**
   * `prepared`: a probe payload already validated and pseudonymised by the prepare thread (ingest/prepare/);
   * otherwise it is parsed here.
   */
  handle(topic: string, payload: Buffer, receivedAtMs: number, prepared?: PrepareResult): Outcome {
    try {
      const outcome = this.handleTx(topic, payload, receivedAtMs, prepared);
      this.settled();
      if (this.batch === undefined) this.metrics.commitMessages.observe(1);
      else this.batchMessages += 1;
      return outcome;
    } catch (error) {
      this.rolledBack();
      throw error;
    } finally {
      this.committed = [];
    }
  }

  /** Periodic processor work; returns the number of points appended. */
  tick(nowMs: number): number {
    try {
      const count = this.tickTx(nowMs);
      this.settled();
      return count;
    } catch (error) {
      this.rolledBack();
      throw error;
    } finally {
      this.committed = [];
    }
  }

  /**
   * Opens a transaction that the following messages and ticks join (each as a savepoint, so one failing message
   * rolls back alone), until commitBatch(). Listeners hear of the points only after that commit.
   */
  beginBatch(): void {
    if (this.batch !== undefined) return;
    this.db.exec('BEGIN');
    this.batch = [];
    this.batchMessages = 0;
  }

  commitBatch(): void {
    const points = this.batch;
    if (points === undefined) return;
    this.batch = undefined;
    const startedMs = performance.now();
    try {
      this.db.exec('COMMIT');
      this.metrics.commitSeconds.observe((performance.now() - startedMs) / 1000);
      this.metrics.commitMessages.observe(this.batchMessages);
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      this.outbox.recount();
      this.rolledBack();
      throw error;
    }
    this.emit(points);
  }

  /**
   * Rolls the open batch back: its messages were not all applied, so none of its PUBACKs may be sent (the caller
   * drops the connection) and the broker redelivers every one of them.
   */
  abortBatch(): void {
    if (this.batch === undefined) return;
    this.batch = undefined;
    if (this.db.inTransaction) this.db.exec('ROLLBACK');
    this.outbox.recount();
    this.rolledBack();
  }

  /** The processors of device readings, which share process()/tick()/discardCaches(). */
  private get readingProcessors(): Processor<'door' | 'probe' | 'status'>[] {
    return [this.processors.door, this.processors.probe, this.processors.status] as Processor<'door' | 'probe' | 'status'>[];
  }

  /** Processors' caches may hold what the rolled-back transaction wrote. */
  private rolledBack(): void {
    for (const processor of this.readingProcessors) processor.discardCaches?.();
    this.processors.portal.discardCaches();
  }

  /** A message's or tick's own transaction (or savepoint) succeeded. */
  private settled(): void {
    if (this.batch === undefined) this.emit(this.committed);
    else for (const point of this.committed) this.batch.push(point);
  }

  /** Calls the listener with the points of every committed message or tick (live views, alerts). */
  onCommitted(listener: (points: readonly Point[]) => void): void {
    this.listeners.push(listener);
  }

  private append(points: readonly Point[]): void {
    if (points.length === 0) return;
    this.outbox.append(points);
    for (const point of points) this.committed.push(point);
  }

  private emit(points: readonly Point[]): void {
    if (points.length === 0) return;
    for (const listener of this.listeners) {
      try {
        listener(points);
      } catch {
        // A listener's failure must not affect ingest; listeners log their own errors.
      }
    }
  }

  private handleInTx(topicText: string, payload: Buffer, receivedAtMs: number, prepared: PrepareResult | undefined): Outcome {
    const portalTopic = parsePortalTopic(topicText);
    if (portalTopic !== null) return this.handlePortal(portalTopic, payload, receivedAtMs);
    const posTopic = parsePosTopic(topicText);
    if (posTopic !== null) return this.handlePos(posTopic, payload, receivedAtMs);
    const topic = parseDeviceTopic(topicText);
    this.metrics.received.inc({ channel: topic?.channel ?? 'unknown' });
    const dead = (reason: string, kind: 'invalid' | 'rejected'): Outcome => {
      this.deadLetters.record({ topic, reason, sizeBytes: payload.length, receivedAtMs }, kind);
      return kind;
    };
    if (topic === null) return dead('topic outside the plaza/v1 scheme', 'invalid');
    if (topic.channel === 'config') return 'ignored'; // platform → device; not a reading
    const device = this.devices.lookup(topic.device);
    if (device === undefined) return dead('unknown device', 'rejected');
    if (device.mall !== topic.mall || device.store !== topic.store) return dead('device is registered in another store', 'rejected');
    if (topic.channel !== 'status' && topic.channel !== readingChannelOf[device.kind]) return dead(`a ${device.kind} device cannot send ${topic.channel}`, 'rejected');
    try {
      const points = this.dispatch(topic, payload, receivedAtMs, prepared);
      if (points === null) return 'invalid';
      this.append(points);
      return 'stored';
    } catch (error) {
      if (error instanceof RejectedReading) return dead(error.message, 'rejected');
      throw error;
    }
  }

  /** Point-of-sale reports; the broker lets only the pos service account publish them. A report is stored whole or not at all. */
  private handlePos(topic: { mall: string; source: string }, payload: Buffer, receivedAtMs: number): Outcome {
    this.metrics.received.inc({ channel: 'pos' });
    const dead = (reason: string, kind: 'invalid' | 'rejected'): Outcome => {
      this.deadLetters.record({ topic: null, reason: `sales from ${topic.source} in ${topic.mall}: ${reason}`, sizeBytes: payload.length, receivedAtMs }, kind);
      return kind;
    };
    const parsed = parseJsonWith(posSalesSchema, payload);
    if (!parsed.ok) return dead(parsed.reason, 'invalid');
    try {
      this.append(this.processors.pos.sales(topic.mall, parsed.value, receivedAtMs));
      return 'stored';
    } catch (error) {
      if (error instanceof RejectedReading) return dead(error.message, 'rejected');
      throw error;
    }
  }

  /** Portal events; the broker lets only the portal's service account publish them. */
  private handlePortal(topic: NonNullable<ReturnType<typeof parsePortalTopic>>, payload: Buffer, receivedAtMs: number): Outcome {
    this.metrics.received.inc({ channel: topic.kind });
    const dead = (reason: string): Outcome => {
      this.deadLetters.record({ topic: null, reason: `${topic.kind} from portal ${topic.portalId}: ${reason}`, sizeBytes: payload.length, receivedAtMs }, 'invalid');
      return 'invalid';
    };
    if (topic.kind === 'portalLogin') {
      const parsed = parseJsonWith(platformTopicSchemas.portalLogin, payload);
      if (!parsed.ok) return dead(parsed.reason);
      if (parsed.value.mall !== topic.mall) return dead('event mall differs from its topic');
      this.append(this.processors.portal.login(parsed.value));
      return 'stored';
    }
    const parsed = parseJsonWith(platformTopicSchemas.portalMember, payload);
    if (!parsed.ok) return dead(parsed.reason);
    this.append(this.processors.portal.member(parsed.value));
    return 'stored';
  }

  private dispatch(topic: DeviceTopic, payload: Buffer, receivedAtMs: number, prepared: PrepareResult | undefined): Point[] | null {
    const channel: Exclude<Channel, 'config'> = topic.channel as Exclude<Channel, 'config'>;
    switch (channel) {
      case 'door': {
        const parsed = parsePayload('door', payload);
        if (!parsed.ok) return this.invalid(topic, parsed.reason, payload, receivedAtMs);
        this.metrics.lagSeconds.set((receivedAtMs - parsed.value.ts) / 1000);
        return this.processors.door.process(topic as DeviceTopic<'door'>, parsed.value, receivedAtMs);
      }
      case 'probe': {
        const probe = this.processors.probe;
        // Prepared before the first member link or opt-out existed: its stable MACs lack link hashes.
        const usable = prepared !== undefined && (!prepared.ok || prepared.value.withLinks || !probe.needsLinks());
        if (usable) this.metrics.prepared.inc({ where: 'thread' });
        else this.metrics.prepared.inc({ where: 'event_loop' });
        const parsed = usable ? prepared : probe.parse(topic.mall, payload, receivedAtMs);
        if (!parsed.ok) return this.invalid(topic, parsed.reason, payload, receivedAtMs);
        this.metrics.lagSeconds.set((receivedAtMs - parsed.value.ts) / 1000);
        return probe.processPrepared(topic as DeviceTopic<'probe'>, parsed.value, receivedAtMs);
      }
      case 'status': {
        const parsed = parsePayload('status', payload);
        if (!parsed.ok) return this.invalid(topic, parsed.reason, payload, receivedAtMs);
        return this.processors.status.process(topic as DeviceTopic<'status'>, parsed.value, receivedAtMs);
      }
    }
  }

  private invalid(topic: DeviceTopic, reason: string, payload: Buffer, receivedAtMs: number): null {
    this.deadLetters.record({ topic, reason, sizeBytes: payload.length, receivedAtMs }, 'invalid');
    return null;
  }
}
