import { randomUUID } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { MemberLinks } from '../../../ingest/portal/member-links.ts';
import { PortalProcessor } from '../../../ingest/portal/processor.ts';
import { deriveLinkKey, linkHash } from '../../../ingest/pseudonym.ts';
import type { PortalLoginEvent } from '../../../protocol/payloads/portal-login.ts';
import { portalLoginEventSchema } from '../../../protocol/payloads/portal-login.ts';
import { tempDir } from '../../support/tmp.ts';

const t0 = Date.parse('2026-11-27T02:00:00Z');
const key = deriveLinkKey('test-master-secret-0123456789');
const phoneMac = '5e:11:22:33:44:55';
const memberRef = 'bWVtYmVyLXJlZi0wMDAwMQ';

function login(overrides: Partial<PortalLoginEvent> = {}): PortalLoginEvent {
  return portalLoginEventSchema.parse({
    v: 1,
    eventId: randomUUID(),
    ts: t0 + 30_000,
    mall: 'm1',
    store: 's1',
    gateway: 'opennds',
    method: 'member',
    member: true,
    macTrusted: true,
    consents: { termsVersion: '2026-01', analytics: true, marketing: false },
    link: { linkHash: linkHash(key, phoneMac), memberRef },
    ...overrides,
  });
}

describe('PortalProcessor', () => {
  let db: Database.Database;
  let links: MemberLinks;
  let portal: PortalProcessor;
  const dir = tempDir('portal-ingest');
  beforeEach(() => {
    db?.close();
    db = new Database(path.join(dir, `${randomUUID()}.sqlite`));
    links = new MemberLinks();
    portal = new PortalProcessor(links);
    portal.migrate(db);
  });
  afterAll(() => db.close());

  it('counts logins, member logins and sign-ups per store, method and minute', () => {
    portal.login(login({ method: 'guest', member: false, link: undefined }));
    portal.login(login({ method: 'member' }));
    const points = portal.login(login({ method: 'member', link: undefined }));
    portal.login(login({ method: 'signup' }));
    expect(points).toEqual([
      { measurement: 'portal_login', tags: { mall: 'm1', method: 'member', store: 's1' }, fields: { logins: { int: 2 }, member_logins: { int: 2 }, signups: { int: 0 } }, tsMs: t0 },
    ]);
  });

  it('ignores a redelivered event', () => {
    const event = login();
    portal.login(event);
    expect(portal.login(event)).toEqual([]);
    expect(portal.stats.duplicates).toBe(1);
  });

  it('links a device only with analytics consent on a trusted MAC', () => {
    portal.login(login({ consents: { termsVersion: '2026-01', analytics: false, marketing: true } }));
    expect(links.lookup(linkHash(key, phoneMac))).toBeUndefined();
    portal.login(login({ macTrusted: false }));
    expect(links.lookup(linkHash(key, phoneMac))).toBeUndefined();
    expect(portal.stats.linkRefused).toBe(2);
    portal.login(login());
    expect(links.lookup(linkHash(key, phoneMac))).toBe(memberRef);
  });

  it('unlinks on withdrawal and keeps a late, older login from linking again', () => {
    portal.login(login({ ts: t0 }));
    portal.member({ v: 1, eventId: randomUUID(), ts: t0 + 60_000, kind: 'unlink', memberRef });
    expect(links.lookup(linkHash(key, phoneMac))).toBeUndefined();
    portal.login(login({ ts: t0 + 30_000 })); // reordered: happened before the withdrawal
    expect(links.lookup(linkHash(key, phoneMac))).toBeUndefined();
    portal.login(login({ ts: t0 + 120_000 })); // consented again later
    expect(links.lookup(linkHash(key, phoneMac))).toBe(memberRef);
  });

  it('keeps links across restarts and never stores the MAC', () => {
    portal.login(login());
    const reopened = new MemberLinks();
    reopened.migrate(db);
    expect(reopened.lookup(linkHash(key, phoneMac))).toBe(memberRef);
    const rows = JSON.stringify(db.prepare('SELECT * FROM member_links').all());
    expect(rows).not.toContain(phoneMac);
    expect(rows).not.toContain(phoneMac.replaceAll(':', ''));
  });
});
