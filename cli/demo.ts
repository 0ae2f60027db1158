import { createHmac, randomUUID } from 'node:crypto';
import mqtt, { type MqttClient } from 'mqtt';
import type { DeviceRegistry } from '../broker/registry.ts';
import type { Component } from '../core/component.ts';
import type { Logger } from '../core/logger.ts';
import { loadMallConfig, type MallConfig } from '../firmware-sim/mall-config.ts';
import { Simulator } from '../firmware-sim/simulator.ts';
import type { PortalLoginEvent as SimLogin } from '../firmware-sim/world.ts';
import { DayKeys, deriveLinkKey, linkHash, localDate, pseudonymise } from '../ingest/pseudonym.ts';
import { type PortalLoginEvent, portalLoginEventSchema } from '../protocol/payloads/portal-login.ts';
import { platformTopics } from '../protocol/platform.ts';

/** The demo mall `npm start` simulates. */
export const demoMallFile = new URL('../firmware-sim/malls/demo.yaml', import.meta.url).pathname;

export function loadDemoMall(): MallConfig {
  return loadMallConfig(demoMallFile);
}

/** Platform settings that match the simulated mall: time zone, store names and capacities, portal branding. */
export function demoConfigOverrides(mall: MallConfig): Record<string, unknown> {
  return {
    malls: {
      [mall.mall]: {
        ...(mall.name === undefined ? {} : { name: mall.name }),
        timeZone: mall.timeZone,
        stores: Object.fromEntries(mall.stores.map((s) => [s.id, { ...(s.name === undefined ? {} : { name: s.name }), capacity: s.capacity }])),
      },
    },
    portal: { malls: { [mall.mall]: { ...(mall.name === undefined ? {} : { displayName: mall.name }) } } },
  };
}

/**
 * The simulated mall for the demo, in real time, plus its shoppers' portal logins published as the portal
 * would publish them (pseudonymised here; the raw MAC never leaves this process).
 */
export function demoSimulator(deps: {
  mall: MallConfig;
  brokerUrl: string;
  portalMqtt: { url: string; username: string; password: string };
  hashSecret: string;
  registry: DeviceRegistry;
  logger: Logger;
}): Component {
  let client: MqttClient | undefined;
  const keys = new DayKeys(deps.hashSecret);
  const linkKey = deriveLinkKey(deps.hashSecret);
  const toEvent = (login: SimLogin): PortalLoginEvent => {
    const date = localDate(login.tsMs, deps.mall.timeZone);
    const device = pseudonymise(keys.keyFor(login.mall, date), login.mac);
    // Demo members give analytics consent; their member reference is derived from the phone, as a stand-in id.
    const memberRef = createHmac('sha256', linkKey).update(`demo-member\0${login.mac}`).digest().subarray(0, 16).toString('base64url');
    return portalLoginEventSchema.parse({
      v: 1,
      eventId: randomUUID(),
      ts: login.tsMs,
      mall: login.mall,
      ...(login.store === null ? {} : { store: login.store }),
      gateway: 'plain',
      method: login.member ? 'member' : 'guest',
      member: login.member,
      device,
      macTrusted: true,
      consents: { termsVersion: 'demo', analytics: login.member, marketing: false },
      ...(login.member ? { link: { linkHash: linkHash(linkKey, login.mac), memberRef } } : {}),
    });
  };
  const simulator = new Simulator(
    {
      mall: deps.mall,
      seed: Date.now() % 1_000_000,
      pace: { realtime: true },
      brokerUrl: deps.brokerUrl,
      onPortalLogin: (login) => {
        const event = toEvent(login);
        client?.publish(platformTopics.portalLogin(event.mall, 'demo-sim'), JSON.stringify(event), { qos: 1 }, (error) => {
          if (error) deps.logger.warn({ err: error.message }, 'demo portal login not published');
        });
      },
    },
    deps.registry,
    deps.logger,
  );
  return {
    name: 'demo-simulator',
    start: async () => {
      client = mqtt.connect(deps.portalMqtt.url, { clientId: `${deps.portalMqtt.username}-demo`, username: deps.portalMqtt.username, password: deps.portalMqtt.password, reconnectPeriod: 1000 });
      client.on('error', (error) => deps.logger.warn({ err: error.message }, 'demo portal publisher error'));
      await simulator.start();
    },
    stop: async () => {
      await simulator.stop();
      await client?.endAsync();
    },
  };
}
