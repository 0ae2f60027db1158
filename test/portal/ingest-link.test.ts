import Database from 'better-sqlite3';
import path from 'node:path';

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { ConsoleCodeSender } from '../../portal/otp/senders.ts';
import { PortalServer } from '../../portal/server.ts';
import { encodePayload } from '../../protocol/topics.ts';
import { hashSecret, type IngestUnderTest, startIngest, TestDevice } from '../ingest/harness.ts';
import { addDevice, startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { testSecret } from './support.ts';
import { launchChromium } from '../support/chromium.ts';

const mall = 'mall-1';
const phoneMac = '6a:10:20:30:40:66'; // the phone's per-SSID private MAC on the mall Wi-Fi

/** Portal and ingest together: a sign-up with analytics consent becomes a member link, and the phone's later visit a member visit. */
describe('portal login → ingest member link', { timeout: 180_000 }, () => {
  const dataDir = tempDir('portal-ingest');
  let broker: TestBroker;
  let run: IngestUnderTest;
  let portal: PortalServer;
  let probe: TestDevice;
  const sender = new ConsoleCodeSender(() => undefined);

  beforeAll(async () => {
    broker = await startTestBroker({ dataDir });
    run = await startIngest({ dataDir, registry: broker.registry, mqtt: { url: broker.url, ...(await broker.registry.addService('ingest')) } });
    probe = await TestDevice.connect(broker.url, await addDevice(broker.registry, { mall, store: 'store-1', kind: 'probe' }));
    const config = configSchema.parse({
      dataDir: tempDir('portal-ingest-portal'),
      portal: { port: 0, host: '127.0.0.1', secret: testSecret, malls: { [mall]: { apStores: { 'ap-1': 'store-1' }, gateway: { kind: 'plain', trustClaimedMac: true } } } },
      malls: { [mall]: { timeZone: 'Asia/Shanghai' } },
    });
    // The portal must use the same master secret as ingest, so both derive the same link hashes.
    portal = new PortalServer({ config, secret: testSecret, hashSecret, mqtt: { url: broker.url, ...(await broker.registry.addEphemeralService('portal')) }, logger: createLogger('silent'), sender });
    await portal.start();
  });

  afterAll(async () => {
    await portal?.stop();
    await probe?.close();
    await run?.stop();
    await broker?.stop();
  });

  it('links the member in ingest, counts the sign-up, and counts the phone’s next visit as the member’s', async () => {
    const context = await launchChromium();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${portal.port}/m/${mall}/?mac=${phoneMac}&ap=ap-1`);
      await page.getByRole('link', { name: 'Become a member' }).click();
      await page.getByLabel('Mobile phone', { exact: true }).fill('13900139000');
      await page.getByRole('button', { name: 'Send me a code' }).click();
      await page.getByLabel('6-digit code').fill(sender.latestCodeFor('+8613900139000') ?? '');
      await page.getByLabel('I accept the terms of use (required for Wi-Fi).').check();
      await page.getByLabel(/Link my visits to my membership/).check();
      await page.getByRole('button', { name: 'Join and connect' }).click();
      expect(await page.locator('h1').textContent()).toBe('You are online');
    } finally {
      await context.close();
    }

    // The link exists in ingest's state, keyed by hashes only.
    const db = new Database(path.join(dataDir, 'ingest.sqlite'), { readonly: true });
    try {
      await vi.waitFor(() => expect(db.prepare('SELECT COUNT(*) AS n FROM member_links').get()).toEqual({ n: 1 }), { timeout: 20_000, interval: 100 });
      expect(JSON.stringify(db.prepare('SELECT * FROM member_links').all())).not.toContain(phoneMac);
    } finally {
      db.close();
    }
    const now = Date.now();
    await vi.waitFor(
      async () => {
        await run.ingest.flush();
        const rows = await run.store.query({ measurement: 'portal_login', fields: ['logins', 'signups'], aggregate: 'sum', where: { mall }, fromMs: now - 3_600_000, toMs: now + 60_000 });
        expect(rows[0]?.values).toEqual({ logins: 1, signups: 1 });
      },
      { timeout: 20_000, interval: 200 },
    );

    // Later the probe sees the joined phone: a member visit.
    await probe.raw('probe', encodePayload('probe', { v: 1, boot: 'p1', seq: 1, ts: Date.now(), obs: [{ mac: phoneMac, rssi: -55, ts: Date.now(), assoc: true }] }));
    await vi.waitFor(
      async () => {
        await run.ingest.flush();
        const rows = await run.store.query({ measurement: 'member_visits', fields: ['members', 'first_time_members'], aggregate: 'max', where: { mall, store: 'store-1' }, fromMs: now - 2 * 86_400_000, toMs: now + 60_000 });
        expect(rows[0]?.values).toEqual({ members: 1, first_time_members: 1 });
      },
      { timeout: 20_000, interval: 200 },
    );
  });
});
