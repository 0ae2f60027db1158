import { html, type SafeHtml } from '../../../portal/html/escape.ts';
import type { Estimate } from '../report-math.ts';
import type { CampaignReport, StoreEstimate } from '../report.ts';
import type { CampaignView } from '../service.ts';

/** What the form shows: the fields as typed (after a refused submit) or as stored. */
export interface FormValues {
  name: string;
  mall: string;
  stores: string;
  controlStores: string;
  start: string;
  end: string;
  notes: string;
}

export const emptyForm: FormValues = { name: '', mall: '', stores: '', controlStores: '', start: '', end: '', notes: '' };

/** Notices after a redirect, by fixed key: nothing from the request is echoed. */
export const notices: Record<string, string> = {
  created: 'Campaign created.',
  updated: 'Campaign saved.',
  deleted: 'Campaign deleted.',
};

export function formValuesOf(c: CampaignView): FormValues {
  return {
    name: c.name,
    mall: c.mall,
    stores: c.stores.join(', '),
    controlStores: c.controlStores.join(', '),
    // Local wall time without offset: what the form expects back.
    start: c.start.slice(0, 16),
    end: c.end.slice(0, 16),
    notes: c.notes,
  };
}

function layout(title: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · PlazaPulse</title><link rel="stylesheet" href="/campaigns/page.css"></head>
<body>${body}</body></html>`;
}

function errorList(errors: readonly string[]): SafeHtml {
  if (errors.length === 0) return html``;
  return html`<div class="errors" role="alert"><p>The campaign was not saved:</p><ul>${errors.map((e) => html`<li>${e}</li>`)}</ul></div>`;
}

function campaignForm(action: string, values: FormValues, csrf: string, submit: string): SafeHtml {
  return html`<form class="campaign" method="post" action="${action}">
<input type="hidden" name="csrf" value="${csrf}">
<label for="name">Name</label><input type="text" id="name" name="name" value="${values.name}" required maxlength="120">
<label for="mall">Mall</label><input type="text" id="mall" name="mall" value="${values.mall}" required maxlength="64" pattern="[a-z0-9-]{1,64}">
<label for="stores">Stores</label><input type="text" id="stores" name="stores" value="${values.stores}" required>
<p class="hint">Store ids, separated by commas.</p>
<label for="controlStores">Control stores</label><input type="text" id="controlStores" name="controlStores" value="${values.controlStores}">
<p class="hint">Optional: comparable stores without the campaign, separated by commas.</p>
<label for="start">Start</label><input type="text" id="start" name="start" value="${values.start}" required placeholder="2026-03-01T10:00">
<p class="hint">Mall local time, YYYY-MM-DDTHH:MM (or with an offset such as +08:00).</p>
<label for="end">End</label><input type="text" id="end" name="end" value="${values.end}" required placeholder="2026-03-08T22:00">
<label for="notes">Notes</label><textarea id="notes" name="notes" rows="3" maxlength="2000">${values.notes}</textarea>
<span></span><div><button type="submit">${submit}</button></div>
</form>`;
}

export function listPage(options: { campaigns: CampaignView[]; canEdit: boolean; csrf: string; notice?: string | undefined; form?: FormValues; errors?: readonly string[] }): SafeHtml {
  const rows = options.campaigns.map(
    (c) => html`<tr><td><a href="/campaigns/${c.id}">${c.name}</a></td><td>${c.mall}</td><td>${c.stores.join(', ')}</td><td>${c.controlStores.join(', ') || '—'}</td><td>${c.start}</td><td>${c.end}</td>
<td><a href="/campaigns/${c.id}/report">report</a> · <a href="/campaigns/${c.id}/report.csv">CSV</a></td></tr>`,
  );
  const create = options.canEdit
    ? html`<h2 id="new">New campaign</h2>${errorList(options.errors ?? [])}${campaignForm('/campaigns', options.form ?? emptyForm, options.csrf, 'Create campaign')}`
    : html`<p class="muted">Your token may read campaigns and reports; creating and editing needs the marketer role.</p>`;
  return layout(
    'Campaigns',
    html`<h1>Campaigns</h1>${options.notice === undefined ? html`` : html`<p class="notice" role="status">${options.notice}</p>`}
<table><thead><tr><th>Name</th><th>Mall</th><th>Stores</th><th>Control stores</th><th>Start</th><th>End</th><th>Report</th></tr></thead>
<tbody>${rows.length > 0 ? rows : html`<tr><td colspan="7" class="muted">No campaigns yet.</td></tr>`}</tbody></table>${create}`,
  );
}

export function editPage(options: { campaign: CampaignView; canEdit: boolean; csrf: string; form?: FormValues; errors?: readonly string[]; notice?: string | undefined }): SafeHtml {
  const c = options.campaign;
  const body = options.canEdit
    ? html`${errorList(options.errors ?? [])}${campaignForm(`/campaigns/${c.id}`, options.form ?? formValuesOf(c), options.csrf, 'Save changes')}
<h2>Delete</h2><form class="inline" method="post" action="/campaigns/${c.id}/delete"><input type="hidden" name="csrf" value="${options.csrf}">
<button type="submit">Delete this campaign</button></form>`
    : html`<dl><dt>Mall</dt><dd>${c.mall}</dd><dt>Stores</dt><dd>${c.stores.join(', ')}</dd><dt>Control stores</dt><dd>${c.controlStores.join(', ') || '—'}</dd>
<dt>Start</dt><dd>${c.start}</dd><dt>End</dt><dd>${c.end}</dd><dt>Notes</dt><dd>${c.notes || '—'}</dd></dl>`;
  return layout(
    c.name,
    html`<p><a href="/campaigns">← Campaigns</a></p><h1>${c.name}</h1>${options.notice === undefined ? html`` : html`<p class="notice" role="status">${options.notice}</p>`}
<p><a href="/campaigns/${c.id}/report">Uplift report</a> · <a href="/campaigns/${c.id}/report.csv">CSV</a> <span class="muted">(times in ${c.timeZone})</span></p>${body}`,
  );
}

function pct(value: number | null | undefined): string {
  return value === null || value === undefined ? '—' : `${value > 0 ? '+' : ''}${value.toFixed(1)} %`;
}

function estimateRows(stores: readonly StoreEstimate[], total: Estimate): SafeHtml[] {
  const row = (name: string, e: Estimate) =>
    html`<tr><td>${name}</td><td class="num">${e.days}</td><td class="num">${Math.round(e.during)}</td><td class="num">${Math.round(e.expected)}</td>
<td class="num">${pct(e.upliftPct)}</td><td class="num">${e.interval === null ? '—' : `${pct(e.interval.lowPct)} … ${pct(e.interval.highPct)}`}</td><td class="${e.verdict}">${e.verdictText}</td></tr>`;
  return [...stores.map((s) => row(s.store, s)), row('All campaign stores', total)];
}

function estimateTable(title: string, stores: readonly StoreEstimate[], total: Estimate): SafeHtml {
  return html`<h2>${title}</h2><table><thead><tr><th>Store</th><th class="num">Days</th><th class="num">Entries</th><th class="num">Expected</th><th class="num">Uplift</th><th class="num">95 % interval</th><th>Verdict</th></tr></thead>
<tbody>${estimateRows(stores, total)}</tbody></table>`;
}

export function reportPage(report: CampaignReport, weeks: number): SafeHtml {
  const c = report.campaign;
  const headline = report.headline === 'control' ? report.control?.total : report.baseline.total;
  return layout(
    `Report: ${c.name}`,
    html`<p><a href="/campaigns/${c.id}">← ${c.name}</a></p><h1>Uplift report: ${c.name}</h1>
<p>${c.mall}: ${c.stores.join(', ')} · ${c.start} to ${c.end} (${report.timeZone})</p>
<p class="verdict ${headline?.verdict ?? ''}">${report.verdict}</p>
<form method="get" action="/campaigns/${c.id}/report"><label for="weeks">Baseline weeks</label> <input type="text" id="weeks" name="weeks" value="${weeks}" size="3" inputmode="numeric">
<button type="submit">Recalculate</button> <a href="/campaigns/${c.id}/report.csv?weeks=${weeks}">CSV</a></form>
${report.warnings.length > 0 ? html`<ul class="errors">${report.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : html``}
${estimateTable(`Against the same weekday and time over the previous ${weeks} weeks`, report.baseline.stores, report.baseline.total)}
${report.control === null ? html`<p class="muted">No control stores: add some to correct for mall-wide changes (difference-in-differences).</p>` : html`${estimateTable(`Against control stores ${report.control.controlStores.join(', ')} (their change: ${pct(report.control.controlChangePct)})`, report.control.stores, report.control.total)}`}
<p class="muted">Uplift = entries ÷ expected − 1. Interval: bootstrap over campaign days and baseline weeks (seed ${report.method.seed}). Method: docs/campaigns.md.</p>`,
  );
}

export function messagePage(title: string, text: string): SafeHtml {
  return layout(title, html`<h1>${title}</h1><p>${text}</p><p><a href="/campaigns">Campaigns</a></p>`);
}
