import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Logger } from '../core/logger.ts';

export interface ListenerOptions {
  host: string;
  port: number;
  tlsPort?: number | undefined;
  tlsCert?: string | undefined;
  tlsKey?: string | undefined;
  wsPort?: number | undefined;
  maxPacketBytes: number;
}

export type ConnectionHandler = (stream: Duplex, req?: IncomingMessage) => void;

/** The network side of the broker: TCP, optional TLS and optional WebSocket listeners feeding one handler. */
export class Listeners {
  private tcp: Server | undefined;
  private tls: TlsServer | undefined;
  private wss: WebSocketServer | undefined;

  constructor(
    private readonly options: ListenerOptions,
    private readonly logger: Logger,
  ) {}

  async open(handle: ConnectionHandler): Promise<void> {
    const { host } = this.options;
    this.tcp = createServer((socket) => handle(socket));
    await listen(this.tcp, this.options.port, host, this.logger);
    const { tlsPort, tlsCert, tlsKey } = this.options;
    if (tlsPort !== undefined && tlsCert !== undefined && tlsKey !== undefined) {
      this.tls = createTlsServer({ cert: readFileSync(tlsCert), key: readFileSync(tlsKey), minVersion: 'TLSv1.2' }, (socket) => handle(socket));
      // A failed handshake only concerns that socket; tls destroys it.
      this.tls.on('tlsClientError', (error: Error, socket: Socket) => this.logger.debug({ err: error.message, address: socket.remoteAddress }, 'TLS handshake failed'));
      await listen(this.tls, tlsPort, host, this.logger);
    }
    if (this.options.wsPort !== undefined) {
      // ws closes a connection whose frame exceeds maxPayload (1009) before buffering it; the packet guard covers the rest.
      const wss = new WebSocketServer({ port: this.options.wsPort, host, maxPayload: this.options.maxPacketBytes + 16 });
      await new Promise<void>((resolve, reject) => {
        wss.once('listening', resolve);
        wss.once('error', reject);
      });
      wss.on('error', (error) => this.logger.error({ err: error }, 'WebSocket listener error'));
      wss.on('connection', (socket, req) => {
        const stream = createWebSocketStream(socket);
        stream.on('error', (error) => this.logger.debug({ err: error.message }, 'WebSocket stream error'));
        handle(stream, req);
      });
      this.wss = wss;
    }
  }

  async close(): Promise<void> {
    await Promise.all([closeServer(this.tcp), closeServer(this.tls), closeWss(this.wss)]);
    this.tcp = undefined;
    this.tls = undefined;
    this.wss = undefined;
  }

  /** Ports actually bound (useful when configured as 0). */
  get ports(): { tcp: number; tls?: number; ws?: number } {
    const tcp = portOf(this.tcp);
    if (tcp === undefined) throw new Error('broker is not listening');
    const result: { tcp: number; tls?: number; ws?: number } = { tcp };
    const tls = portOf(this.tls);
    if (tls !== undefined) result.tls = tls;
    const ws = portOf(this.wss);
    if (ws !== undefined) result.ws = ws;
    return result;
  }
}

function portOf(server: { address(): string | AddressInfo | null } | undefined): number | undefined {
  const address = server?.address();
  return typeof address === 'object' && address !== null ? address.port : undefined;
}

function listen(server: Server | TlsServer, port: number, host: string, logger: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      // After start-up an 'error' (e.g. EMFILE on accept) must not crash the process; without a listener it would.
      server.on('error', (error) => logger.error({ err: error }, 'MQTT listener error'));
      resolve();
    });
  });
}

function closeServer(server: Server | TlsServer | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

function closeWss(wss: WebSocketServer | undefined): Promise<void> {
  if (!wss) return Promise.resolve();
  for (const client of wss.clients) client.terminate();
  return new Promise((resolve) => wss.close(() => resolve()));
}
