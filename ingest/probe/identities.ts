import type { Changes } from './changes.ts';
import type { LocalDay } from './days.ts';
import { type ProbeStatements, type VisitColdColumns, type VisitHotColumns, type VisitRow, vidsPerStore } from './state.ts';
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

/** Cached identities (null: known absent) and aliases of one store, by pseudonym. */
interface StoreCache {
  readonly mall: string;
  readonly store: string;
  readonly idents: Map<string, Ident | null>;
  readonly aliases: Map<string, string | null>;
  /** The id the store's next new visit gets (probe_visit_hot); loaded with the first new visit. */
  nextVid: number | undefined;
}

/** Identities of one store with one hashed fingerprint whose tail is recent; complete from `fromMs` on. */
interface FingerprintGroup {
  fromMs: number;
  members: Set<Ident>;
}

/** Group members whose tail is older than this behind the query are dropped (and reloaded if a late batch needs them), in ms. */
const groupPruneSlackMs = 10 * 60 * 1000;

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
  /** Per mall, per store: lookups by pseudonym need no composed key (the identity cache is hit ~twice per sighting). */
  private readonly stores = new Map<string, Map<string, StoreCache>>();
  private lastStore: StoreCache | undefined;
  private cachedEntries = 0;
  private readonly groups = new Map<string, FingerprintGroup>();
  private readonly dirtyIdents = new Set<Ident>();
  private readonly newAliases: { mall: string; store: string; mac: string; identity: string; day: string }[] = [];

  constructor(private readonly s: ProbeStatements) {}

  get size(): number {
    return this.cachedEntries;
  }

  clear(): void {
    this.stores.clear();
    this.lastStore = undefined;
    this.cachedEntries = 0;
    this.groups.clear();
    this.dirtyIdents.clear();
    this.newAliases.length = 0;
  }

  get(mall: string, store: string, identity: string): Ident | null {
    const idents = this.storeCache(mall, store).idents;
    let ident = idents.get(identity);
    if (ident === undefined) {
      const row = this.s.identGet.get(mall, store, identity);
      ident = null;
      if (row !== undefined) {
        const visitRows = this.s.visitsOf.all(mall, store, identity);
        let tail: VisitRow | undefined;
        for (const visit of visitRows) if (visit.tail_ms !== null && (tail?.tail_ms ?? Number.NEGATIVE_INFINITY) < visit.tail_ms) tail = visit;
        ident = {
          mall,
          store,
          identity,
          day: row.day,
          dayStartMs: row.day_start_ms,
          kind: row.kind as IdentityKind,
          visitorDay: row.visitor_day === 1,
          fph: row.fph,
          lastSn: tail?.tail_sn ?? null,
          lastMs: tail?.tail_ms ?? null,
          visits: visitRows.map(visitFromRow),
          stored: true,
          dirty: false,
        };
      }
      idents.set(identity, ident);
      this.cachedEntries += 1;
    }
    return ident;
  }

  /** The identity a further random MAC was merged into, if any. */
  aliasOf(mall: string, store: string, mac: string): string | null {
    const aliases = this.storeCache(mall, store).aliases;
    let identity = aliases.get(mac);
    if (identity === undefined) {
      identity = this.s.aliasGet.get(mall, store, mac) ?? null;
      aliases.set(mac, identity);
      this.cachedEntries += 1;
    }
    return identity;
  }

  addAlias(mall: string, store: string, mac: string, ident: Ident): void {
    const aliases = this.storeCache(mall, store).aliases;
    if (!aliases.has(mac)) this.cachedEntries += 1;
    aliases.set(mac, ident.identity);
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
    const idents = this.storeCache(mall, store).idents;
    if (!idents.has(identity)) this.cachedEntries += 1;
    idents.set(identity, ident);
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
    const group = this.group(q.mall, q.store, q.fph, q.tsMs - q.windowMs);
    const staleMs = q.tsMs - q.windowMs - groupPruneSlackMs;
    let best: Ident | null = null;
    let bestGap = Number.POSITIVE_INFINITY;
    for (const ident of group.members) {
      if (ident.lastSn === null || ident.lastMs === null) continue;
      if (ident.lastMs < staleMs) {
        group.members.delete(ident);
        continue;
      }
      const snGap = (q.sn - ident.lastSn + 4096) % 4096;
      const ageMs = q.tsMs - ident.lastMs;
      if (snGap >= 1 && snGap <= q.snWindow && ageMs >= 0 && ageMs <= q.windowMs && snGap < bestGap) {
        best = ident;
        bestGap = snGap;
      }
    }
    if (staleMs > group.fromMs) group.fromMs = staleMs;
    return best;
  }

  /** Registers an identity whose cluster tail changed, so later random MACs can join it. */
  trackTail(ident: Ident): void {
    if (ident.fph === null || ident.lastMs === null) return;
    const key = `${ident.mall}\0${ident.store}\0${ident.fph}`;
    const group = this.groups.get(key);
    // Without a group nothing was asked yet; the first query loads the group from the database and the cache.
    if (group !== undefined && ident.lastMs >= group.fromMs) group.members.add(ident);
  }

  private group(mall: string, store: string, fph: string, fromMs: number): FingerprintGroup {
    const key = `${mall}\0${store}\0${fph}`;
    let group = this.groups.get(key);
    if (group === undefined || fromMs < group.fromMs) {
      const members = group?.members ?? new Set<Ident>();
      for (const identity of this.s.clusterCandidates.all(mall, store, fph, fromMs)) {
        const ident = this.get(mall, store, identity);
        if (ident !== null) members.add(ident);
      }
      // Identities changed in this transaction are not in the database yet.
      for (const ident of this.dirtyIdents) if (ident.fph === fph && ident.mall === mall && ident.store === store) members.add(ident);
      group = { fromMs, members };
      this.groups.set(key, group);
    }
    return group;
  }

  /**
   * Writes every changed identity, visit and alias. closeAfterMs gives an open visit's closing time; it is
   * stored only with indexed changes (visit.reindex), so the stored value is a lower bound tick() refreshes.
   */
  writeBack(closeAfterMs: (ident: Ident, visit: Visit) => number): void {
    const s = this.s;
    for (const ident of this.dirtyIdents) {
      if (ident.dirty) {
        s.identUpsert.run(ident.mall, ident.store, ident.identity, ident.day, ident.dayStartMs, ident.kind, ident.visitorDay ? 1 : 0, ident.fph);
        ident.stored = true;
        ident.dirty = false;
      }
      for (const visit of ident.visits) {
        if (!visit.dirty) continue;
        const hot: VisitHotColumns = [
          visit.firstMs,
          visit.lastMs,
          visit.maxRssi,
          visit.visitor ? 1 : 0,
          visit.estimated ? 1 : 0,
          visit.connected ? 1 : 0,
          visit.seen.base,
          visit.seen.bits,
          visit.conn?.base ?? null,
          visit.conn?.bits ?? null,
          ident.lastSn,
          ident.lastMs,
        ];
        if (visit.vid === undefined) {
          const vid = this.newVid(ident.mall, ident.store);
          s.visitInsert.run(ident.mall, ident.store, ident.identity, visit.vkey, vid, ident.day, visit.randomized ? 1 : 0, ...coldColumns(ident, visit, closeAfterMs));
          s.visitHotInsert.run(vid, ...hot);
          visit.vid = vid;
        } else {
          s.visitUpdateHot.run(...hot, visit.vid);
          if (visit.reindex) s.visitUpdateCold.run(...coldColumns(ident, visit, closeAfterMs), ident.mall, ident.store, ident.identity, visit.vkey);
        }
        visit.dirty = false;
        visit.reindex = false;
      }
    }
    this.dirtyIdents.clear();
    for (const a of this.newAliases) s.aliasInsert.run(a.mall, a.store, a.mac, a.identity, a.day);
    this.newAliases.length = 0;
  }

  /** The next visit id of a store: after the store's last one in the database, numbered on in memory. */
  private newVid(mall: string, store: string): number {
    const cache = this.storeCache(mall, store);
    if (cache.nextVid === undefined) {
      const sid = this.s.storeId.get(mall, store) ?? this.s.storeIdInsert.get(mall, store);
      if (sid === undefined) throw new Error('probe_store gave no id');
      const first = sid * vidsPerStore;
      cache.nextVid = (this.s.lastVid.get(first, first + vidsPerStore) ?? first) + 1;
    }
    const vid = cache.nextVid;
    cache.nextVid += 1;
    return vid;
  }

  private storeCache(mall: string, store: string): StoreCache {
    const last = this.lastStore;
    if (last !== undefined && last.mall === mall && last.store === store) return last;
    let byStore = this.stores.get(mall);
    if (byStore === undefined) {
      byStore = new Map();
      this.stores.set(mall, byStore);
    }
    let cache = byStore.get(store);
    if (cache === undefined) {
      cache = { mall, store, idents: new Map(), aliases: new Map(), nextVid: undefined };
      byStore.set(store, cache);
    }
    this.lastStore = cache;
    return cache;
  }

  /** Visits change through the identity that owns them; this registers the owner for writeBack(). */
  touched(ident: Ident): void {
    this.dirtyIdents.add(ident);
  }
}

/** A visit's indexed columns (probe_visit): written when it opens, closes, reopens or is rescheduled. */
function coldColumns(ident: Ident, visit: Visit, closeAfterMs: (ident: Ident, visit: Visit) => number): VisitColdColumns {
  return [visit.closed ? 1 : 0, visit.pointMs ?? null, closeAfterMs(ident, visit), visit.expiresMs ?? null, ident.fph];
}

function visitFromRow(row: VisitRow): Visit {
  return {
    vkey: row.vkey,
    vid: row.vid,
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
    seen: new MinuteBits(row.seen_base, row.seen),
    conn: row.conn === null || row.conn_base === null ? undefined : new MinuteBits(row.conn_base, row.conn),
    dirty: false,
    reindex: false,
  };
}
