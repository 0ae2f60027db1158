import type { Estimate } from './report-math.ts';
import type { CampaignReport } from './report.ts';

/**
 * One CSV cell. Text that a spreadsheet would run as a formula (starting with = + - @, or tab / CR which some
 * spreadsheets strip first) gets a leading apostrophe (OWASP "CSV injection"); numbers we format ourselves
 * are plain digits and stay numeric.
 */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(Math.round(value * 100) / 100) : '';
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}

const header = ['campaign', 'name', 'mall', 'method', 'store', 'days', 'during', 'expected', 'uplift_pct', 'interval_low_pct', 'interval_high_pct', 'verdict', 'verdict_text'];

/** The report as CSV: one row per method and store, then the method's total (store "TOTAL"). */
export function reportCsv(report: CampaignReport): string {
  const lines = [header.join(',')];
  const row = (method: string, store: string, e: Estimate): void => {
    const c = report.campaign;
    lines.push(
      [c.id, c.name, c.mall, method, store, e.days, e.during, e.expected, e.upliftPct, e.interval?.lowPct ?? null, e.interval?.highPct ?? null, e.verdict, e.verdictText]
        .map(csvCell)
        .join(','),
    );
  };
  for (const s of report.baseline.stores) row('baseline', s.store, s);
  row('baseline', 'TOTAL', report.baseline.total);
  if (report.control !== null) {
    for (const s of report.control.stores) row('control', s.store, s);
    row('control', 'TOTAL', report.control.total);
  }
  return `${lines.join('\r\n')}\r\n`;
}
