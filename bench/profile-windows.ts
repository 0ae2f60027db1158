/**
 * Self time per function in two time windows of one V8 .cpuprofile, side by side, as % of each window: what got
 * dearer during a long run. Windows are seconds since the profile started (ingest's start).
 *   tsx bench/profile-windows.ts <file.cpuprofile> <fromA> <toA> <fromB> <toB> [top=30]
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

const [file, ...rest] = process.argv.slice(2);
const [fromA, toA, fromB, toB, top = 30] = rest.map(Number);
if (file === undefined || [fromA, toA, fromB, toB].some((n) => n === undefined || Number.isNaN(n))) {
  throw new Error('usage: tsx bench/profile-windows.ts <file.cpuprofile> <fromA> <toA> <fromB> <toB> [top]');
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));

function selfTimes(fromS: number, toS: number): { byFunction: Map<string, number>; totalUs: number } {
  const byFunction = new Map<string, number>();
  let atUs = 0;
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const deltaUs = profile.timeDeltas[i] ?? 0;
    atUs += deltaUs;
    if (atUs < fromS * 1e6 || atUs >= toS * 1e6) return;
    const frame = nodes.get(id)?.callFrame;
    const where = frame === undefined || frame.url === '' ? '' : ` ${path.relative(process.cwd(), frame.url.replace(/^file:\/\//, ''))}`;
    const key = `${frame?.functionName || '(anonymous)'}${where}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + deltaUs);
    totalUs += deltaUs;
  });
  return { byFunction, totalUs };
}

const a = selfTimes(fromA ?? 0, toA ?? 0);
const b = selfTimes(fromB ?? 0, toB ?? 0);
const share = (w: typeof a, key: string): number => ((w.byFunction.get(key) ?? 0) / Math.max(1, w.totalUs)) * 100;
const keys = [...new Set([...a.byFunction.keys(), ...b.byFunction.keys()])].sort((x, y) => Math.max(share(b, y), share(a, y)) - Math.max(share(b, x), share(a, x)));
console.log(`window A ${fromA}–${toA} s (${(a.totalUs / 1e6).toFixed(1)} s sampled)   window B ${fromB}–${toB} s (${(b.totalUs / 1e6).toFixed(1)} s sampled)`);
console.log('    A %    B %  function');
for (const key of keys.slice(0, top)) console.log(`${share(a, key).toFixed(1).padStart(7)} ${share(b, key).toFixed(1).padStart(6)}  ${key}`);
