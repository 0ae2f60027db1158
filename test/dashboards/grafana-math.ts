/**
 * The subset of Grafana server-side expressions (`type: math`) the dashboards use: + − × ÷ and parentheses over
 * query results reduced to one number per label set. As in Grafana, results join on equal labels and a result
 * without labels combines with every labelled one.
 */

/** One number per label set, keyed by `k=v,…` ('' for no labels). */
export type Numbers = Map<string, number | null>;

export function evaluateMath(expression: string, refs: Record<string, Numbers>): Numbers {
  const tokens = expression.match(/\$[A-Za-z]\w*|\d+(?:\.\d+)?|[-+*/()]/g) ?? [];
  if (tokens.join('') !== expression.replace(/\s+/g, '')) throw new Error(`unsupported math expression: ${expression}`);
  const used = tokens.filter((t) => t.startsWith('$')).map((t) => t.slice(1));
  for (const ref of used) if (refs[ref] === undefined) throw new Error(`math expression refers to unknown query ${ref}`);
  const labelled = [...new Set(used.flatMap((ref) => [...(refs[ref] as Numbers).keys()].filter((k) => k !== '')))];
  const keys = labelled.length > 0 ? labelled : [''];
  const out: Numbers = new Map();
  for (const key of keys) {
    const valueOf = (ref: string): number | null => {
      const numbers = refs[ref] as Numbers;
      if (numbers.has(key)) return numbers.get(key) ?? null;
      return numbers.size === 1 && numbers.has('') ? (numbers.get('') ?? null) : null;
    };
    out.set(key, evaluateTokens(tokens, valueOf));
  }
  return out;
}

function evaluateTokens(tokens: readonly string[], valueOf: (ref: string) => number | null): number | null {
  let i = 0;
  const peek = (): string | undefined => tokens[i];
  const primary = (): number | null => {
    const t = tokens[i++];
    if (t === undefined) throw new Error('math expression ends early');
    if (t === '(') {
      const v = sum();
      if (tokens[i++] !== ')') throw new Error('missing )');
      return v;
    }
    if (t === '-') {
      const v = primary();
      return v === null ? null : -v;
    }
    if (t.startsWith('$')) return valueOf(t.slice(1));
    const n = Number(t);
    if (!Number.isFinite(n)) throw new Error(`unexpected ${t}`);
    return n;
  };
  const product = (): number | null => {
    let v = primary();
    while (peek() === '*' || peek() === '/') {
      const op = tokens[i++];
      const r = primary();
      v = v === null || r === null ? null : op === '*' ? v * r : v / r;
    }
    return v;
  };
  const sum = (): number | null => {
    let v = product();
    while (peek() === '+' || peek() === '-') {
      const op = tokens[i++];
      const r = product();
      v = v === null || r === null ? null : op === '+' ? v + r : v - r;
    }
    return v;
  };
  const result = sum();
  if (i !== tokens.length) throw new Error('trailing tokens in math expression');
  return result;
}
