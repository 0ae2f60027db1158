import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../core/logger.ts';
import { Consumer } from '../../ingest/consumer.ts';
import { addDevice, connectClient, startTestBroker } from '../support/broker.ts';

/**
 * The consumer's acknowledgement contract with a real broker: a turn's PUBACKs are written only after its batch
 * committed, and a failed commit means the broker redelivers every message of that turn.
 */
describe('Consumer', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    while (cleanups.length > 0) await cleanups.pop()?.();
  });

  async function setup(commit: () => void, handle?: (message: string) => void) {
    const broker = await startTestBroker();
    cleanups.push(() => broker.stop());
    const service = await broker.registry.addService('ingest');
    const seen: string[] = [];
    const events: ('commit' | 'write')[] = [];
    const consumer = new Consumer(
      {
        url: broker.url,
        username: service.username,
        password: service.password,
        clientId: `${service.username}-t`,
        malls: ['mall-1'],
        reconnectPeriodMs: 100,
        batch: {
          begin: () => undefined,
          commit: () => {
            events.push('commit');
            commit();
          },
        },
      },
      (_topic, payload) => {
        seen.push(payload.toString());
        handle?.(payload.toString());
      },
      createLogger('silent'),
    );
    await consumer.start();
    cleanups.push(() => consumer.stop());
    // Record when the consumer's socket writes: a turn's corked PUBACKs leave in one _writev/_write call.
    const stream = (consumer as unknown as { client: { stream: Record<'_write' | '_writev', ((...a: unknown[]) => void) | undefined> } }).client.stream;
    for (const method of ['_write', '_writev'] as const) {
      const original = stream[method];
      if (original === undefined) continue;
      stream[method] = (...args: unknown[]) => {
        events.push('write');
        original.apply(stream, args);
      };
    }
    const creds = await addDevice(broker.registry, { id: 'door-a' });
    const device = await connectClient(broker.url, { clientId: creds.id, username: creds.username, password: creds.password });
    cleanups.push(() => device.endAsync());
    const publish = async (n: number): Promise<void> => {
      await Promise.all(Array.from({ length: n }, (_, i) => device.publishAsync(creds.topic, `m${i}`, { qos: 1 })));
    };
    return { seen, events, publish };
  }

  it('writes each turn’s PUBACKs right after its commit, and handles every message once', async () => {
    const { seen, events, publish } = await setup(() => undefined);
    events.length = 0; // CONNECT and SUBSCRIBE are not what this test is about
    await publish(50);
    await vi.waitFor(() => expect(seen).toHaveLength(50), { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300)); // nothing comes again
    expect(new Set(seen).size).toBe(50);
    expect(seen).toHaveLength(50);
    expect(events.filter((e) => e === 'write').length).toBeGreaterThan(0);
    events.forEach((event, i) => {
      if (event === 'write') expect(events[i - 1], `event #${i} of ${events.join(',')}`).toBe('commit');
    });
  });

  it('gets the whole turn redelivered when its commit fails', async () => {
    let failedTurn: string[] | undefined;
    const state: { seen: string[] } = { seen: [] };
    const { seen, publish } = await setup(() => {
      if (failedTurn === undefined) {
        failedTurn = [...state.seen]; // everything handled so far belongs to the first turn
        throw new Error('disk full');
      }
    });
    state.seen = seen;
    await publish(20);
    await vi.waitFor(() => expect(new Set(seen).size).toBe(20), { timeout: 15_000 });
    expect(failedTurn?.length).toBeGreaterThan(0);
    await vi.waitFor(() => {
      for (const message of failedTurn ?? []) expect(seen.filter((m) => m === message).length, message).toBeGreaterThanOrEqual(2);
    }, { timeout: 15_000 });
  });

  it('gets a whole turn redelivered when a message the handler had deferred fails, so none is lost', async () => {
    // Like ingest's prepare queue: a message is applied when the next one arrives or when the turn commits; its
    // PUBACK is already corked by then. Applying one fails once, in the handler of the message after it.
    const applied = new Set<string>();
    let pending: string | undefined;
    let turn: string[] = [];
    let failedTurn: string[] | undefined;
    const applyPending = (): void => {
      const message = pending;
      pending = undefined;
      if (message === undefined) return;
      if (failedTurn === undefined && turn.length >= 3) {
        failedTurn = [...turn];
        throw new Error('disk full');
      }
      applied.add(message);
    };
    const { seen, publish } = await setup(
      () => {
        applyPending();
        turn = [];
      },
      (message) => {
        try {
          applyPending();
        } catch (error) {
          pending = undefined; // the turn is abandoned: its messages come again
          turn = [];
          throw error;
        }
        pending = message;
        turn.push(message);
      },
    );
    await publish(30);
    await vi.waitFor(() => expect(applied.size).toBe(30), { timeout: 15_000 });
    expect(failedTurn?.length).toBeGreaterThanOrEqual(3);
    // The failed message and the ones acknowledged before it in its turn were all delivered again.
    for (const message of failedTurn ?? []) expect(seen.filter((m) => m === message).length, message).toBeGreaterThanOrEqual(2);
  });
});
