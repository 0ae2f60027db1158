import type { MqttClient } from 'mqtt';
import type { BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { ConsoleCodeSender } from '../../portal/otp/senders.ts';
import { PortalServer } from '../../portal/server.ts';
import { type PortalLoginEvent, portalLoginEventSchema } from '../../protocol/payloads/portal-login.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { listenForLogins, testHashSecret, testSecret } from './support.ts';
import { launchChromium } from '../support/chromium.ts';

let broker: TestBroker;
let portal: PortalServer;
let subscriber: MqttClient;
const sender = new ConsoleCodeSender(() => undefined);
let received: unknown[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  const portalAccount = await broker.registry.addEphemeralService('portal');
  ({ client: subscriber, received } = await listenForLogins(broker));
  const config = configSchema.parse({
    dataDir: tempDir('plaza-portal-e2e'),
    portal: { port: 0, host: '127.0.0.1', secret: testSecret, malls: { 'mall-1': { displayName: 'Plaza One', apStores: { 'ap-1': 'store-1' }, gateway: { kind: 'plain', trustClaimedMac: true } } } },
    malls: { 'mall-1': { timeZone: 'Asia/Shanghai' } },
  });
  portal = new PortalServer({ config, secret: testSecret, hashSecret: testHashSecret, mqtt: { url: broker.url, ...portalAccount }, logger: createLogger('silent'), sender });
  await portal.start();
});

afterAll(async () => {
  await portal?.stop();
  await subscriber?.endAsync();
  await broker?.stop();
});

async function withBrowser(javaScriptEnabled: boolean, run: (context: BrowserContext) => Promise<void>): Promise<void> {
  const context = await launchChromium({ javaScriptEnabled });
  try {
    await run(context);
  } finally {
    await context.close();
  }
}

async function waitForEvents(count: number): Promise<PortalLoginEvent[]> {
  const deadline = Date.now() + 10_000;
  while (received.length < count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return received.map((event) => portalLoginEventSchema.parse(event));
}

describe('captive portal in headless Chromium', () => {
  it('signs up in Chinese after switching language; the login event reaches the broker with a member link', async () => {
    await withBrowser(true, async (context) => {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${portal.port}/m/mall-1/?mac=aa:bb:cc:dd:ee:10&ap=ap-1&url=http%3A%2F%2Fexample.com%2F`);
      expect(await page.locator('h1').textContent()).toBe('Free Wi-Fi at Plaza One');
      await page.getByRole('link', { name: '中文' }).click();
      expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
      await page.getByRole('link', { name: '注册会员' }).click();
      await page.getByLabel('手机号').fill('13800138000');
      await page.getByLabel('姓名 (可选)').fill('李雷');
      await page.getByRole('button', { name: '发送验证码' }).click();
      const code = sender.latestCodeFor('+8613800138000');
      expect(code).toMatch(/^\d{6}$/);
      await page.getByLabel('6 位验证码').fill(code ?? '');
      await page.getByLabel('我接受使用条款（使用 Wi-Fi 必须同意）。').check();
      await page.getByLabel('将我的到访记录关联到我的会员账户（可选）。').check();
      await page.getByRole('button', { name: '注册并连接' }).click();
      expect(await page.locator('h1').textContent()).toBe('您已连接网络');
      expect(await page.locator('main').textContent()).toMatch(/您的会员号是 \d{9}/);
    });
    const [event] = await waitForEvents(1);
    expect(event).toMatchObject({ mall: 'mall-1', store: 'store-1', method: 'signup', member: true, macTrusted: true, consents: { analytics: true, marketing: false } });
    expect(event?.link?.memberRef).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(JSON.stringify(received[0])).not.toContain('aa:bb:cc:dd:ee:10');
  });

  it('logs a member in with JavaScript disabled', async () => {
    await withBrowser(false, async (context) => {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${portal.port}/m/mall-1/?mac=aa:bb:cc:dd:ee:11&ap=ap-1`);
      await page.getByRole('link', { name: 'Log in as a member' }).click();
      await page.getByLabel('Member number or mobile phone').fill('138 0013 8000');
      await page.getByRole('button', { name: 'Send me a code' }).click();
      expect(await page.getByRole('status').textContent()).toContain('If this number belongs to a member');
      const code = sender.latestCodeFor('+8613800138000') ?? '';
      await page.getByLabel('6-digit code').fill(code);
      await page.getByLabel('I accept the terms of use (required for Wi-Fi).').check();
      await page.getByRole('button', { name: 'Log in and connect' }).click();
      expect(await page.locator('h1').textContent()).toBe('You are online');
    });
    const events = await waitForEvents(2);
    // Analytics consent given at sign-up still holds, so this device is linked to the same member.
    expect(events[1]).toMatchObject({ method: 'member', member: true, consents: { analytics: true } });
    expect(events[1]?.link?.memberRef).toBe(events[0]?.link?.memberRef);
    expect(events[1]?.link?.linkHash).not.toBe(events[0]?.link?.linkHash);
  });
});
