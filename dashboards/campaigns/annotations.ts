import type { Point, TimeSeriesStore } from '../../ingest/store/types.ts';
import type { Campaign } from './model.ts';

/** Measurement holding campaign windows for Grafana annotations (docs/campaigns.md). */
export const campaignMeasurement = 'campaign';

/**
 * A campaign as one point at its start: tags mall and campaign id; fields name, stores and control_stores
 * (comma-separated), end_ms (the annotation's region end) and active (1; 0 once deleted or moved). A store
 * cannot delete a point through the TimeSeriesStore contract, so a deleted or moved campaign stays as a
 * point with active = 0, which the dashboard's annotation query filters out.
 */
export function campaignPoint(c: Campaign): Point {
  return {
    measurement: campaignMeasurement,
    tags: { mall: c.mall, campaign: c.id },
    fields: { name: c.name, stores: c.stores.join(','), control_stores: c.controlStores.join(','), end_ms: { int: c.endMs }, active: { int: 1 } },
    tsMs: c.startMs,
  };
}

function retired(c: Campaign): Point {
  return { measurement: campaignMeasurement, tags: { mall: c.mall, campaign: c.id }, fields: { active: { int: 0 } }, tsMs: c.startMs };
}

/** Points that bring the store in line with a change: before undefined = created, after undefined = deleted. */
export function annotationPoints(before: Campaign | undefined, after: Campaign | undefined): Point[] {
  const points: Point[] = [];
  const moved = before !== undefined && (after === undefined || before.startMs !== after.startMs || before.mall !== after.mall);
  if (moved) points.push(retired(before));
  if (after !== undefined) points.push(campaignPoint(after));
  return points;
}

export async function writeAnnotations(store: TimeSeriesStore, before: Campaign | undefined, after: Campaign | undefined): Promise<void> {
  await store.write(annotationPoints(before, after));
}
