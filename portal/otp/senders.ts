import { createHmac } from 'node:crypto';
import type { Language } from '../i18n/index.ts';

export interface CodeMessage {
  /** E.164 phone number. */
  phone: string;
  code: string;
  language: Language;
  /** The text for the shopper, already in their language. */
  text: string;
  purpose: 'login' | 'signup' | 'mydata';
  mall: string;
}

/** Delivers one-time codes. Implementations must never log the phone number or the code. */
export interface CodeSender {
  readonly kind: 'console' | 'webhook';
  send(message: CodeMessage): Promise<void>;
}

/**
 * Development sender: nothing is sent. The code is printed to stderr as a clearly marked dev line (never through
 * the logger, so it cannot end up in log files) and kept in a small in-process outbox that tests read.
 */
export class ConsoleCodeSender implements CodeSender {
  readonly kind = 'console';
  readonly outbox: CodeMessage[] = [];

  constructor(
    private readonly write: (line: string) => void = (line) => process.stderr.write(line),
    private readonly outboxMax = 100,
  ) {}

  async send(message: CodeMessage): Promise<void> {
    this.outbox.push(message);
    if (this.outbox.length > this.outboxMax) this.outbox.shift();
    this.write(`[plaza portal DEV CODE – console sender, nothing was sent] ${message.phone}: ${message.code}\n`);
  }

  /** The most recent code sent to this phone, if any. */
  latestCodeFor(phone: string): string | undefined {
    for (let i = this.outbox.length - 1; i >= 0; i -= 1) {
      const message = this.outbox[i];
      if (message?.phone === phone) return message.code;
    }
    return undefined;
  }
}

export interface WebhookSenderOptions {
  url: string;
  secret: string;
  timeoutMs: number;
  now?: () => number;
}

/**
 * Posts each code as JSON to an SMS provider bridge. The body is signed: header `x-plaza-signature` is
 * `sha256=<hex HMAC-SHA256(secret, "<x-plaza-timestamp>.<body>")>`, so the receiver can check origin and age.
 */
export class WebhookCodeSender implements CodeSender {
  readonly kind = 'webhook';

  constructor(private readonly options: WebhookSenderOptions) {}

  async send(message: CodeMessage): Promise<void> {
    const timestamp = String(Math.floor((this.options.now ?? Date.now)() / 1000));
    const body = JSON.stringify({ to: message.phone, code: message.code, text: message.text, language: message.language, purpose: message.purpose, mall: message.mall });
    const signature = createHmac('sha256', this.options.secret).update(`${timestamp}.${body}`).digest('hex');
    let response: Response;
    try {
      response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-plaza-timestamp': timestamp, 'x-plaza-signature': `sha256=${signature}` },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
    } catch (error) {
      // The cause names the network problem only; the request (phone, code) is not part of it.
      throw new Error(`code webhook unreachable: ${(error as Error).name}`);
    }
    await response.body?.cancel();
    if (!response.ok) throw new Error(`code webhook answered HTTP ${response.status}`);
  }
}
