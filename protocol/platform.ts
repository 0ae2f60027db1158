import type { z } from 'zod';
import { isId } from './ids.ts';
import { portalLoginEventSchema, portalMemberEventSchema } from './payloads/portal-login.ts';
import { topicRoot } from './topics.ts';

/**
 * Platform topics (service → service), apart from device topics. `_portal` cannot clash with a store id
 * (ids are [a-z0-9-]); the broker lets service role `portal` publish under `plaza/v1/+/_portal/#`.
 */
export const platformTopicSchemas = {
  portalLogin: portalLoginEventSchema,
  portalMember: portalMemberEventSchema,
} as const;

export type PlatformTopic = keyof typeof platformTopicSchemas;
export type PlatformPayloadOf<T extends PlatformTopic> = z.infer<(typeof platformTopicSchemas)[T]>;

function checkIds(...ids: string[]): void {
  for (const id of ids) if (!isId(id)) throw new Error(`invalid id in topic: ${JSON.stringify(id)}`);
}

export const platformTopics = {
  /** `plaza/v1/<mall>/_portal/<portal-id>/login` */
  portalLogin: (mall: string, portalId: string): string => {
    checkIds(mall, portalId);
    return `${topicRoot}/${mall}/_portal/${portalId}/login`;
  },
  /** `plaza/v1/<mall>/_portal/<portal-id>/member` */
  portalMember: (mall: string, portalId: string): string => {
    checkIds(mall, portalId);
    return `${topicRoot}/${mall}/_portal/${portalId}/member`;
  },
} as const satisfies Record<PlatformTopic, (mall: string, portalId: string) => string>;

/** Subscription filters for consumers (ingest): every portal of every mall. */
export const platformTopicFilters = {
  portalLogin: `${topicRoot}/+/_portal/+/login`,
  portalMember: `${topicRoot}/+/_portal/+/member`,
} as const satisfies Record<PlatformTopic, string>;

/** Parses `plaza/v1/<mall>/_portal/<portal-id>/<login|member>`; null for anything else. */
export function parsePortalTopic(topic: string): { mall: string; portalId: string; kind: PlatformTopic } | null {
  const parts = topic.split('/');
  if (parts.length !== 6 || parts[0] !== 'plaza' || parts[1] !== 'v1' || parts[3] !== '_portal') return null;
  const [, , mall, , portalId, leaf] = parts as [string, string, string, string, string, string];
  if (!isId(mall) || !isId(portalId)) return null;
  if (leaf === 'login') return { mall, portalId, kind: 'portalLogin' };
  if (leaf === 'member') return { mall, portalId, kind: 'portalMember' };
  return null;
}
