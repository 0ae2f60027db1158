import type { SeriesQuery } from './types.ts';

/**
 * InfluxQL building. Every identifier is double-quoted and every string literal single-quoted, with the
 * escapes InfluxQL's scanner understands (`\\`, `\"`, `\'`, `\n`), so a tag value can never end a literal
 * and inject a clause. A raw newline inside a quoted token is a parse error in InfluxQL, hence `\n`.
 */

function escapeQuoted(text: string, quote: '"' | "'"): string {
  let out = '';
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else out += ch;
  }
  return out;
}

export function quoteIdent(name: string): string {
  return `"${escapeQuoted(name, '"')}"`;
}

export function quoteString(value: string): string {
  return `'${escapeQuoted(value, "'")}'`;
}

function whereClause(query: SeriesQuery): string {
  const conditions: string[] = [];
  for (const [key, accepted] of Object.entries(query.where ?? {})) {
    const values = typeof accepted === 'string' ? [accepted] : [...new Set(accepted)];
    const terms = values.map((value) => `${quoteIdent(key)} = ${quoteString(value)}`);
    conditions.push(terms.length === 1 ? (terms[0] ?? '') : `(${terms.join(' OR ')})`);
  }
  conditions.push(`time >= ${query.fromMs}ms`, `time < ${query.toMs}ms`);
  return conditions.join(' AND ');
}

/**
 * SELECT for a validated query whose tag filters are all non-empty lists. Aggregates always group by time:
 * with everyMs in epoch-aligned buckets; without it in one bucket starting at fromMs (an interval offset
 * makes InfluxDB align it there), so selectors like last() report the bucket start rather than a point time.
 * fill(none) omits buckets without data.
 */
export function buildSelect(query: SeriesQuery, rp: string | undefined): string {
  const from = (rp === undefined ? '' : `${quoteIdent(rp)}.`) + quoteIdent(query.measurement);
  const groupTags = (query.groupBy ?? []).map(quoteIdent);
  if (query.aggregate === 'none') {
    const columns = query.fields.map(quoteIdent).join(', ');
    const groupBy = groupTags.length > 0 ? ` GROUP BY ${groupTags.join(', ')}` : '';
    return `SELECT ${columns} FROM ${from} WHERE ${whereClause(query)}${groupBy}`;
  }
  const fn = query.aggregate;
  const columns = query.fields.map((field) => `${fn}(${quoteIdent(field)}) AS ${quoteIdent(field)}`).join(', ');
  let interval: string;
  if (query.everyMs === undefined) {
    const widthMs = query.toMs - query.fromMs;
    const offsetMs = ((query.fromMs % widthMs) + widthMs) % widthMs;
    interval = `time(${widthMs}ms, ${offsetMs}ms)`;
  } else {
    interval = `time(${query.everyMs}ms)`;
  }
  const groupBy = [interval, ...groupTags].join(', ');
  return `SELECT ${columns} FROM ${from} WHERE ${whereClause(query)} GROUP BY ${groupBy} fill(none)`;
}
