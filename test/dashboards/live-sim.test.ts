
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../../core/config.ts';
import { createLogger } from '../../core/logger.ts';
import { createMetricsRegistry } from '../../core/metrics.ts';
import { LiveView } from '../../dashboards/live/live-view.ts';
import { loadMallConfig, type MallConfig } from '../../firmware-sim/mall-config.ts';
import { Simulator } from '../../firmware-sim/simulator.ts';
import { Ingest } from '../../ingest/index.ts';
import { ProbeProcessor } from '../../ingest/probe/processor.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { OpsServer } from '../../ops/server.ts';
import { demoConfigOverrides, demoMallFile } from '../../cli/demo.ts';
import { hashSecret } from '../ingest/harness.ts';
import { startTestBroker, type TestBroker } from '../support/broker.ts';
import { tempDir } from '../support/tmp.ts';
import { launchChromium } from '../support/chromium.ts';

const token = 'ops-admin-token-for-the-live-sim-test';
const minute = 60_000;

/**
 * The live page against a running system fed by the simulator: the demo mall, open and busy around the clock so
 * the test does not depend on the hour it runs at, simulated for the last 40 minutes (accelerated; the window ends
 * now, like buffered firmware uploads), through a real broker and ingest into SQLite.
 */
describe('live view fed by the simulated mall', { timeout: 180_000 }, () => {
  const logger = createLogger('silent');
  const demo = loadMallConfig(demoMallFile);
  const allDay = Object.fromEntries(Object.keys(demo.openingHours).map((day) => [day, '00:00-23:59']));
  const mall: MallConfig = { ...demo, openingHours: allDay as MallConfig['openingHours'], arrivals: { ...demo.arrivals, perHour: Array.from({ length: 24 }, () => 400) } };
  const config = configSchema.parse({ dataDir: tempDir('live-sim'), ingest: { hashSecret, flushIntervalMs: 50 }, ...demoConfigOverrides(mall) });
  let broker: TestBroker;
  let store: TimeSeriesStore;
  let ingest: Ingest;
  let live: LiveView;
  let ops: OpsServer;

  beforeAll(async () => {
    broker = await startTestBroker();
    store = createStore(config, logger);
    ingest = new Ingest({
      config,
      logger,
      metrics: createMetricsRegistry(false),
      store,
      directory: { lookup: (id) => broker.registry.getDevice(id) },
      probe: (settings, members, optOuts) => new ProbeProcessor({ masterSecret: hashSecret, settings, logger, members, optOuts }),
      mqtt: { url: broker.url, ...(await broker.registry.addEphemeralService('ingest')) },
    });
    live = new LiveView({ config, store, registry: broker.registry, logger });
    ingest.onCommitted((points) => live.accept(points));
    await ingest.start();
    await live.start();
    ops = new OpsServer({ host: '127.0.0.1', port: 0, token, metrics: createMetricsRegistry(false), logger, health: {}, store, live });
    await ops.start();
    const simulator = new Simulator({ mall, seed: 7, pace: { realtime: false, speed: 'max' }, durationMs: 40 * minute, brokerUrl: broker.url, drainTimeoutMs: 20_000 }, broker.registry, logger);
    await simulator.start();
    await simulator.whenFinished();
    await simulator.stop();
    await ingest.flush();
  }, 150_000);

  afterAll(async () => {
    await ops?.stop();
    await live?.stop();
    await ingest?.stop();
    await broker?.stop();
  });

  it('shows per-store entries of the last 60 minutes that match the store', async () => {
    const context = await launchChromium();
    try {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${ops.port}/live`);
      await page.getByLabel('Ops API token').fill(token);
      await page.getByRole('button', { name: 'Connect' }).click();
      await expect.poll(() => page.locator('#mall-name').textContent(), { timeout: 15_000 }).toBe(mall.name);
      const stores = mall.stores.map((s) => s.id);
      // Read the page and the store for the same 60-minute window; retried if a minute boundary passes in between.
      await expect
        .poll(
          async () => {
            const response = await fetch(`http://127.0.0.1:${ops.port}/api/live?mall=${mall.mall}`, { headers: { authorization: `Bearer ${token}` } });
            const snapshot = (await response.json()) as { seriesStart: string };
            const fromMs = Date.parse(snapshot.seriesStart);
            const rows = await store.query({ measurement: 'footfall', fields: ['entries'], aggregate: 'sum', where: { mall: mall.mall }, fromMs, toMs: fromMs + 60 * minute, groupBy: ['store'] });
            const stored = Object.fromEntries(stores.map((s) => [s, rows.find((r) => r.tags.store === s)?.values.entries ?? 0]));
            const shown: Record<string, number> = {};
            for (const s of stores) shown[s] = Number(await page.locator(`article[data-store="${s}"] [data-field="entries60"]`).textContent());
            return { shown, stored, busy: Object.values(stored).reduce((a, b) => a + b, 0) > 20 };
          },
          { timeout: 30_000, interval: 500 },
        )
        .toSatisfy((r: { shown: Record<string, number>; stored: Record<string, number>; busy: boolean }) => r.busy && JSON.stringify(r.shown) === JSON.stringify(r.stored));
    } finally {
      await context.close();
    }
  });
});
