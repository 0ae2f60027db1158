/**
 * The prepare thread: validates probe payloads with the protocol schema and pseudonymises them
 * (ingest/probe/prepare.ts). It holds no state that must survive it: killing it loses nothing, the event loop
 * prepares what was in flight itself.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { ProbePreparer } from '../probe/prepare.ts';
import { type PrepareReply, type PrepareRequest, type PrepareWorkerData, transferablesOf } from './protocol.ts';

const { spec, port, signal } = workerData as PrepareWorkerData;
const replies = new Int32Array(signal);
const preparer = new ProbePreparer(spec);

port.on('message', (request: PrepareRequest) => {
  let reply: PrepareReply;
  let transfer: ArrayBuffer[] = [];
  try {
    const payload = Buffer.from(request.payload.buffer, request.payload.byteOffset, request.payload.byteLength);
    const result = preparer.parse(request.mall, payload, request.receivedAtMs, request.withLinks);
    if (result.ok) {
      reply = { id: request.id, kind: 'prepared', prepared: result.value };
      transfer = transferablesOf(result.value);
    } else {
      reply = { id: request.id, kind: 'invalid', reason: result.reason };
    }
  } catch (error) {
    // Our own code failed; the message names no payload value (JSON and schema errors never get here).
    reply = { id: request.id, kind: 'failed', message: error instanceof Error ? `${error.name}: ${error.message}` : 'unknown error' };
  }
  port.postMessage(reply, transfer);
  Atomics.add(replies, 0, 1);
  Atomics.notify(replies, 0);
});

parentPort?.postMessage('ready');
