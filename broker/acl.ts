import { parseDeviceTopic, readingChannelOf, topicRoot } from '../protocol/topics.ts';
import type { Principal, ServiceRole } from './registry.ts';

export type Decision = { allow: true } | { allow: false; reason: string };

const allow: Decision = { allow: true };
const deny = (reason: string): Decision => ({ allow: false, reason });

/** Topics each service role may publish to, as MQTT filters. Devices are handled by their own rule. */
const servicePublish: Record<ServiceRole, readonly string[]> = {
  // Ingest pushes device config and platform events (alerts).
  ingest: [`${topicRoot}/+/+/+/config`, `${topicRoot}/+/_platform/#`],
  portal: [`${topicRoot}/+/_portal/#`],
  // The simulator publishes through per-device credentials; its service account only reads.
  sim: [],
  ops: [`${topicRoot}/+/+/+/config`, `${topicRoot}/+/_platform/#`],
  // A point-of-sale bridge publishes transaction counts only.
  pos: [`${topicRoot}/+/_pos/+/sales`],
};

function hasWildcard(topic: string): boolean {
  return topic.includes('+') || topic.includes('#');
}

/** MQTT topic matching of a concrete topic against a filter ([MQTT-4.7]). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i += 1) {
    const level = f[i];
    if (level === '#') return true;
    if (i >= t.length) return false;
    if (level !== '+' && level !== t[i]) return false;
  }
  return f.length === t.length;
}

export function authorizePublish(principal: Principal, topic: string): Decision {
  if (topic.length === 0) return deny('empty topic');
  if (hasWildcard(topic)) return deny('wildcard in publish topic'); // [MQTT-3.3.2-2]
  if (topic.startsWith('$')) return deny('publishing to $ topics is reserved to the broker');
  if (principal.type === 'service') {
    return servicePublish[principal.role].some((filter) => topicMatches(filter, topic)) ? allow : deny(`role ${principal.role} may not publish to this topic`);
  }
  const parsed = parseDeviceTopic(topic);
  if (parsed === null) return deny('topic outside the plaza/v1 scheme');
  if (parsed.mall !== principal.mall || parsed.store !== principal.store || parsed.device !== principal.id) {
    return deny('topic of another device');
  }
  if (parsed.channel !== 'status' && parsed.channel !== readingChannelOf[principal.kind]) {
    return deny(`a ${principal.kind} device may not publish on ${parsed.channel}`);
  }
  return allow;
}

export function authorizeSubscribe(principal: Principal, filter: string): Decision {
  if (filter.length === 0) return deny('empty filter');
  if (filter.startsWith('$') || filter === '#' || filter.startsWith('+')) return deny('$SYS and root wildcards are not available');
  if (principal.type === 'service') {
    return filter.startsWith(`${topicRoot}/`) ? allow : deny('services subscribe only under plaza/v1/');
  }
  if (hasWildcard(filter)) return deny('devices may not subscribe with wildcards');
  const parsed = parseDeviceTopic(filter);
  if (parsed === null || parsed.channel !== 'config' || parsed.device !== principal.id || parsed.mall !== principal.mall || parsed.store !== principal.store) {
    return deny('devices subscribe only to their own config topic');
  }
  return allow;
}

/** Devices must use their id as client id, so one device cannot take over another's session. */
export function authorizeClientId(principal: Principal, clientId: string): Decision {
  if (principal.type === 'device') return clientId === principal.id ? allow : deny('client id must equal the device id');
  return clientId === principal.username || clientId.startsWith(`${principal.username}-`) ? allow : deny('client id must start with the service username');
}
