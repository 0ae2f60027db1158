import { describe, expect, it } from 'vitest';
import { protocolLimits } from '../../protocol/limits.ts';
import { isRandomizedMac } from '../../protocol/mac.ts';
import type { DoorPayload } from '../../protocol/payloads/door.ts';
import { type Channel, encodePayload, parsePayload } from '../../protocol/topics.ts';

const ts = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const mac = 'a4:5e:60:d1:22:9b';
const macPattern = /[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}/i;

/** The examples in docs/protocol.md, verbatim in meaning. */
const doorExample: DoorPayload = { v: 1, boot: '7f3a9c01', seq: 42, ts, in: 118, out: 97 };
const sightingExample = { mac, rssi: -61, ts: ts - 4200, fp: '9c1d2e7a5b3f4a60', sn: 1877 };
const examples = {
  door: doorExample,
  probe: {
    v: 1,
    boot: '7f3a9c01',
    seq: 1043,
    ts,
    obs: [
      sightingExample,
      { mac: 'DA:A1:19:00:7B:0C', rssi: -78, ts: ts - 1900, assoc: false },
    ],
  },
  heartbeat: { v: 1, online: true, boot: '7f3a9c01', ts, fw: 'door-2.4.1', uptimeS: 86_400, dropped: 0, rssiDbm: -58 },
  offline: { online: false },
  offlineFromBroker: { v: 1, online: false, ts },
  config: { v: 1, reportIntervalS: 60, rssiFloorDbm: -90, heartbeatIntervalS: 60 },
};

function expectValid(channel: Channel, value: unknown): void {
  const result = parsePayload(channel, JSON.stringify(value));
  expect(result, JSON.stringify(result)).toMatchObject({ ok: true });
}

function reasonFor(channel: Channel, value: unknown): string {
  const result = parsePayload(channel, typeof value === 'string' ? value : JSON.stringify(value));
  if (result.ok) throw new Error(`accepted: ${JSON.stringify(value).slice(0, 200)}`);
  return result.reason;
}

describe('documented examples', () => {
  it('accepts each one', () => {
    expectValid('door', examples.door);
    expectValid('probe', examples.probe);
    expectValid('status', examples.heartbeat);
    expectValid('status', examples.offline);
    expectValid('status', examples.offlineFromBroker);
    expectValid('config', examples.config);
    expectValid('config', { v: 1, reportIntervalS: 300 });
  });

  it('normalises MACs to lowercase and keeps optional fields', () => {
    const result = parsePayload('probe', JSON.stringify(examples.probe));
    if (!result.ok) throw new Error(result.reason);
    expect(result.value.obs.map((o) => o.mac)).toEqual([mac, 'da:a1:19:00:7b:0c']);
    expect(result.value.obs[0]).toMatchObject({ fp: '9c1d2e7a5b3f4a60', sn: 1877 });
    expect(isRandomizedMac('da:a1:19:00:7b:0c')).toBe(true);
    expect(isRandomizedMac(mac)).toBe(false);
  });

  it('round-trips through encodePayload', () => {
    expect(JSON.parse(encodePayload('door', examples.door).toString('utf8'))).toEqual(examples.door);
    expect(() => encodePayload('door', { ...examples.door, in: -1 })).toThrow();
  });
});

describe('malformed payloads', () => {
  const { door, probe, heartbeat, config } = examples;
  const sighting = sightingExample;
  const without = <T extends object>(value: T, key: keyof T): Partial<T> => {
    const copy = { ...value };
    delete copy[key];
    return copy;
  };

  it.each([
    ['missing in', 'door', without(door, 'in'), /^in: /],
    ['missing boot', 'door', without(door, 'boot'), /^boot: /],
    ['missing seq', 'door', without(door, 'seq'), /^seq: /],
    ['extra field', 'door', { ...door, debug: true }, /unexpected field/],
    ['string count', 'door', { ...door, in: '118' }, /^in: .*expected number/],
    ['negative count', 'door', { ...door, out: -1 }, /^out: /],
    ['fractional count', 'door', { ...door, in: 1.5 }, /^in: /],
    ['count above uint32', 'door', { ...door, in: protocolLimits.counterMax + 1 }, /^in: /],
    ['wrong version', 'door', { ...door, v: 2 }, /^v: /],
    ['seconds instead of ms', 'door', { ...door, ts: 1_767_225_600 }, /^ts: /],
    ['null ts', 'door', { ...door, ts: null }, /^ts: /],
    ['empty boot', 'door', { ...door, boot: '' }, /^boot: /],
    ['boot with spaces', 'door', { ...door, boot: 'a b' }, /^boot: /],
    ['array root', 'door', [door], /expected object/],
    ['RSSI above 0', 'probe', { ...probe, obs: [{ ...sighting, rssi: 3 }] }, /^obs\.0\.rssi: /],
    ['RSSI below -120', 'probe', { ...probe, obs: [{ ...sighting, rssi: -121 }] }, /^obs\.0\.rssi: /],
    ['RSSI as string', 'probe', { ...probe, obs: [{ ...sighting, rssi: '-60' }] }, /^obs\.0\.rssi: /],
    ['bad MAC', 'probe', { ...probe, obs: [{ ...sighting, mac: 'a4:5e:60:d1:22' }] }, /^obs\.0\.mac: /],
    ['dash MAC', 'probe', { ...probe, obs: [{ ...sighting, mac: 'a4-5e-60-d1-22-9b' }] }, /^obs\.0\.mac: /],
    ['sighting without ts', 'probe', { ...probe, obs: [without(sighting, 'ts')] }, /^obs\.0\.ts: /],
    ['sighting extra field', 'probe', { ...probe, obs: [{ ...sighting, ssid: 'home' }] }, /^obs\.0: .*unexpected field/],
    ['uppercase fingerprint', 'probe', { ...probe, obs: [{ ...sighting, fp: 'ABCD' }] }, /^obs\.0\.fp: /],
    ['802.11 sn above 12 bits', 'probe', { ...probe, obs: [{ ...sighting, sn: 4096 }] }, /^obs\.0\.sn: /],
    ['obs not an array', 'probe', { ...probe, obs: sighting }, /^obs: /],
    ['heartbeat without fw', 'status', without(heartbeat, 'fw'), /^fw: /],
    ['online as string', 'status', { ...heartbeat, online: 'true' }, /^online: /],
    ['offline with extra field', 'status', { online: false, reason: 'x' }, /unexpected field/],
    ['report interval 0', 'config', { ...config, reportIntervalS: 0 }, /^reportIntervalS: /],
    ['report interval too long', 'config', { ...config, reportIntervalS: 3601 }, /^reportIntervalS: /],
  ] as const)('rejects %s', (_name, channel, value, pattern) => {
    expect(reasonFor(channel, value)).toMatch(pattern);
  });

  it(`rejects a batch of more than ${protocolLimits.probeBatchMax} sightings`, () => {
    const obs = Array.from({ length: protocolLimits.probeBatchMax + 1 }, () => sighting);
    expect(reasonFor('probe', { ...probe, obs })).toMatch(/^obs: /);
    expectValid('probe', { ...probe, obs: obs.slice(1) });
  });

  it('rejects non-JSON, NaN and Infinity', () => {
    expect(reasonFor('door', 'not json')).toBe('not JSON');
    expect(reasonFor('door', '{"v":1,"boot":"b","seq":1,"ts":1767225600000,"in":NaN,"out":0}')).toBe('not JSON');
    expect(reasonFor('door', '')).toBe('not JSON');
    expect(reasonFor('door', Buffer.from([0xff, 0xfe, 0x00]).toString('latin1'))).toBe('not JSON');
    expect(reasonFor('door', { ...door, in: 1e400 })).toMatch(/^in: /); // JSON.stringify turns Infinity into null
  });

  it('rejects deep nesting without throwing', () => {
    const depth = 100_000; // 200 KB of brackets: inside the packet limit
    expect(reasonFor('door', `${'['.repeat(depth)}${']'.repeat(depth)}`)).toMatch(/expected object/);
    const objects = 40_000;
    expect(reasonFor('door', `{"v":${'{"a":'.repeat(objects)}1${'}'.repeat(objects)}}`)).toMatch(/^v: /);
    expect(reasonFor('probe', { ...probe, obs: [{ ...sighting, mac: { mac: { mac } } }] })).toMatch(/^obs\.0\.mac: /);
  });

  it('rejects a payload above the packet limit before parsing it', () => {
    const big = `{"pad":"${'x'.repeat(protocolLimits.maxPacketBytes)}"}`;
    expect(reasonFor('door', big)).toMatch(/payload too large/);
  });

  it('never echoes a MAC in the reason, wherever the MAC was put', () => {
    const upper = mac.toUpperCase();
    const hostile: Array<[Channel, unknown]> = [
      ['probe', { ...probe, [mac]: 1 }],
      ['probe', { ...probe, obs: [{ ...sighting, [upper]: -60 }] }],
      ['probe', { ...probe, obs: [{ ...sighting, rssi: mac }] }],
      ['probe', { ...probe, obs: [{ ...sighting, mac: `${mac}:00` }] }],
      ['probe', { ...probe, obs: [{ ...sighting, fp: mac }] }],
      ['probe', { ...probe, boot: `${mac} x` }],
      ['door', { ...door, v: mac }],
      ['status', { online: mac }],
      ['status', { online: false, [mac.replaceAll(':', '')]: 1 }],
    ];
    for (const [channel, value] of hostile) {
      const reason = reasonFor(channel, value);
      expect(reason, reason).not.toMatch(macPattern);
    }
  });
});
