import { format } from '../i18n/index.ts';
import { html, type SafeHtml } from '../html/escape.ts';
import { errorBox, flowFields, infoHref, layout, type PageContext } from './layout.ts';

export interface FlowForm {
  token: string;
  csrf: string;
}

function withFlow(path: string, token: string, page: PageContext): string {
  return `${path}?${new URLSearchParams({ t: token, lang: page.lang }).toString()}`;
}

export function startPage(page: PageContext, token: string): SafeHtml {
  const { m } = page;
  return layout(
    page,
    format(m.start.title, { mall: page.brand.name }),
    html`<p>${m.start.intro}</p>
<a class="button" href="${withFlow('/guest', token, page)}">${m.start.guest}</a>
<a class="button secondary" href="${withFlow('/member', token, page)}">${m.start.member}</a>
<a class="button secondary" href="${withFlow('/signup', token, page)}">${m.start.signup}</a>`,
  );
}

function termsBox(page: PageContext, checked: boolean, invalid: boolean): SafeHtml {
  const { m } = page;
  return html`<label class="check"><input type="checkbox" name="terms" value="yes" required${checked ? html` checked` : ''}${invalid ? html` aria-invalid="true" aria-describedby="form-error"` : ''}> <span>${m.consent.terms}</span></label>
<p class="hint"><a href="${infoHref('/terms', page)}">${m.consent.termsLink}</a></p>`;
}

/** The two optional consents: separate boxes, never pre-ticked. */
function optionalConsents(page: PageContext): SafeHtml {
  const { m } = page;
  return html`<label class="check"><input type="checkbox" name="analytics" value="yes" aria-describedby="analytics-hint"> <span>${m.consent.analytics}</span></label>
<p class="hint" id="analytics-hint">${m.consent.analyticsHint}</p>
<label class="check"><input type="checkbox" name="marketing" value="yes" aria-describedby="marketing-hint"> <span>${m.consent.marketing}</span></label>
<p class="hint" id="marketing-hint">${m.consent.marketingHint}</p>`;
}

export function guestPage(page: PageContext, form: FlowForm, error?: string): SafeHtml {
  const { m } = page;
  return layout(
    page,
    m.guest.title,
    html`${errorBox(error)}<form method="post" action="/guest">${flowFields(form.token, form.csrf, page.lang)}
${termsBox(page, false, error !== undefined)}
<button type="submit">${m.guest.submit}</button>
</form>`,
  );
}

export type CodePurpose = 'login' | 'signup' | 'mydata';

const paths: Record<CodePurpose, string> = { login: '/member', signup: '/signup', mydata: '/my-data' };

/** Step 1: who you are (member number / phone, optional name for sign-up). */
export function codeRequestPage(page: PageContext, purpose: CodePurpose, form: FlowForm, values: { identifier?: string; name?: string }, error?: string): SafeHtml {
  const { m } = page;
  const title = purpose === 'login' ? m.member.title : purpose === 'signup' ? m.signup.title : m.mydata.title;
  const label = purpose === 'login' ? m.member.identifier : purpose === 'signup' ? m.signup.phone : m.mydata.phone;
  const hint = purpose === 'login' ? m.member.identifierHint : purpose === 'signup' ? m.signup.phoneHint : m.mydata.intro;
  const send = purpose === 'login' ? m.member.send : purpose === 'signup' ? m.signup.send : m.mydata.send;
  const invalid = error === undefined ? '' : html` aria-invalid="true"`;
  const nameField =
    purpose === 'signup'
      ? html`<label for="name">${m.signup.name} (${m.common.optional})</label>
<input type="text" id="name" name="name" maxlength="60" autocomplete="name" value="${values.name ?? ''}">`
      : '';
  return layout(
    page,
    title,
    html`${errorBox(error)}<form method="post" action="${paths[purpose]}">${flowFields(form.token, form.csrf, page.lang)}
<label for="identifier">${label}</label>
<p class="hint" id="identifier-hint">${hint}</p>
<input type="${purpose === 'login' ? 'text' : 'tel'}" id="identifier" name="identifier" required maxlength="24" inputmode="tel" autocomplete="tel" aria-describedby="identifier-hint${error === undefined ? '' : ' form-error'}"${invalid} value="${values.identifier ?? ''}">
${nameField}
<button type="submit">${send}</button>
</form>`,
  );
}

/** Step 2: the code, plus terms and optional consents for logins. */
export function codeVerifyPage(page: PageContext, purpose: CodePurpose, form: FlowForm, options: { error?: string | undefined; notice?: string | undefined }): SafeHtml {
  const { m } = page;
  const title = purpose === 'login' ? m.member.title : purpose === 'signup' ? m.signup.title : m.mydata.title;
  const sent = purpose === 'login' ? m.member.sent : purpose === 'signup' ? m.signup.sent : m.mydata.sent;
  const submit = purpose === 'login' ? m.member.submit : purpose === 'signup' ? m.signup.submit : m.mydata.submit;
  const base = paths[purpose];
  const consentPart = purpose === 'mydata' ? '' : html`${termsBox(page, false, false)}${optionalConsents(page)}`;
  return layout(
    page,
    title,
    html`${errorBox(options.error)}<p class="notice" role="status">${options.notice ?? sent}</p>
<form method="post" action="${base}/verify">${flowFields(form.token, form.csrf, page.lang)}
<label for="code">${m.member.code}</label>
<input type="text" id="code" name="code" required inputmode="numeric" pattern="[0-9]{6}" maxlength="6" autocomplete="one-time-code"${options.error === undefined ? '' : html` aria-invalid="true" aria-describedby="form-error"`}>
${consentPart}
<button type="submit">${submit}</button>
</form>
<form method="post" action="${base}/resend">${flowFields(form.token, form.csrf, page.lang)}
<button type="submit" class="secondary">${m.member.resend}</button>
</form>`,
  );
}

/** Shown while the browser goes to the gateway to be let through; works without script via meta refresh. */
export function connectingPage(page: PageContext, grantUrl: string, refreshS: number): SafeHtml {
  const { m } = page;
  // Meta refresh, not script: captive mini-browsers may run without JavaScript. The URL is escaped as an attribute.
  return layout(
    page,
    m.connecting.title,
    html`<p role="status">${m.connecting.body}</p>
<a class="button" href="${grantUrl}">${m.connecting.button}</a>`,
    html`<meta http-equiv="refresh" content="${refreshS};url=${grantUrl}">`,
  );
}

export function successPage(page: PageContext, options: { sessionHours: number; memberNumber?: string | undefined; continueUrl?: string | undefined; continueHost?: string | undefined }): SafeHtml {
  const { m } = page;
  return layout(
    page,
    m.success.title,
    html`<p role="status">${format(m.success.body, { mall: page.brand.name, hours: options.sessionHours })}</p>
${options.memberNumber === undefined ? '' : html`<p class="notice">${format(m.success.memberNumber, { number: options.memberNumber })}</p>`}
${options.continueUrl === undefined || options.continueHost === undefined ? '' : html`<a class="button" href="${options.continueUrl}">${format(m.success.continue, { host: options.continueHost })}</a>`}`,
  );
}

export function messagePage(page: PageContext, title: string, message: string, startHref?: string): SafeHtml {
  return layout(page, title, html`<p class="notice" role="status">${message}</p>${startHref === undefined ? '' : html`<a class="button secondary" href="${startHref}">${page.m.common.start}</a>`}`);
}

export function infoPage(page: PageContext, doc: { title: string; version: string; sections: readonly { heading: string; body: readonly string[] }[] }, version: string): SafeHtml {
  return layout(
    page,
    doc.title,
    html`<p>${format(doc.version, { version })}</p>
${doc.sections.map((section) => html`<h2>${section.heading}</h2>${section.body.map((p) => html`<p>${format(p, { mall: page.brand.name })}</p>`)}`)}`,
  );
}

export function manageDataPage(page: PageContext, form: FlowForm, consents: { analytics: boolean; marketing: boolean }, notice?: string): SafeHtml {
  const { m } = page;
  const state = (given: boolean): string => (given ? m.mydata.granted : m.mydata.notGranted);
  const action = (name: string, label: string, secondary: boolean): SafeHtml =>
    html`<form method="post" action="/my-data/manage">${flowFields(form.token, form.csrf, page.lang)}<input type="hidden" name="action" value="${name}"><button type="submit"${secondary ? html` class="secondary"` : ''}>${label}</button></form>`;
  return layout(
    page,
    m.mydata.title,
    html`${notice === undefined ? '' : html`<p class="notice" role="status">${notice}</p>`}
<h2>${m.mydata.current}</h2>
<ul><li>${m.mydata.analytics}: ${state(consents.analytics)}</li><li>${m.mydata.marketing}: ${state(consents.marketing)}</li></ul>
${consents.analytics ? action('withdraw-analytics', m.mydata.withdrawAnalytics, true) : ''}
${consents.marketing ? action('withdraw-marketing', m.mydata.withdrawMarketing, true) : ''}
<p>${m.mydata.deleteHint}</p>
${action('delete', m.mydata.delete, false)}`,
  );
}
