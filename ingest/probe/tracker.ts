import type { StoreSettings } from '../settings.ts';
import type { Changes } from './changes.ts';
import type { LocalDay } from './days.ts';
import { type Ident, type Identities, identityKinds } from './identities.ts';
import type { ProbeStats } from './options.ts';
import { MinuteBits, qualifiesAsVisitor, type Visit } from './visits.ts';

/**
 * Visits of one identity in one store: a sighting joins the visit it falls within visitGapS of (open or
 * recently closed), else opens a new one. Every update is a set insert, a min or a max, so a repeated
 * sighting changes nothing.
 */
export class VisitTracker {
  constructor(
    private readonly identities: Identities,
    private readonly stats: ProbeStats,
    private readonly stateGraceMs: number,
  ) {}

  /** Applies one sighting; returns the visit it joined or opened. */
  apply(ident: Ident, day: LocalDay, store: StoreSettings, tsMs: number, rssi: number, assoc: boolean, nowMs: number, changes: Changes): Visit {
    const gapMs = store.visitGapS * 1000;
    let visit: Visit | undefined;
    for (const candidate of ident.visits) {
      if (tsMs < candidate.firstMs - gapMs || tsMs > candidate.lastMs + gapMs) continue;
      if (visit === undefined || (visit.closed && !candidate.closed)) visit = candidate;
    }
    const minute = Math.floor(tsMs / 60_000);
    if (visit === undefined) {
      // A sighting after the gap closes the open visit at once, whatever the tick does.
      for (const open of ident.visits) if (!open.closed && tsMs - open.lastMs > gapMs) this.close(ident, open, nowMs, changes);
      visit = {
        vkey: tsMs,
        vid: undefined,
        firstMs: tsMs,
        lastMs: tsMs,
        maxRssi: rssi,
        visitor: false,
        estimated: ident.kind === identityKinds.unclustered,
        randomized: ident.kind !== identityKinds.global,
        connected: false,
        closed: false,
        pointMs: undefined,
        expiresMs: undefined,
        seen: MinuteBits.of(minute),
        conn: undefined,
        dirty: true,
        reindex: true,
      };
      ident.visits.push(visit);
    } else if (tsMs < visit.firstMs || tsMs > visit.lastMs || rssi > visit.maxRssi) {
      if (visit.closed) this.reopen(ident, visit, changes);
      if (tsMs < visit.firstMs) visit.firstMs = tsMs;
      if (tsMs > visit.lastMs) visit.lastMs = tsMs;
      if (rssi > visit.maxRssi) visit.maxRssi = rssi;
      visit.dirty = true;
    }
    if (visit.seen.add(minute)) {
      changes.minute(ident.mall, ident.store, minute, 1, visit.visitor ? 1 : 0, 0, visit.estimated ? 1 : 0);
      visit.dirty = true;
    }
    if (assoc) {
      visit.conn ??= MinuteBits.of(minute);
      if (visit.conn.add(minute)) {
        changes.minute(ident.mall, ident.store, minute, 0, 0, 1, 0);
        visit.connected = true;
        visit.dirty = true;
      }
    }
    if (!visit.closed) this.classify(ident, day, visit, store, changes);
    if (visit.dirty) this.identities.touched(ident);
    return visit;
  }

  /** The identity stopped being an estimate (an associated frame or a fingerprint arrived): recount its open visits. */
  liftEstimate(ident: Ident, day: LocalDay, store: StoreSettings, changes: Changes): void {
    for (const visit of ident.visits) {
      if (!visit.closed) this.classify(ident, day, visit, store, changes);
      if (visit.dirty) this.identities.touched(ident);
    }
  }

  close(ident: Ident, visit: Visit, nowMs: number, changes: Changes): void {
    visit.closed = true;
    visit.pointMs ??= visit.firstMs;
    visit.expiresMs = nowMs + this.stateGraceMs;
    visit.dirty = true;
    visit.reindex = true;
    changes.closedVisit(ident.mall, ident.store, visit, 1);
    changes.visitPoint(ident.mall, ident.store, ident.identity, visit);
    this.identities.touched(ident);
    this.stats.visitsClosed += 1;
  }

  /** A late sighting extends a closed visit: take back its share of the closed-visit aggregate until it closes again. */
  private reopen(ident: Ident, visit: Visit, changes: Changes): void {
    changes.closedVisit(ident.mall, ident.store, visit, -1);
    visit.closed = false;
    visit.expiresMs = undefined;
    visit.dirty = true;
    visit.reindex = true;
  }

  /**
   * Re-derives the class (visitor, estimate) of an open visit. Its minutes were counted under the old class;
   * when it changes, each of them moves (e.g. from passer-by to visitor) and is written again in full.
   */
  private classify(ident: Ident, day: LocalDay, visit: Visit, store: StoreSettings, changes: Changes): void {
    const visitor = qualifiesAsVisitor(visit, store);
    const estimated = visit.estimated && ident.kind === identityKinds.unclustered;
    if (visitor !== visit.visitor || estimated !== visit.estimated) {
      const visitorDelta = (visitor ? 1 : 0) - (visit.visitor ? 1 : 0);
      const estimatedDelta = (estimated ? 1 : 0) - (visit.estimated ? 1 : 0);
      visit.seen.forEach((minute) => changes.minute(ident.mall, ident.store, minute, 0, visitorDelta, 0, estimatedDelta));
      visit.visitor = visitor;
      visit.estimated = estimated;
      visit.dirty = true;
    }
    if (visitor && !ident.visitorDay) {
      ident.visitorDay = true;
      this.identities.markDirty(ident);
      changes.day(ident.mall, ident.store, day, 0, 1, 0);
    }
  }
}
