import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values never reach a log line. Raw MACs, secrets and one-time codes are never passed to
 * the logger in the first place; this list is the second line of defence. (`code` is not on it: error codes
 * such as ENOENT are what an operator needs; one-time codes are only ever called `otp` near a logger.)
 */
const redactPaths = [
  'password',
  'secret',
  'token',
  'otp',
  'mac',
  'phone',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.otp',
  '*.mac',
  '*.phone',
  '*.authorization',
  'req.headers.authorization',
];

/** The one logger. Components take a child: `logger.child({ component: 'broker' })`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}
