#!/usr/bin/env node
// Runs the TypeScript sources directly (tsx); `npm run build` emits dist/ for images that prefer plain JS.
import { register } from 'tsx/esm/api';

register();
await import('../cli/plaza.ts');
