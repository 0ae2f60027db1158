import type { Command } from 'commander';
import { reportCsv } from '../../dashboards/campaigns/csv.ts';
import { mallInfoFrom } from '../../dashboards/campaigns/index.ts';
import { CampaignValidationError } from '../../dashboards/campaigns/model.ts';
import { CampaignRepository } from '../../dashboards/campaigns/repository.ts';
import { type AnnotationState, CampaignService, type CampaignView } from '../../dashboards/campaigns/service.ts';
import { createStore } from '../../ingest/store/index.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import { type CliContext, createContext } from '../context.ts';

interface CampaignOptions {
  name?: string;
  mall?: string;
  stores?: string;
  control?: string;
  start?: string;
  end?: string;
  notes?: string;
  id?: string;
  json?: boolean;
}

/** Runs `work` with a campaign service on the data dir's repository and, when `withStore`, the time-series store. */
async function withService<T>(withStore: 'required' | 'best-effort' | 'none', work: (service: CampaignService, ctx: CliContext) => Promise<T>): Promise<T> {
  const ctx = createContext();
  const repository = new CampaignRepository(ctx.config.dataDir).open();
  let store: TimeSeriesStore | undefined;
  try {
    if (withStore !== 'none') {
      const candidate = createStore(ctx.config, ctx.logger);
      try {
        await candidate.open();
        store = candidate;
      } catch (error) {
        if (withStore === 'required') throw error;
        process.stderr.write(`warning: time-series store unavailable (${(error as Error).message}); the Grafana annotation is not updated (run \`plaza campaigns sync\` later)\n`);
      }
    }
    const service = new CampaignService({ repository, store, mallInfo: mallInfoFrom(ctx.config), logger: ctx.logger.child({ component: 'campaigns' }) });
    return await work(service, ctx);
  } catch (error) {
    // One line per problem, not a stack: the user typed something wrong.
    if (error instanceof CampaignValidationError) throw new Error(`invalid campaign:\n  - ${error.problems.join('\n  - ')}`);
    throw error;
  } finally {
    await store?.close();
    repository.close();
  }
}

function line(c: CampaignView): string {
  const control = c.controlStores.length > 0 ? `  control ${c.controlStores.join(',')}` : '';
  return `${c.id.padEnd(16)} ${c.mall.padEnd(12)} ${c.start} → ${c.end}  ${c.name}  [${c.stores.join(',')}]${control}`;
}

function annotationNote(state: AnnotationState): string {
  return state === 'failed' ? '\nwarning: the Grafana annotation was not written; run `plaza campaigns sync` when the store is back' : '';
}

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/** `plaza campaigns add|list|edit|delete|report|sync`: the same repository (`<dataDir>/campaigns.sqlite`) as the ops API. */
export function registerCampaignCommands(program: Command): void {
  const campaigns = program.command('campaigns').description('marketing campaigns and their uplift reports (docs/campaigns.md)');
  const fieldOptions = (command: Command, required: boolean): Command => {
    const option = (flags: string, text: string): Command => (required ? command.requiredOption(flags, text) : command.option(flags, text));
    option('--name <name>', 'campaign name');
    option('--mall <mall>', 'mall id');
    option('--stores <stores>', 'comma-separated store ids');
    option('--start <time>', 'start, ISO 8601; without offset = mall local time (2026-03-01T10:00)');
    option('--end <time>', 'end (exclusive), same format');
    return command.option('--control <stores>', 'comma-separated control store ids').option('--notes <text>', 'notes').option('--json', 'print JSON');
  };

  fieldOptions(campaigns.command('add').description('create a campaign'), true)
    .option('--id <id>', 'campaign id (default: generated)')
    .action(async (opts: CampaignOptions) =>
      withService('best-effort', async (service) => {
        const { campaign, annotation } = await service.create({
          ...(opts.id === undefined ? {} : { id: opts.id }),
          name: opts.name,
          mall: opts.mall,
          stores: opts.stores,
          controlStores: opts.control ?? '',
          start: opts.start,
          end: opts.end,
          notes: opts.notes ?? '',
        });
        const view = service.view(campaign);
        print(opts.json === true, { campaign: view, annotation }, `created ${line(view)}${annotationNote(annotation)}`);
      }),
    );

  campaigns
    .command('list')
    .description('list campaigns, newest first')
    .option('--mall <mall>', 'only this mall')
    .option('--json', 'print JSON')
    .action(async (opts: { mall?: string; json?: boolean }) =>
      withService('none', async (service) => {
        const views = service.list(opts.mall).map((c) => service.view(c));
        print(opts.json === true, views, views.length > 0 ? views.map(line).join('\n') : 'no campaigns');
      }),
    );

  fieldOptions(campaigns.command('edit <id>').description('change a campaign; options not given keep their value'), false).action(async (id: string, opts: CampaignOptions) =>
    withService('best-effort', async (service) => {
      const current = service.get(id);
      if (current === undefined) throw new Error(`no campaign ${id}`);
      const view = service.view(current);
      const { campaign, annotation } = await service.update(id, {
        name: opts.name ?? view.name,
        mall: opts.mall ?? view.mall,
        stores: opts.stores ?? view.stores,
        controlStores: opts.control ?? view.controlStores,
        start: opts.start ?? view.start,
        end: opts.end ?? view.end,
        notes: opts.notes ?? view.notes,
      });
      const after = service.view(campaign);
      print(opts.json === true, { campaign: after, annotation }, `updated ${line(after)}${annotationNote(annotation)}`);
    }),
  );

  campaigns
    .command('delete <id>')
    .description('delete a campaign')
    .action(async (id: string) =>
      withService('best-effort', async (service) => {
        const { annotation } = await service.delete(id);
        print(false, null, `deleted ${id}${annotationNote(annotation)}`);
      }),
    );

  campaigns
    .command('report <id>')
    .description('uplift report: JSON (default) or CSV')
    .option('--weeks <n>', 'baseline weeks (2-12, default 6)')
    .option('--exclude <dates>', 'comma-separated local dates (YYYY-MM-DD) left out of the baseline, e.g. holidays')
    .option('--csv', 'print CSV')
    .action(async (id: string, opts: { weeks?: string; exclude?: string; csv?: boolean }) =>
      withService('required', async (service) => {
        const campaign = service.get(id);
        if (campaign === undefined) throw new Error(`no campaign ${id}`);
        const weeks = opts.weeks === undefined ? undefined : Number(opts.weeks);
        if (weeks !== undefined && (!Number.isInteger(weeks) || weeks < 2 || weeks > 12)) throw new Error('--weeks must be a whole number from 2 to 12');
        const excludeDates = (opts.exclude ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
        const bad = excludeDates.filter((d) => !/^\d{4}-\d{2}-\d{2}$/.test(d));
        if (bad.length > 0) throw new Error(`--exclude: not a YYYY-MM-DD date: ${bad.join(', ')}`);
        const report = await service.report(campaign, { ...(weeks === undefined ? {} : { weeks }), excludeDates });
        process.stdout.write(opts.csv === true ? reportCsv(report) : `${JSON.stringify(report, null, 2)}\n`);
      }),
    );

  campaigns
    .command('sync')
    .description('rewrite the Grafana annotation point of every campaign (after a store outage)')
    .action(async () =>
      withService('required', async (service) => {
        print(false, null, `wrote ${await service.syncAnnotations()} campaign annotation(s)`);
      }),
    );
}
