import { randomUUID } from 'node:crypto';
import type { Logger } from '../../core/logger.ts';
import type { AlertEvent } from '../../protocol/payloads/alert.ts';
import type { AlertView } from '../live/snapshot.ts';
import { type Alert, type AlertLog, openAlertView } from './log.ts';
import type { Condition } from './rules.ts';

/** Where transitions go besides the log (MQTT). Must not throw; it reports its own failures. */
export type AlertSink = (event: AlertEvent) => void;

/**
 * Open alerts and their transitions: raise when a condition says so and no alert with its key is open; clear
 * when the open alert's condition says so, or when its subject is gone. Every transition is recorded in the
 * log and handed to the sink.
 */
export class AlertEngine {
  private readonly open = new Map<string, Alert>();

  constructor(
    private readonly log: AlertLog,
    private readonly sink: AlertSink,
    private readonly logger: Logger,
  ) {}

  /** Loads the alerts left open by the previous run. */
  restore(): void {
    for (const alert of this.log.openAlerts()) this.open.set(alert.key, alert);
  }

  /** Applies the conditions of one mall at nowMs; returns the transitions. */
  evaluate(mall: string, conditions: readonly Condition[], nowMs: number): AlertEvent[] {
    const events: AlertEvent[] = [];
    const seen = new Set<string>();
    for (const condition of conditions) {
      seen.add(condition.key);
      const alert = this.open.get(condition.key);
      if (alert === undefined) {
        if (condition.raise) events.push(this.raise(mall, condition, nowMs));
        continue;
      }
      const reason = condition.clearReason(alert);
      if (reason !== undefined) events.push(this.clear(alert, reason, nowMs));
    }
    for (const alert of [...this.open.values()]) {
      if (alert.mall === mall && !seen.has(alert.key)) events.push(this.clear(alert, 'removed', nowMs));
    }
    return events;
  }

  openFor(mall: string): AlertView[] {
    return [...this.open.values()].filter((a) => a.mall === mall).sort((a, b) => b.raisedMs - a.raisedMs || a.key.localeCompare(b.key)).map(openAlertView);
  }

  private raise(mall: string, condition: Condition, nowMs: number): AlertEvent {
    const alert: Alert = { id: randomUUID(), key: condition.key, kind: condition.kind, mall, store: condition.store, device: condition.device, raisedMs: nowMs, detail: condition.detail };
    this.open.set(alert.key, alert);
    const event: AlertEvent = { v: 1, id: alert.id, event: 'raised', kind: alert.kind, mall, store: alert.store, ts: nowMs, raisedTs: nowMs, detail: alert.detail };
    if (alert.device !== undefined) event.device = alert.device;
    this.emit(event, alert.key);
    return event;
  }

  private clear(alert: Alert, reason: 'resolved' | 'closed' | 'removed', nowMs: number): AlertEvent {
    this.open.delete(alert.key);
    const event: AlertEvent = { v: 1, id: alert.id, event: 'cleared', kind: alert.kind, mall: alert.mall, store: alert.store, ts: nowMs, raisedTs: alert.raisedMs, detail: alert.detail, clearReason: reason };
    if (alert.device !== undefined) event.device = alert.device;
    this.emit(event, alert.key);
    return event;
  }

  private emit(event: AlertEvent, key: string): void {
    this.logger.info({ alert: event.id, event: event.event, kind: event.kind, mall: event.mall, store: event.store, device: event.device, reason: event.clearReason }, 'alert');
    try {
      this.log.record(event, key);
    } catch (error) {
      // The alert still shows live and goes out on MQTT; only its history row is missing.
      this.logger.error({ err: error, alert: event.id }, 'could not record alert event');
    }
    this.sink(event);
  }
}
