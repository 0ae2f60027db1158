import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { z } from 'zod';
import type { Logger } from '../../core/logger.ts';
import type { OpsPrincipal, TokenBook } from '../../ops/auth.ts';
import { idSchema } from '../../protocol/ids.ts';
import type { LiveFeed, LiveUpdate } from './live-view.ts';

/** Limits of the live WebSocket. */
export const defaultSocketOptions = {
  path: '/live/ws',
  /** The first message must authenticate within this time, in ms. */
  authTimeoutMs: 10_000,
  /** Ping interval, in ms; a client that missed the previous pong is dropped. */
  pingIntervalMs: 20_000,
  /** A client whose unsent data exceeds this many bytes is too slow and is dropped. */
  maxBufferedBytes: 1024 * 1024,
  /** Largest message a client may send, in bytes. */
  maxPayloadBytes: 4096,
  maxClients: 200,
};
export type SocketOptions = typeof defaultSocketOptions;

/** Close codes the page understands (4000–4999 are for applications, RFC 6455 §7.4.2). */
export const closeCodes = { unauthorized: 4401, authTimeout: 4408, badMessage: 4400, tooSlow: 4429 } as const;

const clientMessageSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('auth'), token: z.string().min(1).max(512), mall: idSchema.optional() }),
  z.strictObject({ type: z.literal('mall'), mall: idSchema }),
]);

interface Client {
  socket: WebSocket;
  principal: OpsPrincipal | undefined;
  alive: boolean;
  unsubscribe: (() => void) | undefined;
  authTimer: NodeJS.Timeout | undefined;
}

/**
 * The live page's WebSocket on the ops server (path /live/ws). The token comes in the first message, never in
 * the URL (URLs end up in logs and browser history). After it: a hello, the mall's snapshot, then updates.
 */
export class LiveSocketServer {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<Client>();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly options: SocketOptions;
  private readonly onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => this.upgrade(request, socket, head);

  constructor(
    private readonly feed: LiveFeed,
    private readonly tokens: TokenBook,
    private readonly logger: Logger,
    options: Partial<SocketOptions> = {},
  ) {
    this.options = { ...defaultSocketOptions, ...options };
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.options.maxPayloadBytes, perMessageDeflate: false });
  }

  attach(server: Server): void {
    server.on('upgrade', this.onUpgrade);
    this.pingTimer = setInterval(() => this.ping(), this.options.pingIntervalMs);
    this.pingTimer.unref();
  }

  /** Drops every client; the http server closes after this. */
  close(server: Server): void {
    server.off('upgrade', this.onUpgrade);
    clearInterval(this.pingTimer);
    for (const client of this.clients) this.drop(client);
    this.wss.close();
  }

  get clientCount(): number {
    return this.clients.size;
  }

  private upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const pathname = (request.url ?? '').split('?')[0];
    if (pathname !== this.options.path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    if (this.clients.size >= this.options.maxClients) {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.on('error', () => undefined);
    this.wss.handleUpgrade(request, socket, head, (ws) => this.connected(ws));
  }

  private connected(socket: WebSocket): void {
    const client: Client = { socket, principal: undefined, alive: true, unsubscribe: undefined, authTimer: undefined };
    this.clients.add(client);
    client.authTimer = setTimeout(() => socket.close(closeCodes.authTimeout, 'authenticate first'), this.options.authTimeoutMs);
    client.authTimer.unref();
    socket.on('pong', () => {
      client.alive = true;
    });
    socket.on('message', (data, isBinary) => {
      try {
        this.message(client, isBinary || !Buffer.isBuffer(data) ? undefined : data.toString('utf8'));
      } catch (error) {
        this.logger.error({ err: error }, 'live socket: message failed');
        socket.close(1011, 'internal error');
      }
    });
    socket.on('error', (error) => this.logger.debug({ err: error.message }, 'live socket: client error'));
    socket.on('close', () => this.forget(client));
  }

  private message(client: Client, text: string | undefined): void {
    let parsed: ReturnType<typeof clientMessageSchema.safeParse> | undefined;
    try {
      parsed = text === undefined ? undefined : clientMessageSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = undefined;
    }
    if (parsed === undefined || !parsed.success) {
      client.socket.close(client.principal === undefined ? closeCodes.unauthorized : closeCodes.badMessage, 'unexpected message');
      return;
    }
    const message = parsed.data;
    if (message.type === 'auth') {
      if (client.principal !== undefined) return;
      const principal = this.tokens.identify(message.token);
      clearTimeout(client.authTimer);
      if (principal === undefined) {
        client.socket.close(closeCodes.unauthorized, 'wrong token');
        return;
      }
      // Every role may watch the live view (viewer is the least).
      client.principal = principal;
      this.follow(client, message.mall);
      return;
    }
    if (client.principal === undefined) {
      client.socket.close(closeCodes.unauthorized, 'authenticate first');
      return;
    }
    this.follow(client, message.mall);
  }

  /** Subscribes the client to a mall (the first one when unknown or not given) and sends its snapshot. */
  private follow(client: Client, wanted: string | undefined): void {
    const malls = this.feed.malls();
    const mall = wanted !== undefined && malls.includes(wanted) ? wanted : malls[0];
    client.unsubscribe?.();
    client.unsubscribe = undefined;
    this.send(client, JSON.stringify({ type: 'hello', malls, mall: mall ?? null, role: client.principal?.role }));
    if (mall === undefined) return;
    const snapshot = this.feed.snapshot(mall);
    if (snapshot !== undefined) this.send(client, JSON.stringify({ type: 'snapshot', snapshot }));
    client.unsubscribe = this.feed.subscribe(mall, (update: LiveUpdate) => this.send(client, update.json));
  }

  private send(client: Client, text: string): void {
    const socket = client.socket;
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > this.options.maxBufferedBytes) {
      this.logger.info({ bufferedBytes: socket.bufferedAmount }, 'live socket: client too slow; dropped');
      this.drop(client);
      return;
    }
    socket.send(text);
  }

  private ping(): void {
    for (const client of this.clients) {
      if (!client.alive) {
        this.drop(client);
        continue;
      }
      client.alive = false;
      client.socket.ping();
    }
  }

  private drop(client: Client): void {
    client.socket.terminate();
    this.forget(client);
  }

  private forget(client: Client): void {
    clearTimeout(client.authTimer);
    client.unsubscribe?.();
    client.unsubscribe = undefined;
    this.clients.delete(client);
  }
}
