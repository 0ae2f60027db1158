import { describe, expect, it } from 'vitest';
import { authorizeClientId, authorizePublish, authorizeSubscribe, topicMatches } from '../../broker/acl.ts';
import type { Principal } from '../../broker/registry.ts';

const door: Principal = { type: 'device', id: 'door-a', mall: 'm1', store: 's1', kind: 'door', secretHash: 'h' };
const probe: Principal = { type: 'device', id: 'probe-a', mall: 'm1', store: 's1', kind: 'probe', secretHash: 'h' };
const ingest: Principal = { type: 'service', role: 'ingest', username: 'svc-ingest', secretHash: 'h' };
const sim: Principal = { type: 'service', role: 'sim', username: 'svc-sim', secretHash: 'h' };

describe('topicMatches', () => {
  it.each([
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/#', 'a', true], // [MQTT-4.7.1-2] '#' also matches the parent level
    ['a/#', 'a/b/c', true],
    ['a/+', 'a/b/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
  ])('%s vs %s → %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe('authorizePublish', () => {
  it('lets a door device publish its door and status channels', () => {
    expect(authorizePublish(door, 'plaza/v1/m1/s1/door-a/door').allow).toBe(true);
    expect(authorizePublish(door, 'plaza/v1/m1/s1/door-a/status').allow).toBe(true);
  });

  it.each([
    ['plaza/v1/m1/s1/door-a/probe', 'a door device may not publish on probe'],
    ['plaza/v1/m1/s1/door-a/config', 'a door device may not publish on config'],
    ['plaza/v1/m1/s1/door-b/door', 'topic of another device'],
    ['plaza/v1/m1/s2/door-a/door', 'topic of another device'],
    ['plaza/v1/m2/s1/door-a/door', 'topic of another device'],
    ['plaza/v1/m1/s1/door-a/door/extra', 'topic outside the plaza/v1 scheme'],
    ['plaza/v1/m1/s1/Door-A/door', 'topic outside the plaza/v1 scheme'],
    ['plaza/v1/m1/s1/door-a/+', 'wildcard in publish topic'],
    ['plaza/v1/m1/#', 'wildcard in publish topic'],
    ['$SYS/x', 'publishing to $ topics is reserved to the broker'],
    ['', 'empty topic'],
  ])('refuses %s for a door device', (topic, reason) => {
    expect(authorizePublish(door, topic)).toEqual({ allow: false, reason });
  });

  it('lets a probe publish probe but not door', () => {
    expect(authorizePublish(probe, 'plaza/v1/m1/s1/probe-a/probe').allow).toBe(true);
    expect(authorizePublish(probe, 'plaza/v1/m1/s1/probe-a/door').allow).toBe(false);
  });

  it('gives services their own publish rights only', () => {
    expect(authorizePublish(ingest, 'plaza/v1/m1/s1/door-a/config').allow).toBe(true);
    expect(authorizePublish(ingest, 'plaza/v1/m1/s1/door-a/door').allow).toBe(false);
    expect(authorizePublish(sim, 'plaza/v1/m1/s1/door-a/config').allow).toBe(false);
  });
});

describe('authorizeSubscribe', () => {
  it('allows a device only its own config topic, without wildcards', () => {
    expect(authorizeSubscribe(door, 'plaza/v1/m1/s1/door-a/config').allow).toBe(true);
    for (const filter of ['plaza/v1/m1/s1/door-b/config', 'plaza/v1/m1/s1/door-a/door', 'plaza/v1/m1/s1/door-a/+', 'plaza/v1/m1/s1/+/config', '#', '+/x', '$SYS/#', '']) {
      expect(authorizeSubscribe(door, filter).allow, filter).toBe(false);
    }
  });

  it('lets services subscribe under plaza/v1/ but not to $SYS or the root', () => {
    expect(authorizeSubscribe(ingest, 'plaza/v1/#').allow).toBe(true);
    expect(authorizeSubscribe(ingest, '$SYS/#').allow).toBe(false);
    expect(authorizeSubscribe(ingest, '#').allow).toBe(false);
    expect(authorizeSubscribe(ingest, 'other/#').allow).toBe(false);
  });
});

describe('authorizeClientId', () => {
  it('requires a device client id to equal its id', () => {
    expect(authorizeClientId(door, 'door-a').allow).toBe(true);
    expect(authorizeClientId(door, 'door-b').allow).toBe(false);
    expect(authorizeClientId(door, 'door-a-1').allow).toBe(false);
  });

  it('requires a service client id to be its username or start with it and a dash', () => {
    expect(authorizeClientId(ingest, 'svc-ingest').allow).toBe(true);
    expect(authorizeClientId(ingest, 'svc-ingest-2').allow).toBe(true);
    expect(authorizeClientId(ingest, 'svc-ingestx').allow).toBe(false);
    expect(authorizeClientId(ingest, 'door-a').allow).toBe(false);
  });
});
