import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { FaultName } from './mall-config.ts';

/**
 * Ground truth, one JSON object per line, written while the simulation runs. People, not devices; no MAC or
 * other identifier leaves the simulator (shoppers are numbered per run).
 */
export type TruthRecord =
  | {
      type: 'run';
      version: 1;
      mall: string;
      seed: number;
      startMs: number;
      /** Planned end; null for an open-ended real-time run (the `end` record has the actual end). */
      endMs: number | null;
      timeZone: string;
      stores: string[];
      faults: FaultName[];
    }
  /** Per store and minute (only minutes with any activity or people inside): true counts of people. */
  | { type: 'minute'; tsMs: number; store: string; entries: number; exits: number; passersBy: number; visitors: number; occupancy: number }
  /** One person's visit to a store. `open` marks visits still going on when the run ended (dwell so far). */
  | { type: 'visit'; store: string; shopper: number; startMs: number; endMs: number; dwellS: number; phones: number; open?: true }
  /** Distinct people who visited a store on one mall-local date (written when the date ends or the run ends). */
  | { type: 'day'; date: string; store: string; uniqueShoppers: number }
  | { type: 'portalLogin'; tsMs: number; shopper: number; store: string | null; member: boolean }
  | { type: 'fault'; tsMs: number; device: string; fault: FaultName; detail?: Record<string, number | string> }
  | { type: 'end'; tsMs: number };

export interface TruthSink {
  write(record: TruthRecord): void;
}

/** Collects records in memory (tests, verify). */
export class MemoryTruth implements TruthSink {
  readonly records: TruthRecord[] = [];
  write(record: TruthRecord): void {
    this.records.push(record);
  }
}

/** Appends records to a JSON-lines file as they happen. */
export class TruthFile implements TruthSink {
  private stream: WriteStream | undefined;
  private error: Error | undefined;

  constructor(readonly file: string) {}

  open(): void {
    this.stream = createWriteStream(this.file, { flags: 'w' });
    this.stream.on('error', (error) => {
      this.error = error;
    });
  }

  write(record: TruthRecord): void {
    if (this.error) throw new Error(`cannot write truth file ${this.file}: ${this.error.message}`);
    this.stream?.write(`${JSON.stringify(record)}\n`);
  }

  async close(): Promise<void> {
    const stream = this.stream;
    this.stream = undefined;
    if (stream === undefined) return;
    await new Promise<void>((resolve, reject) => {
      stream.end((error?: Error | null) => (error ? reject(error) : resolve()));
    });
    if (this.error) throw new Error(`cannot write truth file ${this.file}: ${this.error.message}`);
  }
}

export async function readTruth(file: string): Promise<TruthRecord[]> {
  const records: TruthRecord[] = [];
  const lines = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
  let n = 0;
  for await (const line of lines) {
    n += 1;
    if (line.trim() === '') continue;
    try {
      records.push(JSON.parse(line) as TruthRecord);
    } catch {
      throw new Error(`truth file ${file}, line ${n}: not JSON`);
    }
  }
  return records;
}

interface MinuteCounts {
  entries: number;
  exits: number;
  passersBy: number;
  visitors: number;
}

/** Turns world events into truth records: per-minute tallies, visits, unique shoppers per local date. */
export class TruthRecorder {
  private minuteMs: number | undefined;
  private readonly counts = new Map<string, MinuteCounts>();
  private readonly occupancy = new Map<string, number>();
  private date: string | undefined;
  private readonly uniques = new Map<string, Set<number>>();

  constructor(
    private readonly sink: TruthSink,
    private readonly stores: readonly string[],
  ) {
    for (const store of stores) this.occupancy.set(store, 0);
  }

  /** Moves to the minute and local date of tsMs, closing the ones before. */
  at(tsMs: number, localDate: string): void {
    const minute = Math.floor(tsMs / 60_000) * 60_000;
    if (this.minuteMs !== undefined && minute !== this.minuteMs) this.flushMinute();
    this.minuteMs = minute;
    if (this.date !== undefined && localDate !== this.date) this.flushDay();
    this.date = localDate;
  }

  entry(store: string, shopper: number): void {
    this.tally(store).entries += 1;
    this.tally(store).visitors += 1;
    this.occupancy.set(store, (this.occupancy.get(store) ?? 0) + 1);
    let set = this.uniques.get(store);
    if (set === undefined) this.uniques.set(store, (set = new Set()));
    set.add(shopper);
  }

  exit(store: string, visit: Omit<Extract<TruthRecord, { type: 'visit' }>, 'type' | 'store'>): void {
    this.tally(store).exits += 1;
    this.occupancy.set(store, (this.occupancy.get(store) ?? 0) - 1);
    this.sink.write({ type: 'visit', store, ...visit });
  }

  openVisit(store: string, visit: Omit<Extract<TruthRecord, { type: 'visit' }>, 'type' | 'store' | 'open'>): void {
    this.sink.write({ type: 'visit', store, ...visit, open: true });
  }

  passerBy(store: string, people: number): void {
    this.tally(store).passersBy += people;
  }

  write(record: TruthRecord): void {
    this.sink.write(record);
  }

  /** Closes the current minute and date (end of run). */
  finish(): void {
    this.flushMinute();
    this.flushDay();
  }

  private tally(store: string): MinuteCounts {
    let counts = this.counts.get(store);
    if (counts === undefined) this.counts.set(store, (counts = { entries: 0, exits: 0, passersBy: 0, visitors: 0 }));
    return counts;
  }

  private flushMinute(): void {
    const tsMs = this.minuteMs;
    if (tsMs === undefined) return;
    for (const store of this.stores) {
      const c = this.counts.get(store);
      const occupancy = this.occupancy.get(store) ?? 0;
      if (c === undefined && occupancy === 0) continue;
      const { entries = 0, exits = 0, passersBy = 0, visitors = 0 } = c ?? {};
      this.sink.write({ type: 'minute', tsMs, store, entries, exits, passersBy, visitors, occupancy });
    }
    this.counts.clear();
  }

  private flushDay(): void {
    const date = this.date;
    if (date === undefined) return;
    for (const store of this.stores) {
      const n = this.uniques.get(store)?.size ?? 0;
      if (n > 0) this.sink.write({ type: 'day', date, store, uniqueShoppers: n });
    }
    this.uniques.clear();
  }
}
