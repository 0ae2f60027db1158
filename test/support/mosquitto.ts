import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { freePort, waitForPort } from './ports.ts';
import { findBinary, ServiceProcess } from './processes.ts';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export interface MosquittoUser {
  username: string;
  password: string;
}

export interface StartMosquittoOptions {
  users: readonly MosquittoUser[];
  /** ACL file lines; default: every user may read and write plaza/#. */
  acl?: readonly string[];
  /** Extra mosquitto.conf lines, appended last. */
  extraConfig?: readonly string[];
  /** How long to wait for the listener, in ms. */
  startTimeoutMs?: number;
}

export interface MosquittoHandle {
  /** mqtt://127.0.0.1:<port> */
  readonly url: string;
  readonly port: number;
  /** The temp dir holding the config, password file, ACL file and persistence db. */
  readonly dataDir: string;
  readonly pid: number | undefined;
  /** Why the process ended, with its last output, or null while it runs (or after stop()). */
  died(): Error | null;
  /** SIGTERM (mosquitto saves its persistence db) and wait for the exit. */
  stop(): Promise<void>;
  /** SIGKILL and wait: a crash; state since the last autosave is lost, as in production. */
  kill(): Promise<void>;
  /** Starts again on the same port with the same config and persistence dir (stops first if running). */
  restart(): Promise<void>;
}

const defaultAcl = ['pattern readwrite plaza/#'];
/** Persistence db autosave period, in s: short so a kill() loses little. */
const autosaveIntervalS = 2;

/** Starts a real mosquitto 2.x with password auth, an ACL file and persistence, on a free loopback port. */
export async function startMosquitto(options: StartMosquittoOptions): Promise<MosquittoHandle> {
  const binary = findBinary('mosquitto');
  const passwd = findBinary('mosquitto_passwd');
  const dir = tempDir('plaza-mosquitto');
  const passwordFile = path.join(dir, 'passwd');
  const aclFile = path.join(dir, 'acl');
  const configPath = path.join(dir, 'mosquitto.conf');

  writeFileSync(passwordFile, '', { mode: 0o600 });
  for (const user of options.users) {
    if (/[:\s]/.test(user.username)) throw new Error(`mosquitto user name may not contain ':' or spaces: ${JSON.stringify(user.username)}`);
    try {
      await run(passwd, ['-b', passwordFile, user.username, user.password]);
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? '';
      throw new Error(`mosquitto_passwd failed for user ${user.username}: ${stderr.trim() || (error as Error).message}`);
    }
  }
  writeFileSync(aclFile, `${(options.acl ?? defaultAcl).join('\n')}\n`, { mode: 0o600 });

  const port = await freePort();
  const config = [
    // Run as whoever runs the tests: as root, mosquitto would otherwise switch to "mosquitto" and lose access to the temp dir.
    `user ${os.userInfo().username}`,
    'per_listener_settings false',
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${passwordFile}`,
    `acl_file ${aclFile}`,
    'persistence true',
    `persistence_location ${dir}/`,
    `autosave_interval ${autosaveIntervalS}`,
    // An offline persistent session must keep everything the tests queue for it.
    'max_queued_messages 100000',
    'max_queued_bytes 0',
    'log_dest stderr',
    'log_type error',
    'log_type warning',
    'log_type notice',
    ...(options.extraConfig ?? []),
  ];
  writeFileSync(configPath, `${config.join('\n')}\n`);

  const service = new ServiceProcess(`mosquitto (port ${port})`, binary, ['-c', configPath], dir);
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const boot = async (): Promise<void> => {
    service.start();
    const exited = (): Error | null => (service.exitReason === null ? null : service.failure(`${service.exitReason} before listening`));
    try {
      await waitForPort(port, { timeoutMs, failed: exited });
    } catch (error) {
      const failure = exited() ?? service.failure((error as Error).message);
      await service.kill();
      throw failure;
    }
  };
  await boot();
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    dataDir: dir,
    get pid() {
      return service.pid;
    },
    died: () => (service.exitReason === null ? null : service.failure(service.exitReason)),
    stop: () => service.stop(),
    kill: () => service.kill(),
    restart: async () => {
      await service.stop();
      await boot();
    },
  };
}
