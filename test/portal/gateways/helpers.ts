import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../../core/logger.ts';
import type { GatewayConfirmation, GatewayDeps } from '../../../portal/gateways/types.ts';

/** A real pino logger whose lines the test can search for things that must never be logged. */
export function captureLogger(): { logger: Logger; text: () => string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  return { logger: createLogger('trace', stream), text: () => lines.join('') };
}

export interface TestDeps extends GatewayDeps {
  confirmations: GatewayConfirmation[];
  logText: () => string;
  clock: { ms: number };
}

export function testDeps(mall = 'mall-a'): TestDeps {
  const { logger, text } = captureLogger();
  const clock = { ms: Date.parse('2026-05-01T10:00:00Z') };
  const confirmations: GatewayConfirmation[] = [];
  return { mall, logger, now: () => clock.ms, onConfirmed: (c) => confirmations.push(c), confirmations, logText: text, clock };
}
