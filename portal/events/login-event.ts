import { randomUUID } from 'node:crypto';
import { DayKeys, deriveLinkKey, linkHash, localDate, pseudonymise } from '../../ingest/pseudonym.ts';
import { idPattern } from '../../protocol/ids.ts';
import { type PortalLoginEvent, type PortalLoginMethod, type PortalMemberEvent, portalLoginEventSchema, portalMemberEventSchema } from '../../protocol/payloads/portal-login.ts';
import type { GatewayArrival } from '../gateways/types.ts';
import { deriveMemberRefKey, memberRef } from '../keys.ts';

export interface LoginFacts {
  arrival: GatewayArrival;
  method: PortalLoginMethod;
  memberId?: string | undefined;
  /** Current consents of the member after this login (guests: none). */
  analytics: boolean;
  marketing: boolean;
  termsVersion: string;
  /** The gateway confirmed the MAC during the grant (GrantResult.macConfirmed), even if the redirect's was a claim. */
  macConfirmed?: boolean | undefined;
}

export interface LoginEventSettings {
  /** ingest.hashSecret: the same master secret ingest uses, so pseudonyms and link hashes agree. */
  hashSecret: string;
  timeZoneOf: (mall: string) => string;
  storeOf: (mall: string, apId: string) => string | undefined;
  now: () => number;
}

const apPattern = /^[A-Za-z0-9._:-]{1,64}$/;

/** Turns a login into the event ingest receives; the raw MAC is pseudonymised here and goes no further. */
export class LoginEventBuilder {
  private readonly dayKeys: DayKeys;
  private readonly linkKey: Buffer;
  private readonly memberRefKey: Buffer;

  constructor(private readonly settings: LoginEventSettings) {
    this.dayKeys = new DayKeys(settings.hashSecret);
    this.linkKey = deriveLinkKey(settings.hashSecret);
    this.memberRefKey = deriveMemberRefKey(settings.hashSecret);
  }

  login(facts: LoginFacts): PortalLoginEvent {
    const ts = this.settings.now();
    const { arrival } = facts;
    const mac = arrival.clientMac;
    const trusted = arrival.macTrusted || facts.macConfirmed === true;
    const ap = arrival.apId !== undefined && apPattern.test(arrival.apId) ? arrival.apId : undefined;
    const store = ap === undefined ? undefined : this.settings.storeOf(arrival.mall, ap);
    const event: PortalLoginEvent = {
      v: 1,
      eventId: randomUUID(),
      ts,
      mall: arrival.mall,
      gateway: arrival.gateway,
      method: facts.method,
      member: facts.memberId !== undefined,
      macTrusted: trusted,
      consents: { termsVersion: facts.termsVersion, analytics: facts.analytics, marketing: facts.marketing },
    };
    if (ap !== undefined) event.ap = ap;
    if (store !== undefined && idPattern.test(store)) event.store = store;
    if (mac !== undefined) {
      const date = localDate(ts, this.settings.timeZoneOf(arrival.mall));
      event.device = pseudonymise(this.dayKeys.keyFor(arrival.mall, date), mac);
      // Only a member's own analytics consent on a MAC the gateway vouched for may create a lasting link.
      if (facts.memberId !== undefined && facts.analytics && trusted) {
        event.link = { linkHash: linkHash(this.linkKey, mac), memberRef: memberRef(this.memberRefKey, facts.memberId) };
      }
    }
    return portalLoginEventSchema.parse(event);
  }

  /** Withdrawal or deletion: ingest drops every link of this member. */
  memberGone(kind: 'unlink' | 'deleted', memberId: string): PortalMemberEvent {
    return portalMemberEventSchema.parse({ v: 1, eventId: randomUUID(), ts: this.settings.now(), kind, memberRef: memberRef(this.memberRefKey, memberId) });
  }

  /** A later server-to-server confirmation of a consenting member's MAC (WiFiDog /auth). */
  memberLink(memberId: string, mac: string): PortalMemberEvent {
    return portalMemberEventSchema.parse({
      v: 1,
      eventId: randomUUID(),
      ts: this.settings.now(),
      kind: 'link',
      memberRef: memberRef(this.memberRefKey, memberId),
      linkHash: linkHash(this.linkKey, mac),
    });
  }
}
