/** A scrape of the Prometheus text format: sample (name + labels as written) → value. */
export interface Scrape {
  atMs: number;
  samples: Map<string, number>;
}

export interface Bucket {
  /** Upper bound in the metric's unit; Infinity for +Inf. */
  le: number;
  /** Cumulative count. */
  count: number;
}

/** Parses Prometheus text exposition (HELP/TYPE lines skipped). */
export function parseMetrics(text: string, atMs: number): Scrape {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    if (space < 0) continue;
    samples.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return { atMs, samples };
}

/** Sum of a metric over every label set (0 when absent). Label filter: substring such as `channel="door"`. */
export function total(scrape: Scrape, name: string, labelFilter?: string): number {
  let sum = 0;
  for (const [key, value] of scrape.samples) {
    const brace = key.indexOf('{');
    const metric = brace < 0 ? key : key.slice(0, brace);
    if (metric !== name) continue;
    if (labelFilter !== undefined && !key.includes(labelFilter)) continue;
    sum += value;
  }
  return sum;
}

/** Cumulative buckets of a histogram without labels other than `le`, sorted by bound. */
export function buckets(scrape: Scrape, name: string): Bucket[] {
  const result: Bucket[] = [];
  for (const [key, value] of scrape.samples) {
    if (!key.startsWith(`${name}_bucket{`)) continue;
    const match = /le="([^"]+)"/.exec(key);
    if (match === null) continue;
    result.push({ le: match[1] === '+Inf' ? Number.POSITIVE_INFINITY : Number(match[1]), count: value });
  }
  return result.sort((a, b) => a.le - b.le);
}

/** Buckets of `later` minus those of `earlier`: the histogram of the observations made in between. */
export function bucketDelta(later: Bucket[], earlier: Bucket[]): Bucket[] {
  return later.map((bucket) => ({ le: bucket.le, count: bucket.count - (earlier.find((b) => b.le === bucket.le)?.count ?? 0) }));
}

/**
 * Quantile q (0..1) of a cumulative histogram, interpolated linearly inside the bucket as PromQL's
 * histogram_quantile does; a rank in the +Inf bucket returns the highest finite bound. Null when empty.
 */
export function histogramQuantile(q: number, cumulative: Bucket[]): number | null {
  const last = cumulative[cumulative.length - 1];
  if (last === undefined || last.count <= 0) return null;
  const rank = q * last.count;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const bucket of cumulative) {
    if (bucket.count >= rank) {
      if (!Number.isFinite(bucket.le)) return lowerBound;
      const inBucket = bucket.count - lowerCount;
      if (inBucket <= 0) return bucket.le;
      return lowerBound + (bucket.le - lowerBound) * ((rank - lowerCount) / inBucket);
    }
    lowerBound = bucket.le;
    lowerCount = bucket.count;
  }
  return lowerBound;
}
