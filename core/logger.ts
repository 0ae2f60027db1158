import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Field names whose values never reach a log line. Raw MACs are never passed to the logger in the first
 * place; this list is the second line of defence for secrets.
 */
const redactPaths = [
  'password',
  'secret',
  'token',
  'code',
  'mac',
  'authorization',
  '*.password',
  '*.secret',
  '*.token',
  '*.code',
  '*.mac',
  '*.authorization',
  'req.headers.authorization',
];

/** The one logger. Components take a child: `logger.child({ component: 'broker' })`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: redactPaths, censor: '[redacted]' }, base: { pid: process.pid } }, destination);
}
