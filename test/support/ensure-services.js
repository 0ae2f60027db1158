// Runs before vitest (`npm test`): makes sure the real services the tests start are installed.
// Plain Node ESM so it works before anything is compiled. As root it installs what is missing with apt-get;
// otherwise it prints the command and fails, because a missing service must fail loudly, never skip tests.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';

/** Binary → Debian package that provides it. */
const required = [
  ['influxd', 'influxdb'],
  ['mosquitto', 'mosquitto'],
  ['mosquitto_passwd', 'mosquitto-clients'],
  ['chromium', 'chromium'],
];

function findBinary(name) {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  return dirs.filter((dir) => dir !== '').map((dir) => path.join(dir, name)).find((candidate) => existsSync(candidate));
}

function missingPackages() {
  return [...new Set(required.filter(([binary]) => findBinary(binary) === undefined).map(([, pkg]) => pkg))];
}

function run(command, args) {
  console.log(`ensure-services: ${command} ${args.join(' ')}`);
  const result = spawnSync(command, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  if (result.error) throw new Error(`${command} could not run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status ?? result.signal}`);
}

const missing = missingPackages();
if (missing.length > 0) {
  const command = `apt-get update && apt-get install -y ${missing.join(' ')}`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    console.error(`ensure-services: missing Debian packages: ${missing.join(', ')}.\nInstall them as root, then run the tests again:\n  sudo sh -c '${command}'`);
    process.exit(1);
  }
  try {
    run('apt-get', ['update']);
    run('apt-get', ['install', '-y', ...missing]);
  } catch (error) {
    console.error(`ensure-services: installing ${missing.join(', ')} failed: ${error.message}\nRun it by hand: ${command}`);
    process.exit(1);
  }
  const still = missingPackages();
  if (still.length > 0) {
    console.error(`ensure-services: still missing after apt-get install: ${still.join(', ')}`);
    process.exit(1);
  }
}
console.log(`ensure-services: ${required.map(([binary]) => binary).join(', ')} present`);
