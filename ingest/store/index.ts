import type { Config } from '../../core/config.ts';
import type { Logger } from '../../core/logger.ts';
import { InfluxStore } from './influx.ts';
import { SqliteStore } from './sqlite.ts';
import type { TimeSeriesStore } from './types.ts';

export { InfluxStore, influxDefaults, type InfluxStoreOptions } from './influx.ts';
export { SqliteStore, sqliteDefaults, type SqliteStoreOptions } from './sqlite.ts';
export * from './types.ts';

/**
 * InfluxDB when `influx.url` is set (PLAZA_INFLUX_URL), else the embedded SQLite store under dataDir.
 * Retention: SQLite deletes points older than `ingest.retentionDays`; InfluxDB gets a retention policy of that
 * many days when `influx.rp` names one (otherwise the database's default policy applies, as its admin set it).
 * The store is not opened here: the caller calls open().
 */
export function createStore(config: Config, logger: Logger): TimeSeriesStore {
  const { influx } = config;
  const retentionDays = config.ingest.retentionDays;
  if (influx.url !== undefined) {
    return new InfluxStore(
      {
        url: influx.url,
        db: influx.db,
        rp: influx.rp,
        rpDuration: influx.rp === undefined ? undefined : `${retentionDays}d`,
        token: influx.token,
        username: influx.username,
        password: influx.password,
      },
      logger.child({ component: 'store', adapter: 'influx' }),
    );
  }
  return new SqliteStore({ dataDir: config.dataDir, retentionDays }, logger.child({ component: 'store', adapter: 'sqlite' }));
}
