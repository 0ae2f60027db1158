import type { MqttClient } from 'mqtt';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { PortalServer } from '../../portal/server.ts';
import { ConsoleCodeSender } from '../../portal/otp/senders.ts';
import { type PortalLoginEvent, portalLoginEventSchema } from '../../protocol/payloads/portal-login.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { captureLogger } from './gateways/helpers.ts';
import { expectedRhid, gatewayHashOf, type OpenndsClient, openndsArrivalQuery } from './opennds-redirect.ts';
import { listenForLogins, testHashSecret, testSecret } from './support.ts';
import { launchChromium } from '../support/chromium.ts';

// openNDS level 3 end to end: the gateway's encrypted redirect, real Chromium, authmon polling, real broker.
const faskey = 'PlazaOneFasKey2026';
const gatewayName = 'Plaza One Gate';
const gatewayMac = '02:00:5e:10:00:01';
const level2Faskey = 'PlazaTwoLevel2Key';

let broker: TestBroker;
let portal: PortalServer;
let subscriber: MqttClient;
const sender = new ConsoleCodeSender(() => undefined);
let received: unknown[] = [];
const logs = captureLogger();

beforeAll(async () => {
  broker = await startTestBroker();
  const portalAccount = await broker.registry.addEphemeralService('portal');
  ({ client: subscriber, received } = await listenForLogins(broker));
  const config = configSchema.parse({
    dataDir: tempDir('plaza-portal-opennds'),
    portal: {
      port: 0,
      host: '127.0.0.1',
      secret: testSecret,
      malls: {
        'mall-1': { displayName: 'Plaza One', apStores: { [gatewayMac]: 'store-1' }, gateway: { kind: 'opennds', fasLevel: 3, faskey, gatewayNames: [gatewayName], pollAfterMs: 500 } },
        'mall-2': { displayName: 'Plaza Two', gateway: { kind: 'opennds', fasLevel: 2, faskey: level2Faskey } },
      },
    },
    malls: { 'mall-1': { timeZone: 'Asia/Shanghai' }, 'mall-2': { timeZone: 'Asia/Shanghai' } },
  });
  portal = new PortalServer({ config, secret: testSecret, hashSecret: testHashSecret, mqtt: { url: broker.url, ...portalAccount }, logger: logs.logger, sender });
  await portal.start();
});

afterAll(async () => {
  await portal?.stop();
  await subscriber?.endAsync();
  await broker?.stop();
});

function client(n: number): OpenndsClient {
  return {
    token: `opennds-client-token-${n}`,
    clientIp: `192.168.8.${10 + n}`,
    clientMac: `aa:bb:cc:dd:ee:${(0x20 + n).toString(16)}`,
    gatewayName,
    gatewayAddress: '192.168.8.1:2050',
    gatewayMac,
    originUrl: 'http://example.com/news',
  };
}

async function withBrowser(javaScriptEnabled: boolean, run: (context: BrowserContext) => Promise<void>): Promise<void> {
  const context = await launchChromium({ javaScriptEnabled });
  try {
    await run(context);
  } finally {
    await context.close();
  }
}

/** One authmon poll, as authmon.sh sends it (urlencoded POST to the FAS URL). */
async function authmon(fields: Record<string, string>): Promise<{ status: number; text: string }> {
  const response = await fetch(`http://127.0.0.1:${portal.port}/gw/mall-1/`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'user-agent': 'openNDS(authmon;NDS:10.2.0;)' },
    body: new URLSearchParams(fields).toString(),
  });
  return { status: response.status, text: await response.text() };
}

/** authmon's `view` with payload "none", then `view` acknowledging what it authorised. Returns the rhids listed. */
async function authmonGrantsAndAcks(): Promise<string[]> {
  const gatewayhash = gatewayHashOf(gatewayName);
  const list = await authmon({ auth_get: 'view', gatewayhash, payload: Buffer.from('none').toString('base64') });
  expect(list.status).toBe(200);
  expect(list.text.startsWith('*')).toBe(true);
  const rhids = list.text
    .split(' ')
    .slice(1)
    .map((line) => decodeURIComponent(line).split(' ')[0] ?? '');
  const ack = await authmon({ auth_get: 'view', gatewayhash, payload: Buffer.from(rhids.map((r) => `*${r}`).join(' ')).toString('base64') });
  expect(ack).toEqual({ status: 200, text: 'ack' });
  return rhids;
}

async function waitForEvents(count: number): Promise<PortalLoginEvent[]> {
  const deadline = Date.now() + 10_000;
  while (received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return received.map((event) => portalLoginEventSchema.parse(event));
}

async function arrive(page: Page, n: number): Promise<void> {
  const query = new URLSearchParams(openndsArrivalQuery(client(n), faskey)).toString();
  await page.goto(`http://127.0.0.1:${portal.port}/m/mall-1/?${query}`);
  expect(await page.locator('h1').textContent()).toBe('Free Wi-Fi at Plaza One');
}

describe('openNDS level 3 in headless Chromium', () => {
  it('signs a member up; the grant waits for authmon, the page moves on after the ack, the event links the trusted device', async () => {
    await withBrowser(true, async (context) => {
      const page = await context.newPage();
      await arrive(page, 1);
      await page.getByRole('link', { name: 'Become a member' }).click();
      await page.getByLabel('Mobile phone').fill('13900139000');
      await page.getByRole('button', { name: 'Send me a code' }).click();
      await page.getByLabel('6-digit code').fill(sender.latestCodeFor('+8613900139000') ?? 'none');
      await page.getByLabel('I accept the terms of use (required for Wi-Fi).').check();
      await page.getByLabel('Link my visits to my membership (optional).').check();
      await page.getByRole('button', { name: 'Join and connect' }).click();
      // Not online until the gateway has picked the grant up.
      expect(await page.locator('h1').textContent()).toBe('Connecting…');
      await page.waitForTimeout(1500);
      expect(await page.locator('h1').textContent()).toBe('Connecting…');
      expect(await authmonGrantsAndAcks()).toEqual([expectedRhid(client(1).token, faskey)]);
      await page.locator('h1', { hasText: 'You are online' }).waitFor({ timeout: 8000 });
      expect(await page.locator('main').textContent()).toMatch(/Your member number is \d{9}/);
    });
    const [event] = await waitForEvents(1);
    expect(event).toMatchObject({ mall: 'mall-1', gateway: 'opennds', ap: gatewayMac, store: 'store-1', method: 'signup', member: true, macTrusted: true, consents: { analytics: true, marketing: false } });
    expect(event?.device).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(event?.link?.memberRef).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(received[0]).toLowerCase()).not.toContain(client(1).clientMac);
    // A second view has nothing left: the acknowledged grant is not handed out again.
    expect((await authmon({ auth_get: 'view', gatewayhash: gatewayHashOf(gatewayName), payload: Buffer.from('none').toString('base64') })).text).toBe('*');
  });

  it('lets a guest online with JavaScript disabled, through meta refresh only', async () => {
    await withBrowser(false, async (context) => {
      const page = await context.newPage();
      await arrive(page, 2);
      await page.getByRole('link', { name: 'Go online as a guest' }).click();
      await page.getByLabel('I accept the terms of use (required for Wi-Fi).').check();
      await page.getByRole('button', { name: 'Connect' }).click();
      expect(await page.locator('h1').textContent()).toBe('Connecting…');
      expect(await authmonGrantsAndAcks()).toEqual([expectedRhid(client(2).token, faskey)]);
      await page.locator('h1', { hasText: 'You are online' }).waitFor({ timeout: 8000 });
    });
    const events = await waitForEvents(2);
    expect(events[1]).toMatchObject({ gateway: 'opennds', method: 'guest', member: false, macTrusted: true, consents: { analytics: false } });
    expect(events[1]?.link).toBeUndefined();
    expect(events[1]?.device).not.toBe(events[0]?.device);
    expect(JSON.stringify(received[1]).toLowerCase()).not.toContain(client(2).clientMac);
    expect(logs.text().toLowerCase()).not.toContain(client(2).clientMac);
    expect(logs.text()).not.toContain(faskey);
  });
});

describe('openNDS level 2 in headless Chromium', () => {
  it('sends a member to the gateway authdir with the right rhid, and does not link the untrusted MAC', async () => {
    const gatewayCalls: URL[] = [];
    await withBrowser(true, async (context) => {
      // Stands in for openNDS on the gateway address: it accepts the rhid and sends the client on to `redir`.
      await context.route('http://192.168.8.1:2050/**', async (route) => {
        const url = new URL(route.request().url());
        gatewayCalls.push(url);
        await route.fulfill({ status: 302, headers: { location: url.searchParams.get('redir') ?? 'about:blank' } });
      });
      const page = await context.newPage();
      const shopper = { ...client(3), gatewayName: 'Plaza Two Gate' };
      await page.goto(`http://127.0.0.1:${portal.port}/m/mall-2/?${new URLSearchParams(openndsArrivalQuery(shopper, level2Faskey)).toString()}`);
      expect(await page.locator('h1').textContent()).toBe('Free Wi-Fi at Plaza Two');
      await page.getByRole('link', { name: 'Log in as a member' }).click();
      await page.getByLabel('Member number or mobile phone').fill('13900139000');
      await page.getByRole('button', { name: 'Send me a code' }).click();
      await page.getByLabel('6-digit code').fill(sender.latestCodeFor('+8613900139000') ?? 'none');
      await page.getByLabel('I accept the terms of use (required for Wi-Fi).').check();
      await page.getByLabel('Link my visits to my membership (optional).').check();
      await page.getByRole('button', { name: 'Log in and connect' }).click();
      await page.locator('h1', { hasText: 'You are online' }).waitFor({ timeout: 8000 });
    });
    expect(gatewayCalls).toHaveLength(1);
    expect(gatewayCalls[0]?.pathname).toBe('/opennds_auth/');
    expect(gatewayCalls[0]?.searchParams.get('tok')).toBe(expectedRhid(client(3).token, level2Faskey));
    expect(gatewayCalls[0]?.searchParams.get('redir')).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${portal.port}/done\\?`));
    const events = await waitForEvents(3);
    expect(events[2]).toMatchObject({ mall: 'mall-2', gateway: 'opennds', method: 'member', member: true, macTrusted: false, consents: { analytics: true } });
    // Level 2 travels over plain http on the open Wi-Fi: the MAC is a replayable claim, never linked to a member.
    expect(events[2]?.link).toBeUndefined();
    expect(JSON.stringify(received[2]).toLowerCase()).not.toContain(client(3).clientMac);
  });
});
