import { readFileSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { LiveSocketServer, type SocketOptions } from '../../dashboards/live/socket.ts';
import type { TokenBook } from '../auth.ts';
import type { OpsDeps } from '../server.ts';

const pageDir = new URL('../../dashboards/live/page/', import.meta.url);

/** The page's files: no data and no secret in them, so they are served without a token. */
const assets: Record<string, { file: string; type: string }> = {
  '/live': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/live/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/live/messages.js': { file: 'messages.js', type: 'text/javascript; charset=utf-8' },
  '/live/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
};

/** Scripts and styles only from this origin, no inline code, no framing; the WebSocket to this origin. */
const contentSecurityPolicy = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function secureHeaders(reply: FastifyReply, type: string): FastifyReply {
  return reply
    .header('content-type', type)
    .header('content-security-policy', contentSecurityPolicy)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('x-frame-options', 'DENY')
    .header('cache-control', 'no-cache');
}

/** `/live` (the control-room page and its files) and its WebSocket `/live/ws`, when this process has a live view. */
export function registerLiveRoutes(app: FastifyInstance, deps: Pick<OpsDeps, 'live' | 'logger'>, tokens: TokenBook, socketOptions?: Partial<SocketOptions>): void {
  const live = deps.live;
  if (live === undefined) return;
  for (const [url, asset] of Object.entries(assets)) {
    const body = readFileSync(new URL(asset.file, pageDir), 'utf8');
    app.get(url, async (_request, reply) => secureHeaders(reply, asset.type).send(body));
  }
  const sockets = new LiveSocketServer(live, tokens, deps.logger.child({ part: 'live-socket' }), socketOptions);
  sockets.attach(app.server);
  // Upgraded sockets are not the http server's any more: close them before it waits for its connections.
  app.addHook('preClose', async () => sockets.close(app.server));
}
