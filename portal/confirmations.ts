import { platformTopics } from '../protocol/platform.ts';
import type { LoginEventBuilder } from './events/login-event.ts';
import type { GatewayConfirmation } from './gateways/types.ts';

interface Expected {
  mall: string;
  memberId: string;
  expiresMs: number;
}

/**
 * Logins of consenting members whose MAC was only a claim, waiting for the gateway to confirm it server to
 * server (WiFiDog /auth). In memory, bounded and short-lived; on confirmation a `link` member event goes out.
 */
export class PendingConfirmations {
  private readonly expected = new Map<string, Expected>();

  constructor(
    private readonly events: LoginEventBuilder,
    private readonly publish: (topic: string, payload: unknown) => void,
    private readonly portalId: string,
    private readonly now: () => number,
    private readonly ttlMs = 10 * 60 * 1000, // 10 min: WiFiDog calls /auth within seconds of the grant redirect
    private readonly maxEntries = 20_000,
  ) {}

  expect(loginRef: string, mall: string, memberId: string): void {
    this.expected.set(loginRef, { mall, memberId, expiresMs: this.now() + this.ttlMs });
    while (this.expected.size > this.maxEntries) {
      const oldest = this.expected.keys().next();
      if (oldest.done === true) break;
      this.expected.delete(oldest.value);
    }
  }

  /** GatewayDeps.onConfirmed: true when a member link was published. */
  confirm(confirmation: GatewayConfirmation): boolean {
    const entry = this.expected.get(confirmation.loginRef);
    this.expected.delete(confirmation.loginRef);
    if (entry === undefined || entry.expiresMs <= this.now() || entry.mall !== confirmation.mall) return false;
    this.publish(platformTopics.portalMember(entry.mall, this.portalId), this.events.memberLink(entry.memberId, confirmation.clientMac));
    return true;
  }
}
