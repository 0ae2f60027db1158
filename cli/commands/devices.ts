import type { Command } from 'commander';
import { serviceRoles, type ServiceRole } from '../../broker/registry.ts';
import { type DeviceKind, deviceKinds } from '../../protocol/topics.ts';
import { createContext, openRegistry } from '../context.ts';

function print(json: boolean, value: unknown, text: string): void {
  process.stdout.write(json ? `${JSON.stringify(value)}\n` : `${text}\n`);
}

/** `plaza devices …` and `plaza services …`: provisioning of MQTT credentials. */
export function registerDeviceCommands(program: Command): void {
  const devices = program.command('devices').description('provision door counters and Wi-Fi probes');

  devices
    .command('add')
    .description('create a device and print its credentials (shown only once)')
    .requiredOption('--mall <mall>', 'mall id')
    .requiredOption('--store <store>', 'store id')
    .requiredOption('--kind <kind>', `device kind: ${deviceKinds.join(' | ')}`)
    .option('--id <id>', 'device id (default: generated)')
    .option('--json', 'print JSON')
    .action(async (opts: { mall: string; store: string; kind: string; id?: string; json?: boolean }) => {
      if (!deviceKinds.includes(opts.kind as DeviceKind)) throw new Error(`--kind must be one of ${deviceKinds.join(', ')}`);
      const registry = openRegistry(createContext().config);
      try {
        const creds = await registry.addDevice({ mall: opts.mall, store: opts.store, kind: opts.kind as DeviceKind, ...(opts.id ? { id: opts.id } : {}) });
        print(
          opts.json === true,
          creds,
          [
            `device   ${creds.id} (${creds.kind}) in ${creds.mall}/${creds.store}`,
            `username ${creds.username}`,
            `password ${creds.password}`,
            `topic    ${creds.topic}`,
            'The password is shown only this once; store it in the device now.',
          ].join('\n'),
        );
      } finally {
        registry.close();
      }
    });

  devices
    .command('list')
    .description('list devices')
    .option('--mall <mall>', 'only this mall')
    .option('--json', 'print JSON')
    .action((opts: { mall?: string; json?: boolean }) => {
      const registry = openRegistry(createContext().config);
      try {
        const list = registry.listDevices(opts.mall ? { mall: opts.mall } : {});
        const lines = list.map(
          (d) =>
            `${d.id.padEnd(24)} ${d.kind.padEnd(6)} ${`${d.mall}/${d.store}`.padEnd(32)} ${new Date(d.createdMs).toISOString()}${d.revokedMs === null ? '' : '  REVOKED'}`,
        );
        print(opts.json === true, list, lines.length > 0 ? lines.join('\n') : 'no devices');
      } finally {
        registry.close();
      }
    });

  devices
    .command('rotate <id>')
    .description('issue a new secret; the old one stops working at once')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { json?: boolean }) => {
      const registry = openRegistry(createContext().config);
      try {
        const creds = await registry.rotateDevice(id);
        print(opts.json === true, creds, `username ${creds.username}\npassword ${creds.password}\nThe password is shown only this once.`);
      } finally {
        registry.close();
      }
    });

  devices
    .command('revoke <id>')
    .description('revoke a device; it is disconnected and can no longer connect')
    .action((id: string) => {
      const registry = openRegistry(createContext().config);
      try {
        registry.revokeDevice(id);
        process.stdout.write(`revoked ${id}\n`);
      } finally {
        registry.close();
      }
    });

  devices
    .command('config <id>')
    .description('show or change what a device is told on its retained config topic (applied by the broker within 10 s)')
    .option('--report-interval <s>', 'seconds between readings (1-3600)')
    .option('--rssi-floor <dBm>', 'probes drop sightings weaker than this (-120..0)')
    .option('--heartbeat-interval <s>', 'seconds between heartbeats (10-3600)')
    .option('--json', 'print JSON')
    .action((id: string, opts: { reportInterval?: string; rssiFloor?: string; heartbeatInterval?: string; json?: boolean }) => {
      const toInt = (value: string | undefined, name: string): number | undefined => {
        if (value === undefined) return undefined;
        if (!/^-?\d+$/.test(value)) throw new Error(`${name} must be an integer`);
        return Number(value);
      };
      const registry = openRegistry(createContext().config);
      try {
        const changes = {
          reportIntervalS: toInt(opts.reportInterval, '--report-interval'),
          rssiFloorDbm: toInt(opts.rssiFloor, '--rssi-floor'),
          heartbeatIntervalS: toInt(opts.heartbeatInterval, '--heartbeat-interval'),
        };
        const changed = Object.values(changes).some((v) => v !== undefined);
        const config = changed ? registry.setDeviceConfig(id, changes) : registry.deviceConfig(id);
        print(opts.json === true, config, Object.entries(config).map(([k, v]) => `${k.padEnd(20)} ${String(v)}`).join('\n'));
      } finally {
        registry.close();
      }
    });

  const services = program.command('services').description('service accounts for platform components in their own process');
  services
    .command('add <role>')
    .description(`create or reset a service account: ${serviceRoles.join(' | ')}`)
    .option('--name <name>', 'instance name, e.g. ingest-1')
    .option('--json', 'print JSON')
    .action(async (role: string, opts: { name?: string; json?: boolean }) => {
      if (!serviceRoles.includes(role as ServiceRole)) throw new Error(`role must be one of ${serviceRoles.join(', ')}`);
      const registry = openRegistry(createContext().config);
      try {
        const creds = await registry.addService(role as ServiceRole, opts.name);
        print(
          opts.json === true,
          creds,
          `username ${creds.username}\npassword ${creds.password}\nSet PLAZA_MQTT_USERNAME and PLAZA_MQTT_PASSWORD for the component; shown only once.`,
        );
      } finally {
        registry.close();
      }
    });
}
