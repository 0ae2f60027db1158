import type { Logger } from '../../core/logger.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { campaignPoint, writeAnnotations } from './annotations.ts';
import { type Campaign, defaultTimeZone, type MallInfo, validateCampaign } from './model.ts';
import { buildReport, type CampaignReport, reportOptionsDefaults } from './report.ts';
import type { CampaignRepository } from './repository.ts';
import { formatZoned } from './zoned-time.ts';

/** Whether the Grafana annotation point followed a change: written, failed (logged; `plaza campaigns sync` repairs), or no store. */
export type AnnotationState = 'written' | 'failed' | 'no-store';

/** A campaign as the API, page and CLI show it: instants as local ISO times of the mall. */
export interface CampaignView {
  id: string;
  name: string;
  mall: string;
  stores: string[];
  controlStores: string[];
  start: string;
  end: string;
  startMs: number;
  endMs: number;
  timeZone: string;
  notes: string;
  createdAt: string;
  updatedAt: string;
}

export interface CampaignServiceDeps {
  repository: CampaignRepository;
  store: TimeSeriesStore | undefined;
  /** A configured mall's time zone and stores; undefined for malls the config does not list. */
  mallInfo: (mall: string) => MallInfo | undefined;
  logger: Logger;
  now?: () => number;
}

/** Campaign use cases shared by the ops API, the page and the CLI: validate, store, annotate, report. */
export class CampaignService {
  constructor(private readonly deps: CampaignServiceDeps) {}

  get hasStore(): boolean {
    return this.deps.store !== undefined;
  }

  timeZoneOf(mall: string): string {
    return this.deps.mallInfo(mall)?.timeZone ?? defaultTimeZone;
  }

  view(c: Campaign): CampaignView {
    const tz = this.timeZoneOf(c.mall);
    return {
      id: c.id,
      name: c.name,
      mall: c.mall,
      stores: c.stores,
      controlStores: c.controlStores,
      start: formatZoned(c.startMs, tz),
      end: formatZoned(c.endMs, tz),
      startMs: c.startMs,
      endMs: c.endMs,
      timeZone: tz,
      notes: c.notes,
      createdAt: new Date(c.createdMs).toISOString(),
      updatedAt: new Date(c.updatedMs).toISOString(),
    };
  }

  list(mall?: string): Campaign[] {
    return this.deps.repository.list(mall === undefined ? {} : { mall });
  }

  get(id: string): Campaign | undefined {
    return this.deps.repository.get(id);
  }

  /** Throws CampaignValidationError or CampaignConflictError. */
  async create(input: unknown): Promise<{ campaign: Campaign; annotation: AnnotationState }> {
    const { id, fields } = validateCampaign(input, this.deps.mallInfo);
    const campaign = this.deps.repository.create(fields, id);
    return { campaign, annotation: await this.annotate(undefined, campaign) };
  }

  /** Replaces a campaign's fields; an id in the input must match. Throws CampaignNotFoundError or CampaignValidationError. */
  async update(id: string, input: unknown): Promise<{ campaign: Campaign; annotation: AnnotationState }> {
    const { fields } = validateCampaign({ ...(input as object), id }, this.deps.mallInfo);
    const { before, after } = this.deps.repository.update(id, fields);
    return { campaign: after, annotation: await this.annotate(before, after) };
  }

  async delete(id: string): Promise<{ campaign: Campaign; annotation: AnnotationState }> {
    const campaign = this.deps.repository.delete(id);
    return { campaign, annotation: await this.annotate(campaign, undefined) };
  }

  async report(campaign: Campaign, options: { weeks?: number; excludeDates?: readonly string[] } = {}): Promise<CampaignReport> {
    const store = this.deps.store;
    if (store === undefined) throw new Error('no time-series store in this process');
    const weeks = options.weeks ?? reportOptionsDefaults.weeks;
    const earliest = campaign.startMs - (weeks + 1) * 7 * 24 * 3600 * 1000;
    return buildReport(store, campaign, {
      weeks,
      excludeDates: options.excludeDates ?? [],
      nowMs: (this.deps.now ?? Date.now)(),
      timeZone: this.timeZoneOf(campaign.mall),
      otherCampaigns: this.deps.repository.overlapping(campaign.mall, earliest, campaign.endMs, campaign.id),
    });
  }

  /** Rewrites the annotation point of every campaign (after a store outage or a new store); returns how many. */
  async syncAnnotations(): Promise<number> {
    const store = this.deps.store;
    if (store === undefined) throw new Error('no time-series store configured');
    const campaigns = this.deps.repository.list();
    await store.write(campaigns.map(campaignPoint));
    return campaigns.length;
  }

  /** The repository is the record; the annotation is best effort so a store outage never loses a campaign. */
  private async annotate(before: Campaign | undefined, after: Campaign | undefined): Promise<AnnotationState> {
    const store = this.deps.store;
    if (store === undefined) return 'no-store';
    try {
      await writeAnnotations(store, before, after);
      return 'written';
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message, campaign: (after ?? before)?.id }, 'campaign annotation not written');
      return 'failed';
    }
  }
}
