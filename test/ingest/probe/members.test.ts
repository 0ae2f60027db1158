import { afterEach, describe, expect, it } from 'vitest';
import { OptOuts } from '../../../ingest/optouts.ts';
import { MemberLinks } from '../../../ingest/portal/member-links.ts';
import { MemberVisits } from '../../../ingest/portal/member-visits.ts';
import { PortalProcessor } from '../../../ingest/portal/processor.ts';
import { deriveLinkKey, linkHash } from '../../../ingest/pseudonym.ts';
import type { Point } from '../../../ingest/store/types.ts';
import { tempDir } from '../../support/tmp.ts';
import { masterSecret, minuteMs, ProbeHarness, t0 } from './harness.ts';

const key = deriveLinkKey(masterSecret);
const memberPhone = '6a:10:20:30:40:50'; // per-SSID private MAC of a joined phone
const strangerPhone = '6a:99:88:77:66:55';
const laptop = '3c:22:fb:11:22:33'; // a global (burned-in) MAC
const memberRef = 'bWVtYmVyLXJlZi0wMDAwMQ';
const day = 24 * 3_600_000;

function memberCounts(points: Point[]): { members: number; repeat: number; first: number } | undefined {
  const last = points.filter((p) => p.measurement === 'member_visits').at(-1);
  if (last === undefined) return undefined;
  const f = last.fields as Record<string, { int: number }>;
  return { members: f.members?.int ?? 0, repeat: f.repeat_members?.int ?? 0, first: f.first_time_members?.int ?? 0 };
}

describe('member visits and opt-outs in the probe processor', () => {
  const closers: (() => void)[] = [];
  afterEach(() => {
    while (closers.length > 0) closers.pop()?.();
  });

  function setup() {
    const links = new MemberLinks();
    const visits = new MemberVisits();
    const optOuts = OptOuts.open(tempDir('optouts'));
    closers.push(() => optOuts.close());
    const harness = new ProbeHarness({}, { members: { links, visits }, optOuts });
    const portal = new PortalProcessor(links, visits);
    portal.migrate(harness.db);
    return { harness, links, visits, optOuts, portal };
  }

  it('counts a linked member once per store and day, first-time then repeat', () => {
    const { harness, links } = setup();
    links.link(linkHash(key, memberPhone), memberRef, t0 - day);
    const first = harness.send([{ mac: memberPhone, assoc: true, ts: t0 }, { mac: strangerPhone, assoc: true, ts: t0 }]);
    expect(memberCounts(first)).toEqual({ members: 1, repeat: 0, first: 1 });
    expect(harness.send([{ mac: memberPhone, assoc: true, ts: t0 + 5 * minuteMs }]).filter((p) => p.measurement === 'member_visits')).toEqual([]);
    const nextDay = harness.send([{ mac: memberPhone, assoc: true, ts: t0 + day }], { receivedAtMs: t0 + day });
    expect(memberCounts(nextDay)).toEqual({ members: 1, repeat: 1, first: 0 });
    expect(harness.processor.stats.memberSightings).toBe(3);
  });

  it('stops counting after consent is withdrawn and forgets the member’s visit days', () => {
    const { harness, links, portal } = setup();
    links.link(linkHash(key, memberPhone), memberRef, t0 - day);
    harness.send([{ mac: memberPhone, assoc: true, ts: t0 }]);
    portal.member({ v: 1, eventId: '0b7c7a43-2b4f-4b6e-9d7a-0d4b1f0f7e11', ts: t0 + minuteMs, kind: 'unlink', memberRef });
    const after = harness.send([{ mac: memberPhone, assoc: true, ts: t0 + day }], { receivedAtMs: t0 + day });
    expect(after.filter((p) => p.measurement === 'member_visits')).toEqual([]);
    expect(harness.db.prepare('SELECT COUNT(*) AS n FROM member_days').get()).toEqual({ n: 0 });
  });

  it('drops every sighting of an opted-out device before anything is counted', () => {
    const { harness, optOuts } = setup();
    optOuts.add(linkHash(key, laptop));
    optOuts.add(linkHash(key, strangerPhone));
    // A global MAC probing, and a joined phone's stable private MAC: both recognisable, both dropped.
    const points = harness.send([{ mac: laptop, ts: t0, rssi: -40 }, { mac: strangerPhone, assoc: true, ts: t0 + 1000, rssi: -40 }]);
    expect(points).toEqual([]);
    expect(harness.processor.stats.optedOut).toBe(2);
    const counted = harness.send([{ mac: memberPhone, assoc: true, ts: t0 + 2000, rssi: -40 }]);
    expect(counted.some((p) => p.measurement === 'presence')).toBe(true);
  });

  it('picks up opt-outs added by another process', () => {
    const dir = tempDir('optouts-shared');
    const ingestSide = OptOuts.open(dir);
    const cliSide = OptOuts.open(dir);
    closers.push(() => ingestSide.close(), () => cliSide.close());
    cliSide.add(linkHash(key, strangerPhone));
    expect(ingestSide.has(linkHash(key, strangerPhone))).toBe(false);
    ingestSide.reload();
    expect(ingestSide.has(linkHash(key, strangerPhone))).toBe(true);
  });
});
