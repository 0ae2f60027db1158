import type { Logger } from '../../core/logger.ts';
import type { Language } from '../i18n/index.ts';
import { hmacB64 } from '../keys.ts';
import type { ChallengeStore, VerifyResult } from './challenges.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { CodeSender } from './senders.ts';

export interface OtpSettings {
  codeTtlS: number;
  maxAttempts: number;
  resendCooldownS: number;
  sendsPerPhonePerHour: number;
  sendsPerClientPerHour: number;
  sendsPerMallPerHour: number;
  verifyFailuresPerClientPerHour: number;
}

/** Who is asking: limits apply per (gateway, client MAC), never per IP (every shopper shares the NAT). */
export interface ClientRef {
  mall: string;
  gateway: string;
  clientMac?: string | undefined;
}

export interface CodeRequest {
  client: ClientRef;
  purpose: 'login' | 'signup' | 'mydata';
  /** What the per-phone limit counts: the phone, or the member number when no phone is known. */
  subject: string;
  /** Where to send the code; undefined for an unknown member (a challenge is made but nothing is sent). */
  destination: { phone: string; language: Language; text: (code: string) => string } | undefined;
  /** Resend: replace the code of this challenge (subject to the cool-down). */
  resendOf?: string | undefined;
}

export type CodeOutcome =
  | { ok: true; challengeId: string }
  | { ok: false; reason: 'cooldown'; waitS: number }
  | { ok: false; reason: 'rateLimited' }
  | { ok: false; reason: 'sendFailed' };

export type CheckOutcome = VerifyResult | { ok: false; reason: 'rateLimited' };

/** Issues, sends and checks one-time codes under the rate limits. Codes and phones never reach the logger. */
export class OtpService {
  constructor(
    private readonly challenges: ChallengeStore,
    private readonly sender: CodeSender,
    private readonly limiter: RateLimiter,
    private readonly settings: OtpSettings,
    private readonly clientKey: Buffer,
    private readonly now: () => number,
    private readonly logger: Logger,
  ) {}

  async request(request: CodeRequest): Promise<CodeOutcome> {
    const now = this.now();
    if (request.resendOf !== undefined) {
      const sentMs = this.challenges.sentMs(request.resendOf);
      const readyMs = (sentMs ?? 0) + this.settings.resendCooldownS * 1000;
      if (readyMs > now) return { ok: false, reason: 'cooldown', waitS: Math.ceil((readyMs - now) / 1000) };
    }
    const limits = [
      { key: `send:subject:${request.subject}`, limit: this.settings.sendsPerPhonePerHour },
      { key: `send:mall:${request.client.mall}`, limit: this.settings.sendsPerMallPerHour },
    ];
    const clientKey = this.clientKeyOf(request.client);
    if (clientKey !== undefined) limits.push({ key: `send:${clientKey}`, limit: this.settings.sendsPerClientPerHour });
    if (!this.limiter.take(limits)) {
      this.logger.warn({ event: 'otp-rate-limited', purpose: request.purpose, mall: request.client.mall }, 'one-time code refused by rate limit');
      return { ok: false, reason: 'rateLimited' };
    }
    const ttlMs = this.settings.codeTtlS * 1000;
    let issued: { id: string; code: string };
    const reissued = request.resendOf === undefined ? null : this.challenges.reissue(request.resendOf, now, ttlMs);
    if (reissued !== null && request.resendOf !== undefined) issued = { id: request.resendOf, code: reissued };
    else issued = this.challenges.issue(now, ttlMs);
    if (request.destination !== undefined) {
      try {
        await this.sender.send({
          phone: request.destination.phone,
          code: issued.code,
          language: request.destination.language,
          text: request.destination.text(issued.code),
          purpose: request.purpose,
          mall: request.client.mall,
        });
      } catch (error) {
        this.logger.error({ event: 'otp-send-failed', sender: this.sender.kind, mall: request.client.mall, reason: (error as Error).message }, 'one-time code could not be sent');
        return { ok: false, reason: 'sendFailed' };
      }
    }
    this.logger.info({ event: 'otp-issued', purpose: request.purpose, mall: request.client.mall }, 'one-time code issued');
    return { ok: true, challengeId: issued.id };
  }

  check(client: ClientRef, challengeId: string, code: string): CheckOutcome {
    const clientKey = this.clientKeyOf(client);
    const failureKey = `verify-fail:${clientKey ?? `mall:${client.mall}:${challengeId}`}`;
    if (this.limiter.exhausted(failureKey, this.settings.verifyFailuresPerClientPerHour)) return { ok: false, reason: 'rateLimited' };
    const result = this.challenges.verify(challengeId, code, this.now(), this.settings.maxAttempts);
    if (!result.ok) this.limiter.record(failureKey);
    return result;
  }

  purge(): number {
    return this.challenges.purge(this.now());
  }

  private clientKeyOf(client: ClientRef): string | undefined {
    if (client.clientMac === undefined) return undefined;
    return `client:${client.gateway}:${client.mall}:${hmacB64(this.clientKey, client.clientMac)}`;
  }
}
