import type { Component } from '../../core/component.ts';
import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import type { TimeSeriesStore } from '../../ingest/store/types.ts';
import type { MallInfo } from './model.ts';
import { CampaignRepository } from './repository.ts';
import { CampaignService } from './service.ts';

/** A configured mall's time zone and store ids, as campaign validation and reports need them. */
export function mallInfoFrom(config: Pick<Config, 'malls'>): (mall: string) => MallInfo | undefined {
  return (mall) => {
    const entry = config.malls[mall];
    return entry === undefined ? undefined : { timeZone: entry.timeZone, stores: Object.keys(entry.stores) };
  };
}

/** The campaign service over `<dataDir>/campaigns.sqlite`, with a component that opens and closes the file. */
export function createCampaigns(config: Config, store: TimeSeriesStore | undefined, logger: Logger): { service: CampaignService; component: Component } {
  const repository = new CampaignRepository(config.dataDir);
  const service = new CampaignService({ repository, store, mallInfo: mallInfoFrom(config), logger });
  const component: Component = {
    name: 'campaigns',
    start: async () => {
      repository.open();
    },
    stop: async () => repository.close(),
  };
  return { service, component };
}
