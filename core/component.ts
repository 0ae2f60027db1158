import type { Logger } from './logger.ts';

/** A part of the system that runs in-process: the constructor only assigns; start() acquires; stop() releases. */
export interface Component {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts components in order and stops them in reverse. If one fails to start, those already started are
 * stopped and the error is rethrown. stop() errors are logged, never rethrown, so every component gets its turn.
 */
export class ComponentRunner {
  private readonly started: Component[] = [];

  constructor(private readonly logger: Logger) {}

  async start(components: readonly Component[]): Promise<void> {
    for (const component of components) {
      try {
        await component.start();
        this.started.push(component);
        this.logger.info({ component: component.name }, 'started');
      } catch (error) {
        this.logger.error({ component: component.name, err: error }, 'failed to start');
        await this.stop();
        throw error;
      }
    }
  }

  async stop(): Promise<void> {
    while (this.started.length > 0) {
      const component = this.started.pop();
      if (component === undefined) break;
      try {
        await component.stop();
        this.logger.info({ component: component.name }, 'stopped');
      } catch (error) {
        this.logger.error({ component: component.name, err: error }, 'failed to stop cleanly');
      }
    }
  }
}

/** Stops the runner on SIGINT/SIGTERM; a second signal exits at once. */
export function stopOnSignals(runner: ComponentRunner, logger: Logger, onStopped: () => void): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal, exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    runner.stop().then(onStopped, (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
