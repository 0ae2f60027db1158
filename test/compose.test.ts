import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { configFileEnv, envBindings, loadConfig } from '../core/config.ts';
import { defaultRetentionPolicy } from '../dashboards/grafana/dashboards.ts';

// No Docker engine runs here: the compose file is checked against the config schema and the repository instead.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Service {
  build?: string;
  image?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
}
const compose = parseYaml(readFileSync(path.join(root, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service>; volumes: Record<string, unknown> };
const services = compose.services;
const plazaServices = Object.entries(services).filter(([, s]) => s.build !== undefined);

/** Compose interpolation: ${X}, ${X:-default}, ${X:?error}, from the given .env values. */
function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(/\$\{(\w+)(?::([-?])([^}]*))?\}/g, (_m, name: string, op?: string, arg?: string) => {
    const set = env[name];
    if (set !== undefined && set !== '') return set;
    if (op === '-') return arg ?? '';
    if (op === '?') throw new Error(`${name} is required: ${arg ?? ''}`);
    return '';
  });
}

/** A complete .env as docs/operations.md tells the operator to write it. */
const dotEnv = {
  PLAZA_INGEST_MQTT_USERNAME: 'svc-ingest',
  PLAZA_INGEST_MQTT_PASSWORD: 'ingest-password-from-services-add',
  PLAZA_PORTAL_MQTT_USERNAME: 'svc-portal',
  PLAZA_PORTAL_MQTT_PASSWORD: 'portal-password-from-services-add',
  PLAZA_HASH_SECRET: 'a-long-random-hash-secret-value',
  PLAZA_PORTAL_SECRET: 'a-portal-secret-of-at-least-32-characters!',
  PLAZA_OPS_TOKEN: 'an-ops-token-of-some-length',
  GRAFANA_ADMIN_PASSWORD: 'grafana-admin-password',
};

const envOf = (service: Service, env: Record<string, string> = dotEnv): Record<string, string> =>
  Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), env)]));

const containerPort = (mapping: string): number => Number(mapping.split(':').at(-1));

describe('docker-compose.yml', () => {
  it('runs broker, ingest and portal from the one image with their commands, InfluxDB 1.x and Grafana pinned', () => {
    expect(Object.keys(services).sort()).toEqual(['broker', 'grafana', 'influxdb', 'ingest', 'portal', 'prometheus']);
    expect(Object.fromEntries(plazaServices.map(([name, s]) => [name, s.command]))).toEqual({ broker: ['broker'], ingest: ['ingest'], portal: ['portal'] });
    expect(new Set(plazaServices.map(([, s]) => `${s.build} ${s.image}`)).size).toBe(1);
    expect(services.influxdb?.image).toMatch(/^influxdb:1\.\d+\.\d+$/);
    expect(services.grafana?.image).toMatch(/^grafana\/grafana-oss:\d+\.\d+\.\d+$/);
  });

  it('Prometheus is pinned, scrapes ingest’s ops port, and Grafana has it as a datasource', () => {
    const prometheus = services.prometheus;
    expect(prometheus?.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    const mount = (prometheus?.volumes ?? []).find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'));
    expect(mount).toBeDefined();
    const scrape = parseYaml(readFileSync(path.join(root, (mount as string).split(':')[0] as string), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const opsPort = loadConfig({ env: envOf(services.ingest as Parameters<typeof envOf>[0]) }).ops.port;
    expect(scrape.scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets))).toEqual([`ingest:${opsPort}`]);
    const datasource = parseYaml(readFileSync(path.join(root, 'dashboards/grafana/provisioning/datasources/prometheus.yaml'), 'utf8')) as { datasources: { type: string; url: string }[] };
    expect(datasource.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
  });

  it('the Dockerfile exists and runs bin/plaza.js, with the sources every command needs', () => {
    const dockerfile = readFileSync(path.join(root, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^ENTRYPOINT \["node", "bin\/plaza\.js"\]$/m);
    expect(existsSync(path.join(root, 'bin/plaza.js'))).toBe(true);
    const copied = [...dockerfile.matchAll(/^COPY (?!--from)(\S+)/gm)].map((m) => m[1]);
    for (const dir of ['bin', 'protocol', 'core', 'broker', 'ingest', 'ops', 'portal', 'cli']) expect(copied, dir).toContain(dir);
    for (const source of copied) expect(existsSync(path.join(root, source as string)), `COPY ${source}`).toBe(true);
    expect(dockerfile).toMatch(/^USER node$/m);
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8').split('\n');
    for (const entry of ['node_modules', '.git', '.env', 'data']) expect(ignored).toContain(entry);
  });

  it.each(plazaServices)('%s: every environment variable is one the config schema knows, and the result loads', (_name, service) => {
    for (const key of Object.keys(service.environment ?? {})) expect(key === configFileEnv || Object.hasOwn(envBindings, key), key).toBe(true);
    const config = loadConfig({ env: envOf(service) });
    expect(config.dataDir).toBe('/data');
  });

  it('secrets come from .env, never from the file, and a missing one stops compose', () => {
    const secrets = ['PLAZA_MQTT_PASSWORD', 'PLAZA_HASH_SECRET', 'PLAZA_PORTAL_SECRET', 'PLAZA_OPS_TOKEN', 'PLAZA_INFLUX_TOKEN', 'PLAZA_INFLUX_PASSWORD', 'GF_SECURITY_ADMIN_PASSWORD'];
    let seen = 0;
    for (const [name, service] of Object.entries(services)) {
      for (const [key, value] of Object.entries(service.environment ?? {})) {
        if (!secrets.includes(key)) continue;
        seen += 1;
        expect(String(value), `${name} ${key}`).toMatch(/^\$\{\w+:\?[^}]+\}$/);
        const without = Object.fromEntries(Object.entries(dotEnv).filter(([k]) => !String(value).includes(`{${k}:`)));
        expect(() => envOf(service, without), `${name} ${key}`).toThrow(/is required/);
      }
    }
    expect(seen).toBeGreaterThanOrEqual(7);
  });

  it('published ports are unique and reach the port each component listens on', () => {
    const hostPorts = Object.values(services).flatMap((s) => (s.ports ?? []).map((p) => p.split(':')[0]));
    expect(new Set(hostPorts).size).toBe(hostPorts.length);
    const listening = (name: string): number[] => {
      const config = loadConfig({ env: envOf(services[name] as Service) });
      return name === 'broker' ? [config.mqtt.port] : name === 'ingest' ? [config.ops.port] : [config.portal.port];
    };
    for (const [name, service] of plazaServices) expect((service.ports ?? []).map(containerPort), name).toEqual(listening(name));
    expect((services.grafana?.ports ?? []).map(containerPort)).toEqual([3000]);
    expect(services.influxdb?.ports, 'InfluxDB stays on the compose network').toBeUndefined();
  });

  it('volumes are declared, bind mounts exist, and depends_on names healthy services', () => {
    for (const [name, service] of Object.entries(services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0] as string;
        if (source.startsWith('.') || source.startsWith('/')) expect(existsSync(path.join(root, source)), `${name}: ${source}`).toBe(true);
        else expect(Object.keys(compose.volumes), `${name}: ${source}`).toContain(source);
      }
      for (const [target, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(Object.keys(services), `${name} depends on ${target}`).toContain(target);
        expect(condition).toBe('service_healthy');
        expect(services[target]?.healthcheck, `${target} needs a health check`).toBeDefined();
      }
      expect(service.healthcheck?.test[0], `${name} health check`).toBe('CMD');
    }
    expect(services.ingest?.healthcheck?.test.join(' ')).toContain('http://127.0.0.1:3000/health');
    expect(services.influxdb?.healthcheck?.test.join(' ')).toContain('/ping');
  });

  it('Grafana gets the provisioning and dashboards where the provisioning files expect them, wired to ingest’s database', () => {
    const mounts = new Map((services.grafana?.volumes ?? []).map((v) => [v.split(':')[1], v.split(':')[0] as string]));
    expect(mounts.get('/etc/grafana/provisioning')).toBe('./dashboards/grafana/provisioning');
    const provider = parseYaml(readFileSync(path.join(root, 'dashboards/grafana/provisioning/dashboards/plaza.yaml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const dashboardsMount = mounts.get(provider.providers[0]?.options.path ?? '');
    expect(dashboardsMount).toBe('./dashboards/grafana/dashboards');
    expect(existsSync(path.join(root, dashboardsMount as string, 'live-traffic.json'))).toBe(true);
    const home = services.grafana?.environment?.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH ?? '';
    expect(existsSync(path.join(root, dashboardsMount as string, path.basename(home)))).toBe(true);

    const datasource = (parseYaml(readFileSync(path.join(root, 'dashboards/grafana/provisioning/datasources/influxdb.yaml'), 'utf8')) as { datasources: { url: string; jsonData: { dbName: string } }[] }).datasources[0];
    const ingest = loadConfig({ env: envOf(services.ingest as Service) });
    expect(datasource?.url).toBe(ingest.influx.url);
    expect(new URL(datasource?.url ?? '').hostname).toBe('influxdb');
    expect(datasource?.jsonData.dbName).toBe(ingest.influx.db);
    expect(services.influxdb?.environment?.INFLUXDB_DB).toBe(ingest.influx.db);
    expect(ingest.influx.rp).toBe(defaultRetentionPolicy);
  });
});
