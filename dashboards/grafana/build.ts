import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { plazaDashboards } from './dashboards.ts';
import { dashboardJson } from './panels.ts';

export const dashboardsDir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dashboards');

/** The JSON text of every dashboard file, as committed. */
export function renderDashboards(): Record<string, string> {
  const files: Record<string, string> = {};
  for (const [name, dashboard] of Object.entries(plazaDashboards())) files[`${name}.json`] = `${JSON.stringify(dashboardJson(dashboard), null, 2)}\n`;
  return files;
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  for (const [file, text] of Object.entries(renderDashboards())) {
    writeFileSync(path.join(dashboardsDir, file), text);
    process.stdout.write(`wrote ${path.join('dashboards/grafana/dashboards', file)}\n`);
  }
}
