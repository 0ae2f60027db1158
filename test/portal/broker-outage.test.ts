import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { EventPublisher } from '../../portal/events/publisher.ts';
import { PortalServer } from '../../portal/server.ts';
import { ConsoleCodeSender } from '../../portal/otp/senders.ts';
import { platformTopicFilters } from '../../protocol/platform.ts';
import { type PortalLoginEvent, portalLoginEventSchema } from '../../protocol/payloads/portal-login.ts';
import { addService, connectClient, startTestBroker, type TestBroker } from '../support/broker.ts';
import { freePort } from '../support/ports.ts';
import { tempDir } from '../support/tmp.ts';
import { captureLogger } from './gateways/helpers.ts';
import { field, testHashSecret, testSecret } from './support.ts';

// Login events while the broker is down: shoppers still get online, events wait in the portal's bounded queue
// and reach a broker that comes back on the same address, each once.

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function waitFor(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** An ingest-like subscriber on the login topic, collecting every delivery (redeliveries included). */
async function subscribe(broker: TestBroker, account: { username: string; password: string }, into: unknown[]): Promise<MqttClient> {
  const client = await connectClient(broker.url, { username: account.username, password: account.password, clientId: `${account.username}-${into.length}-${Date.now()}` });
  await client.subscribeAsync(platformTopicFilters.portalLogin, { qos: 1 });
  client.on('message', (_topic, payload) => into.push(JSON.parse(payload.toString('utf8'))));
  return client;
}

/**
 * The publisher retries a refused connection every reconnect period and logs each refusal. Starting the broker
 * right after one refusal leaves the test a whole period to subscribe before the publisher's next attempt.
 */
async function afterNextRefusal(text: () => string): Promise<void> {
  const count = (): number => text().split('event publisher connection problem').length;
  const before = count();
  await waitFor('a refused reconnect', () => count() > before);
}

/** A guest login over real HTTP, as a phone's mini-browser does it (plain gateway). Returns the success page. */
async function guestLogin(port: number, mac: string): Promise<string> {
  const base = `http://127.0.0.1:${port}`;
  const arrival = await fetch(`${base}/m/mall-1/?${new URLSearchParams({ mac, ap: 'ap-1' }).toString()}`, { redirect: 'manual' });
  expect(arrival.status).toBe(303);
  const start = new URL(arrival.headers.get('location') ?? '', base);
  const guest = await (await fetch(`${base}/guest?t=${encodeURIComponent(start.searchParams.get('t') ?? '')}&lang=en`)).text();
  const posted = await fetch(`${base}/guest`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ t: field(guest, 't'), csrf: field(guest, 'csrf'), lang: 'en', terms: 'yes' }).toString(),
  });
  expect(posted.status).toBe(303);
  return (await fetch(new URL(posted.headers.get('location') ?? '', base))).text();
}

describe('login events during a broker outage', () => {
  it('queues events while the broker is down and delivers each exactly once when it is back on the same port', async () => {
    const brokerDir = tempDir('plaza-broker-outage');
    let broker = await startTestBroker({ dataDir: brokerDir });
    cleanups.push(async () => broker.stop());
    const port = broker.port;
    // Persistent service accounts, so the restarted broker (same registry file) accepts the same credentials.
    const portalAccount = await addService(broker.registry, 'portal', 'outage');
    const ingestAccount = await addService(broker.registry, 'ingest', 'outage');
    const received: unknown[] = [];
    let subscriber = await subscribe(broker, ingestAccount, received);
    cleanups.push(async () => subscriber.endAsync(true));

    const logs = captureLogger();
    const config = configSchema.parse({
      dataDir: tempDir('plaza-portal-outage'),
      portal: { port: 0, host: '127.0.0.1', secret: testSecret, malls: { 'mall-1': { displayName: 'Plaza One', apStores: { 'ap-1': 'store-1' }, gateway: { kind: 'plain', trustClaimedMac: true } } } },
      malls: { 'mall-1': { timeZone: 'Asia/Shanghai' } },
    });
    const portal = new PortalServer({ config, secret: testSecret, hashSecret: testHashSecret, mqtt: { url: broker.url, ...portalAccount }, logger: logs.logger, sender: new ConsoleCodeSender(() => undefined) });
    await portal.start();
    cleanups.push(async () => portal.stop());
    await waitFor('the portal publisher to connect', () => logs.text().includes('event publisher connected'));

    expect(await guestLogin(portal.port, 'aa:bb:cc:00:00:01')).toContain('You are online');
    await waitFor('the first event', () => received.length === 1);

    await subscriber.endAsync(true);
    await broker.stop();
    await waitFor('the publisher to notice', () => logs.text().includes('event publisher offline'));
    const macs = ['aa:bb:cc:00:00:02', 'aa:bb:cc:00:00:03', 'aa:bb:cc:00:00:04'];
    for (const mac of macs) expect(await guestLogin(portal.port, mac)).toContain('You are online');
    expect(received).toHaveLength(1);

    await afterNextRefusal(logs.text);
    broker = await startTestBroker({ dataDir: brokerDir, port });
    subscriber = await subscribe(broker, ingestAccount, received);
    await waitFor('the queued events', () => received.length >= 4);
    // A login after the queue drained is a barrier: QoS 1 from one client keeps order, so any duplicate of a
    // queued event would have arrived before it.
    expect(await guestLogin(portal.port, 'aa:bb:cc:00:00:05')).toContain('You are online');
    await waitFor('the barrier event', () => received.length >= 5);

    const events: PortalLoginEvent[] = received.map((event) => portalLoginEventSchema.parse(event));
    expect(events).toHaveLength(5);
    expect(new Set(events.map((event) => event.eventId)).size).toBe(5);
    expect(new Set(events.map((event) => event.device)).size).toBe(5);
    expect(events.every((event) => event.method === 'guest' && event.mall === 'mall-1' && event.macTrusted)).toBe(true);
    const wire = JSON.stringify(received);
    for (const mac of [...macs, 'aa:bb:cc:00:00:05']) {
      expect(wire).not.toContain(mac);
      expect(logs.text()).not.toContain(mac);
    }
  });

  it('keeps at most maxQueued events while the broker is unreachable, dropping the oldest and saying so', async () => {
    const port = await freePort();
    const brokerDir = tempDir('plaza-broker-bounded');
    const logs = captureLogger();
    // Credentials are registered once the broker runs; the registry file is prepared first.
    const setup = await startTestBroker({ dataDir: brokerDir });
    const portalAccount = await addService(setup.registry, 'portal', 'bounded');
    const ingestAccount = await addService(setup.registry, 'ingest', 'bounded');
    await setup.stop();

    const publisher = new EventPublisher({ url: `mqtt://127.0.0.1:${port}`, ...portalAccount }, logs.logger, { maxQueued: 2, reconnectPeriodMs: 1500 });
    await publisher.start();
    cleanups.push(async () => publisher.stop());
    for (let n = 1; n <= 5; n += 1) publisher.publish('plaza/v1/mall-1/_portal/main/login', { n });
    expect(publisher.queued).toBe(2);
    expect(logs.text()).toContain('event queue full; oldest events dropped');

    await afterNextRefusal(logs.text);
    const broker = await startTestBroker({ dataDir: brokerDir, port });
    cleanups.push(async () => broker.stop());
    const received: unknown[] = [];
    const subscriber = await subscribe(broker, ingestAccount, received);
    cleanups.push(async () => subscriber.endAsync(true));
    await waitFor('the queued events', () => received.length >= 2);
    await waitFor('the queue to drain', () => publisher.queued === 0);
    publisher.publish('plaza/v1/mall-1/_portal/main/login', { n: 6 });
    await waitFor('the barrier event', () => received.length >= 3);
    expect(received).toEqual([{ n: 4 }, { n: 5 }, { n: 6 }]);
  });
});
