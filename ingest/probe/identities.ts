import type { Changes } from './changes.ts';
import type { LocalDay } from './days.ts';
import type { ProbeStatements, VisitRow } from './state.ts';
import { MinuteBits, type Visit } from './visits.ts';

/** How a device's identity was established; decides whether its figures are estimates. */
export const identityKinds = {
  /** Globally administered MAC: stable, one MAC per device. */
  global: 0,
  /** Randomized MAC seen associated with the mall Wi-Fi: stable per SSID. */
  associated: 1,
  /** Randomized probe MACs joined by fingerprint + sequence number. */
  clustered: 2,
  /** Randomized probe MAC without fingerprint or sequence number: each MAC counts as a device (estimate). */
  unclustered: 3,
} as const;
export type IdentityKind = (typeof identityKinds)[keyof typeof identityKinds];

/** A pseudonymous device of one store on one local day, with its visits. */
export interface Ident {
  readonly mall: string;
  readonly store: string;
  readonly identity: string;
  readonly day: string;
  readonly dayStartMs: number;
  kind: IdentityKind;
  /** Counted as a visitor in the day's unique visitors. */
  visitorDay: boolean;
  fph: string | null;
  lastSn: number | null;
  lastMs: number | null;
  visits: Visit[];
  stored: boolean;
  dirty: boolean;
}

export interface ClusterQuery {
  mall: string;
  store: string;
  fph: string;
  sn: number;
  tsMs: number;
  snWindow: number;
  windowMs: number;
}

/**
 * Identities and aliases, cached in memory in front of the state database. Changes stay in memory until
 * writeBack() at the end of the same transaction, so the database is authoritative between calls and the
 * caches may be dropped at any time.
 */
export class Identities {
  private readonly idents = new Map<string, Ident | null>();
  private readonly aliases = new Map<string, string | null>();
  private readonly dirtyIdents = new Set<Ident>();
  private readonly newAliases: { mall: string; store: string; mac: string; identity: string; day: string }[] = [];

  constructor(private readonly s: ProbeStatements) {}

  get size(): number {
    return this.idents.size + this.aliases.size;
  }

  clear(): void {
    this.idents.clear();
    this.aliases.clear();
    this.dirtyIdents.clear();
    this.newAliases.length = 0;
  }

  get(mall: string, store: string, identity: string): Ident | null {
    const key = `${mall}\0${store}\0${identity}`;
    let ident = this.idents.get(key);
    if (ident === undefined) {
      const row = this.s.identGet.get(mall, store, identity);
      ident = null;
      if (row !== undefined) {
        ident = {
          mall,
          store,
          identity,
          day: row.day,
          dayStartMs: row.day_start_ms,
          kind: row.kind as IdentityKind,
          visitorDay: row.visitor_day === 1,
          fph: row.fph,
          lastSn: row.last_sn,
          lastMs: row.last_ms,
          visits: this.s.visitsOf.all(mall, store, identity).map(visitFromRow),
          stored: true,
          dirty: false,
        };
      }
      this.idents.set(key, ident);
    }
    return ident;
  }

  /** The identity a further random MAC was merged into, if any. */
  aliasOf(mall: string, store: string, mac: string): string | null {
    const key = `${mall}\0${store}\0${mac}`;
    let identity = this.aliases.get(key);
    if (identity === undefined) {
      identity = this.s.aliasGet.get(mall, store, mac) ?? null;
      this.aliases.set(key, identity);
    }
    return identity;
  }

  addAlias(mall: string, store: string, mac: string, ident: Ident): void {
    this.aliases.set(`${mall}\0${store}\0${mac}`, ident.identity);
    this.newAliases.push({ mall, store, mac, identity: ident.identity, day: ident.day });
  }

  create(mall: string, store: string, identity: string, day: LocalDay, kind: IdentityKind, changes: Changes): Ident {
    const ident: Ident = {
      mall,
      store,
      identity,
      day: day.date,
      dayStartMs: day.startMs,
      kind,
      visitorDay: false,
      fph: null,
      lastSn: null,
      lastMs: null,
      visits: [],
      stored: false,
      dirty: true,
    };
    this.idents.set(`${mall}\0${store}\0${identity}`, ident);
    this.dirtyIdents.add(ident);
    changes.day(mall, store, day, 1, 0, kind === identityKinds.unclustered ? 1 : 0);
    return ident;
  }

  markDirty(ident: Ident): void {
    ident.dirty = true;
    this.dirtyIdents.add(ident);
  }

  /**
   * The device a new random MAC continues: same store, same hashed fingerprint, and its last frame's sequence
   * number just before this one (mod 4096) a moment ago. Closest sequence number wins.
   */
  findCluster(q: ClusterQuery): Ident | null {
    let best: string | null = null;
    let bestGap = Number.POSITIVE_INFINITY;
    const consider = (identity: string, lastSn: number | null, lastMs: number | null): void => {
      if (lastSn === null || lastMs === null) return;
      const snGap = (q.sn - lastSn + 4096) % 4096;
      const ageMs = q.tsMs - lastMs;
      if (snGap >= 1 && snGap <= q.snWindow && ageMs >= 0 && ageMs <= q.windowMs && snGap < bestGap) {
        best = identity;
        bestGap = snGap;
      }
    };
    for (const row of this.s.clusterCandidates.all(q.mall, q.store, q.fph, q.tsMs - q.windowMs)) {
      // A cached identity may hold a newer tail than its row.
      const cached = this.idents.get(`${q.mall}\0${q.store}\0${row.identity}`);
      if (cached) consider(cached.identity, cached.lastSn, cached.lastMs);
      else consider(row.identity, row.last_sn, row.last_ms);
    }
    for (const ident of this.dirtyIdents) {
      if (ident.fph === q.fph && ident.mall === q.mall && ident.store === q.store) consider(ident.identity, ident.lastSn, ident.lastMs);
    }
    return best === null ? null : this.get(q.mall, q.store, best);
  }

  /** Writes every changed identity, visit and alias; closeAfterMs gives an open visit's closing time. */
  writeBack(closeAfterMs: (ident: Ident, visit: Visit) => number): void {
    const s = this.s;
    for (const ident of this.dirtyIdents) {
      if (ident.dirty) {
        s.identUpsert.run(ident.mall, ident.store, ident.identity, ident.day, ident.dayStartMs, ident.kind, ident.visitorDay ? 1 : 0, ident.fph, ident.lastSn, ident.lastMs);
        ident.stored = true;
        ident.dirty = false;
      }
      for (const visit of ident.visits) {
        if (!visit.dirty) continue;
        const row = {
          mall: ident.mall,
          store: ident.store,
          identity: ident.identity,
          day: ident.day,
          first_ms: visit.firstMs,
          last_ms: visit.lastMs,
          max_rssi: visit.maxRssi,
          visitor: visit.visitor ? 1 : 0,
          estimated: visit.estimated ? 1 : 0,
          randomized: visit.randomized ? 1 : 0,
          connected: visit.connected ? 1 : 0,
          closed: visit.closed ? 1 : 0,
          point_ms: visit.pointMs ?? null,
          close_after_ms: closeAfterMs(ident, visit),
          expires_ms: visit.expiresMs ?? null,
          seen_base: visit.seen.base,
          seen: asBuffer(visit.seen.bits),
          conn_base: visit.conn?.base ?? null,
          conn: visit.conn === undefined ? null : asBuffer(visit.conn.bits),
        };
        if (visit.id === undefined) visit.id = Number(s.visitInsert.run(row).lastInsertRowid);
        else s.visitUpdate.run({ ...row, id: visit.id });
        visit.dirty = false;
      }
    }
    this.dirtyIdents.clear();
    for (const a of this.newAliases) s.aliasInsert.run(a.mall, a.store, a.mac, a.identity, a.day);
    this.newAliases.length = 0;
  }

  /** Visits change through the identity that owns them; this registers the owner for writeBack(). */
  touched(ident: Ident): void {
    this.dirtyIdents.add(ident);
  }
}

function asBuffer(bits: Uint8Array): Buffer {
  return Buffer.from(bits.buffer, bits.byteOffset, bits.byteLength);
}

function visitFromRow(row: VisitRow): Visit {
  return {
    id: row.id,
    firstMs: row.first_ms,
    lastMs: row.last_ms,
    maxRssi: row.max_rssi,
    visitor: row.visitor === 1,
    estimated: row.estimated === 1,
    randomized: row.randomized === 1,
    connected: row.connected === 1,
    closed: row.closed === 1,
    pointMs: row.point_ms ?? undefined,
    expiresMs: row.expires_ms ?? undefined,
    seen: new MinuteBits(row.seen_base, new Uint8Array(row.seen)),
    conn: row.conn === null || row.conn_base === null ? undefined : new MinuteBits(row.conn_base, new Uint8Array(row.conn)),
    dirty: false,
  };
}
