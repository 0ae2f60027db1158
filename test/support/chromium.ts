import { type BrowserContext, chromium } from 'playwright-core';
import { findBinary } from './processes.ts';
import { tempDir } from './tmp.ts';

/**
 * Debian's Chromium, headless, as root in a sandbox-less container: no network services of its own (this
 * machine's closed network refuses them, many at a time) and a fresh profile for every context.
 */
const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

type ContextOptions = NonNullable<Parameters<typeof chromium.launchPersistentContext>[1]>;

/** A fresh headless Chromium context (English unless told otherwise); extra options are playwright's own. */
export function launchChromium(options: ContextOptions = {}): Promise<BrowserContext> {
  return chromium.launchPersistentContext(tempDir('plaza-chromium'), { executablePath: findBinary('chromium'), args: chromiumArgs, headless: true, locale: 'en-US', ...options });
}
