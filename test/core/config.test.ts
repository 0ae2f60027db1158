import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../core/config.ts';
import { tempDir } from '../support/tmp.ts';

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig({ env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('configuration was accepted');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({ env: {} });
    expect(config.dataDir).toBe(path.resolve('./data'));
    expect(config.mqtt).toMatchObject({ port: 1883, maxPacketBytes: 256 * 1024, authFailuresBeforeLockout: 5, lockoutMs: 15 * 60 * 1000 });
    expect(config.mqtt.url).toBeUndefined();
    expect(config.portal.port).toBe(8080);
    expect(config.ops.port).toBe(3000);
    expect(config.influx.url).toBeUndefined();
    expect(config.influx.db).toBe('plaza');
    expect(config.logLevel).toBe('info');
  });

  it('reads environment variables into the structured config', () => {
    const config = loadConfig({ env: { PLAZA_DATA_DIR: '/tmp/x', PLAZA_MQTT_PORT: '1884', PLAZA_MQTT_URL: 'mqtt://broker:1883', PLAZA_MQTT_WS_PORT: '8883', HOME: '/root' } });
    expect(config.dataDir).toBe('/tmp/x');
    expect(config.mqtt).toMatchObject({ port: 1884, url: 'mqtt://broker:1883', wsPort: 8883 });
  });

  it('lists every bad variable at once, each by name, never echoing a secret', () => {
    const problems = problemsOf({
      PLAZA_MQTT_PORT: 'abc',
      PLAZA_PORTAL_PORT: '70000',
      PLAZA_LOG_LEVEL: 'loud',
      PLAZA_INFLUX_URL: 'not a url',
      PLAZA_OPS_TOKEN: 'short-secret',
      PLAZA_MQTT_MAX_PACKET_BYTES: '12',
      PLAZA_MQTT_PROT: '1883',
    });
    const names = problems.map((p) => p.split(':')[0]);
    expect(names.sort()).toEqual(
      ['PLAZA_INFLUX_URL', 'PLAZA_LOG_LEVEL', 'PLAZA_MQTT_MAX_PACKET_BYTES', 'PLAZA_MQTT_PORT', 'PLAZA_MQTT_PROT', 'PLAZA_OPS_TOKEN', 'PLAZA_PORTAL_PORT'].sort(),
    );
    expect(problems.find((p) => p.startsWith('PLAZA_MQTT_PROT'))).toMatch(/unknown variable/);
    expect(problems.find((p) => p.startsWith('PLAZA_MQTT_PORT'))).toContain('"abc"');
    expect(problems.join('\n')).not.toContain('short-secret');
  });

  it('does not read a blank or hex port as a number', () => {
    expect(problemsOf({ PLAZA_MQTT_PORT: ' ' })[0]).toMatch(/^PLAZA_MQTT_PORT: /);
    expect(problemsOf({ PLAZA_MQTT_PORT: '0x50' })[0]).toMatch(/^PLAZA_MQTT_PORT: /);
    expect(loadConfig({ env: { PLAZA_MQTT_PORT: ' 1885 ' } }).mqtt.port).toBe(1885);
  });

  it('hides credentials inside a bad URL', () => {
    const problems = problemsOf({ PLAZA_INFLUX_URL: 'http://admin:hunter2@' });
    expect(problems.join('\n')).not.toContain('hunter2');
  });

  it('reports an incomplete TLS setup together with other problems', () => {
    const problems = problemsOf({ PLAZA_MQTT_TLS_PORT: '8883', PLAZA_MQTT_TLS_CERT: '/x/cert.pem', PLAZA_FOO: '1' });
    expect(problems).toHaveLength(2);
    expect(problems.some((p) => p.includes('TLS needs a port, a certificate and a key'))).toBe(true);
  });

  it.each([
    ['yaml', 'mqtt:\n  port: 1999\n  lockoutMs: 60000\nportal:\n  port: 8081\n'],
    ['json', JSON.stringify({ mqtt: { port: 1999, lockoutMs: 60_000 }, portal: { port: 8081 } })],
  ])('merges a %s config file under the environment', (ext, text) => {
    const file = path.join(tempDir('plaza-config'), `plaza.${ext}`);
    writeFileSync(file, text);
    const config = loadConfig({ env: { PLAZA_CONFIG_FILE: file, PLAZA_MQTT_PORT: '2000' } });
    expect(config.mqtt.port).toBe(2000); // env wins
    expect(config.mqtt.lockoutMs).toBe(60_000); // file-only setting
    expect(config.portal.port).toBe(8081);
    expect(config.ops.port).toBe(3000); // default
  });

  it('reports problems in the config file by path, with env problems', () => {
    const file = path.join(tempDir('plaza-config'), 'plaza.yaml');
    writeFileSync(file, 'mqtt:\n  port: -1\n  colour: blue\n');
    const problems = problemsOf({ PLAZA_CONFIG_FILE: file, PLAZA_LOG_LEVEL: 'loud' });
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.startsWith('PLAZA_MQTT_PORT: '))).toBe(true);
    expect(problems.some((p) => p.startsWith('mqtt: ') && p.includes('colour'))).toBe(true);
    expect(problems.some((p) => p.startsWith('PLAZA_LOG_LEVEL: '))).toBe(true);
  });

  it.each([
    ['a missing file', null, /PLAZA_CONFIG_FILE .*ENOENT/],
    ['invalid YAML', 'mqtt: [\n', /PLAZA_CONFIG_FILE/],
    ['invalid JSON', '{"mqtt":', /PLAZA_CONFIG_FILE/],
    ['a list instead of an object', '- 1\n- 2\n', /must hold an object/],
  ])('reports %s', (_name, text, pattern) => {
    const dir = tempDir('plaza-config');
    const file = path.join(dir, text?.startsWith('{') === true ? 'plaza.json' : 'plaza.yaml');
    if (text !== null) writeFileSync(file, text);
    const problems = problemsOf({ PLAZA_CONFIG_FILE: file });
    expect(problems[0]).toMatch(pattern);
  });
});
