import { describe, expect, it } from 'vitest';
import { bootIdSchema, idSchema } from '../../protocol/ids.ts';
import { channels, deviceTopic, parseDeviceTopic, topicFilters } from '../../protocol/topics.ts';

describe('device topics', () => {
  it('builds and parses plaza/v1/<mall>/<store>/<device>/<channel>', () => {
    const address = { mall: 'mall-1', store: 'store-7', device: 'door-3f2a' };
    for (const channel of channels) {
      const topic = deviceTopic(address, channel);
      expect(topic).toBe(`plaza/v1/mall-1/store-7/door-3f2a/${channel}`);
      expect(parseDeviceTopic(topic)).toEqual({ ...address, channel });
    }
  });

  it.each([
    'plaza/v1/mall-1/store-7/door-3f2a',
    'plaza/v1/mall-1/store-7/door-3f2a/door/x',
    'plaza/v2/mall-1/store-7/door-3f2a/door',
    'plaza/v1/Mall-1/store-7/door-3f2a/door',
    'plaza/v1/mall_1/store-7/door-3f2a/door',
    'plaza/v1//store-7/door-3f2a/door',
    'plaza/v1/mall-1/store-7/door-3f2a/alarm',
    'plaza/v1/mall-1/store-7/door-3f2a/constructor',
    `plaza/v1/${'a'.repeat(65)}/store-7/door-3f2a/door`,
    '/plaza/v1/mall-1/store-7/door-3f2a/door',
  ])('rejects %s', (topic) => {
    expect(parseDeviceTopic(topic)).toBeNull();
  });

  it('refuses to build a topic from an invalid id', () => {
    expect(() => deviceTopic({ mall: 'mall-1', store: 'a/b', device: 'd' }, 'door')).toThrow(/invalid id/);
    expect(() => deviceTopic({ mall: '+', store: 's', device: 'd' }, 'door')).toThrow(/invalid id/);
    expect(() => topicFilters.mall('#')).toThrow(/invalid mall id/);
  });

  it('builds subscription filters for platform components', () => {
    expect(topicFilters.all).toBe('plaza/v1/+/+/+/+');
    expect(topicFilters.mall('mall-1')).toBe('plaza/v1/mall-1/+/+/+');
    expect(topicFilters.channelOfMall('+', 'probe')).toBe('plaza/v1/+/+/+/probe');
  });
});

describe('ids', () => {
  it('accepts lowercase [a-z0-9-] of 1 to 64 characters only', () => {
    expect(idSchema.safeParse('a').success).toBe(true);
    expect(idSchema.safeParse('a'.repeat(64)).success).toBe(true);
    for (const bad of ['', 'a'.repeat(65), 'A', 'a_b', 'a.b', 'a b', 'é']) expect(idSchema.safeParse(bad).success, bad).toBe(false);
  });

  it('accepts printable boot ids up to 64 characters', () => {
    expect(bootIdSchema.safeParse('2026-01-01T00:00:00Z.42').success).toBe(true);
    expect(bootIdSchema.safeParse('x'.repeat(65)).success).toBe(false);
    expect(bootIdSchema.safeParse('a\nb').success).toBe(false);
  });
});
