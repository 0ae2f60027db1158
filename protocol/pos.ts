import { isId } from './ids.ts';
import { topicRoot } from './topics.ts';

/**
 * Point-of-sale topics: `plaza/v1/<mall>/_pos/<source>/sales`, payload `posSalesSchema`. `_pos` cannot clash
 * with a store id (ids are [a-z0-9-]); `source` names the POS system or bridge that publishes.
 */
export const posTopics = {
  sales: (mall: string, source: string): string => {
    for (const id of [mall, source]) if (!isId(id)) throw new Error(`invalid id in topic: ${JSON.stringify(id)}`);
    return `${topicRoot}/${mall}/_pos/${source}/sales`;
  },
  /** Subscription filter for ingest; `mall` may be '+' for every mall. */
  salesFilter: (mall: string): string => {
    if (mall !== '+' && !isId(mall)) throw new Error(`invalid mall id: ${JSON.stringify(mall)}`);
    return `${topicRoot}/${mall}/_pos/+/sales`;
  },
} as const;

/** Parses `plaza/v1/<mall>/_pos/<source>/sales`; null for anything else. */
export function parsePosTopic(topic: string): { mall: string; source: string } | null {
  const parts = topic.split('/');
  if (parts.length !== 6 || parts[0] !== 'plaza' || parts[1] !== 'v1' || parts[3] !== '_pos' || parts[5] !== 'sales') return null;
  const [, , mall, , source] = parts as [string, string, string, string, string, string];
  if (!isId(mall) || !isId(source)) return null;
  return { mall, source };
}
