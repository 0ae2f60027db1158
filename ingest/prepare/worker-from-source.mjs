// Starts the prepare thread from the TypeScript sources (tsx, vitest): a worker thread does not inherit the
// parent's module hooks, so it registers tsx itself. A build (dist/) starts worker.js directly.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
