import { isId } from './ids.ts';
import { topicRoot } from './topics.ts';

/**
 * Alert topics: `plaza/v1/<mall>/_platform/alerts`, payload `alertEventSchema` (payloads/alert.ts). `_platform`
 * cannot clash with a store id (ids are [a-z0-9-]); the broker lets service roles ingest and ops publish there.
 */
export const alertTopics = {
  alerts: (mall: string): string => {
    if (!isId(mall)) throw new Error(`invalid id in topic: ${JSON.stringify(mall)}`);
    return `${topicRoot}/${mall}/_platform/alerts`;
  },
  /** Subscription filter; `mall` may be '+' for every mall. */
  alertsFilter: (mall: string): string => {
    if (mall !== '+' && !isId(mall)) throw new Error(`invalid mall id: ${JSON.stringify(mall)}`);
    return `${topicRoot}/${mall}/_platform/alerts`;
  },
} as const;

/** Parses `plaza/v1/<mall>/_platform/alerts`; null for anything else. */
export function parseAlertTopic(topic: string): { mall: string } | null {
  const parts = topic.split('/');
  if (parts.length !== 5 || parts[0] !== 'plaza' || parts[1] !== 'v1' || parts[3] !== '_platform' || parts[4] !== 'alerts') return null;
  const mall = parts[2] as string;
  return isId(mall) ? { mall } : null;
}
