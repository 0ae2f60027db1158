import { z } from 'zod';
import { idSchema } from '../../protocol/ids.ts';
import { parseZonedInstant } from './zoned-time.ts';

/** A campaign as stored: instants in UTC epoch ms; the mall's time zone turns them into local times. */
export interface Campaign {
  id: string;
  name: string;
  mall: string;
  stores: string[];
  /** Stores without the campaign, used for the difference-in-differences comparison. */
  controlStores: string[];
  startMs: number;
  /** Exclusive end. */
  endMs: number;
  notes: string;
  createdMs: number;
  updatedMs: number;
}

export type CampaignFields = Omit<Campaign, 'id' | 'createdMs' | 'updatedMs'>;

/** Limits of one campaign, with units. */
export const campaignLimits = {
  maxStores: 200,
  maxNameLength: 120,
  maxNotesLength: 2000,
  /** Longest campaign: 92 days (a quarter). */
  maxDurationMs: 92 * 24 * 3600 * 1000,
  /** Shortest campaign: 15 min, the report's time slot. */
  minDurationMs: 15 * 60 * 1000,
} as const;

/** What a mall's configuration tells validation: its time zone and, when configured, its store ids. */
export interface MallInfo {
  timeZone: string;
  /** Empty when the config lists no stores for the mall: then any store id is accepted. */
  stores: readonly string[];
}

/** Time zone of malls the config does not list: the config schema's default. */
export const defaultTimeZone = 'Asia/Shanghai';

const storeList = z
  .union([z.array(z.string()), z.string()])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter((s) => s !== '') : v))
  .pipe(z.array(idSchema).max(campaignLimits.maxStores));

const text = (max: number) =>
  z
    .string()
    .max(max)
    // Control characters other than line breaks and tabs have no place in a name or a note.
    .refine((v) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(v), 'must not contain control characters');

/** Input of create and update, from the API, the page's form and the CLI alike. */
export const campaignInputSchema = z.strictObject({
  id: idSchema.optional(),
  name: text(campaignLimits.maxNameLength).transform((v) => v.trim()).pipe(z.string().min(1, 'must not be empty')),
  mall: idSchema,
  stores: storeList.pipe(z.array(idSchema).min(1, 'needs at least one store')),
  controlStores: storeList.optional(),
  /** ISO 8601; without an offset it is local time in the mall's time zone. */
  start: z.string().max(40),
  end: z.string().max(40),
  notes: text(campaignLimits.maxNotesLength).optional(),
});

export type CampaignInput = z.input<typeof campaignInputSchema>;

export class CampaignValidationError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid campaign: ${problems.join('; ')}`);
    this.name = 'CampaignValidationError';
  }
}

/**
 * Validates an input against the mall's configuration and returns the fields to store. Every problem is
 * listed at once. `mallInfo` returns undefined for a mall the config does not know (then the default time
 * zone applies and any store id is accepted).
 */
export function validateCampaign(raw: unknown, mallInfo: (mall: string) => MallInfo | undefined): { id: string | undefined; fields: CampaignFields } {
  const parsed = campaignInputSchema.safeParse(raw);
  if (!parsed.success) throw new CampaignValidationError(parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`));
  const input = parsed.data;
  const info = mallInfo(input.mall);
  const timeZone = info?.timeZone ?? defaultTimeZone;
  const problems: string[] = [];
  const startMs = parseZonedInstant(input.start, timeZone);
  const endMs = parseZonedInstant(input.end, timeZone);
  if (startMs === undefined) problems.push('start: must be an ISO 8601 date and time, e.g. 2026-03-01T10:00 (mall time) or 2026-03-01T02:00Z');
  if (endMs === undefined) problems.push('end: must be an ISO 8601 date and time, e.g. 2026-03-08T22:00 (mall time)');
  if (startMs !== undefined && endMs !== undefined) {
    if (endMs <= startMs) problems.push('end: must be after start');
    else if (endMs - startMs < campaignLimits.minDurationMs) problems.push('end: a campaign lasts at least 15 minutes');
    else if (endMs - startMs > campaignLimits.maxDurationMs) problems.push('end: a campaign lasts at most 92 days');
  }
  const stores = [...new Set(input.stores)].sort();
  const controlStores = [...new Set(input.controlStores ?? [])].sort();
  const both = controlStores.filter((s) => stores.includes(s));
  if (both.length > 0) problems.push(`controlStores: ${both.join(', ')} cannot be both a campaign store and a control store`);
  if (info !== undefined && info.stores.length > 0) {
    const unknown = [...stores, ...controlStores].filter((s) => !info.stores.includes(s));
    if (unknown.length > 0) problems.push(`stores: ${[...new Set(unknown)].join(', ')} not configured for mall ${input.mall}`);
  }
  if (problems.length > 0) throw new CampaignValidationError(problems);
  return {
    id: input.id,
    fields: { name: input.name, mall: input.mall, stores, controlStores, startMs: startMs as number, endMs: endMs as number, notes: (input.notes ?? '').trim() },
  };
}
