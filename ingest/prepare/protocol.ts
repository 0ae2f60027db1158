import type { MessagePort } from 'node:worker_threads';
import type { PreparedProbe, ProbePrepareSpec } from '../probe/prepare.ts';

/** What the prepare thread is started with. */
export interface PrepareWorkerData {
  spec: ProbePrepareSpec;
  /** Requests in, replies out; the event loop reads replies with receiveMessageOnPort only. */
  port: MessagePort;
  /** Int32 [0]: replies posted so far; bumped and notified after each, so the event loop can Atomics.wait on it. */
  signal: SharedArrayBuffer;
}

export interface PrepareRequest {
  id: number;
  mall: string;
  /** A copy of the MQTT payload, transferred (raw MACs: memory only, dropped once prepared). */
  payload: Uint8Array;
  receivedAtMs: number;
  /** Compute member-link hashes of stable MACs (only needed while members or opt-outs exist). */
  withLinks: boolean;
}

export type PrepareReply =
  | { id: number; kind: 'prepared'; prepared: PreparedProbe }
  | { id: number; kind: 'invalid'; reason: string }
  /** The thread could not prepare it (a bug, or the thread is gone): the event loop prepares it itself. */
  | { id: number; kind: 'failed'; message: string };

/** Typed-array buffers of a prepared batch, moved rather than copied across threads. */
export function transferablesOf(prepared: PreparedProbe): ArrayBuffer[] {
  return [prepared.order.buffer, prepared.times.buffer, prepared.rssi.buffer, prepared.sn.buffer, prepared.flags.buffer] as ArrayBuffer[];
}
