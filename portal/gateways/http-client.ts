import http from 'node:http';
import https from 'node:https';
import { GatewayError } from './types.ts';

/** A small HTTP(S) client for controller APIs: per-request timeout, TLS options, bounded response size. */

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface HttpOptions {
  timeoutMs: number;
  /** Verify the server certificate (https only). */
  tlsVerify: boolean;
  /** Extra CA certificates (PEM) to trust. */
  ca?: string;
}

const maxResponseBytes = 2 * 1024 * 1024;

export function httpRequest(
  url: URL,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  options: HttpOptions,
): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const transport = url.protocol === 'https:' ? https : http;
    const requestHeaders: Record<string, string> = { accept: 'application/json', ...headers };
    if (body !== undefined) {
      requestHeaders['content-type'] ??= 'application/json';
      requestHeaders['content-length'] = String(Buffer.byteLength(body));
    }
    const request = transport.request(
      url,
      {
        method,
        headers: requestHeaders,
        timeout: options.timeoutMs,
        ...(url.protocol === 'https:' ? { rejectUnauthorized: options.tlsVerify, ...(options.ca !== undefined ? { ca: options.ca } : {}) } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxResponseBytes) {
            request.destroy(new GatewayError(`controller answer to ${url.pathname} is too large`, 'upstream'));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, text: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', reject);
      },
    );
    // The socket timeout covers idle time; the overall deadline covers a controller that trickles bytes.
    const deadline = setTimeout(() => request.destroy(new GatewayError(`controller did not answer ${url.pathname} within ${options.timeoutMs} ms`, 'upstream')), options.timeoutMs);
    request.on('timeout', () => request.destroy(new GatewayError(`controller did not answer ${url.pathname} within ${options.timeoutMs} ms`, 'upstream')));
    request.on('error', (error) => {
      clearTimeout(deadline);
      reject(error instanceof GatewayError ? error : new GatewayError(`controller request ${url.pathname} failed: ${error.message}`, 'upstream'));
    });
    request.on('close', () => clearTimeout(deadline));
    request.end(body);
  });
}

/** Parses a JSON answer; a non-JSON body is an upstream failure. */
export function parseJson(response: HttpResponse, what: string): unknown {
  try {
    return JSON.parse(response.text) as unknown;
  } catch {
    throw new GatewayError(`controller answered ${what} with HTTP ${response.status} and no JSON`, 'upstream');
  }
}
