import { type Language, languages, type Messages } from '../i18n/index.ts';
import { html, type SafeHtml } from '../html/escape.ts';

export interface Brand {
  mall: string;
  name: string;
  logoUrl?: string | undefined;
}

export interface PageContext {
  lang: Language;
  m: Messages;
  brand: Brand;
  /** Builds the URL of this same page in another language (the visible switch). */
  langHref: (lang: Language) => string;
}

/** Query string for info links, keeping language and mall. */
export function infoHref(path: string, page: PageContext): string {
  return `${path}?${new URLSearchParams({ lang: page.lang, m: page.brand.mall }).toString()}`;
}

/** The page shell: small, no script, zoomable (no maximum-scale), one stylesheet per mall. */
export function layout(page: PageContext, title: string, content: SafeHtml, head?: SafeHtml): SafeHtml {
  const { m, brand } = page;
  const switches = languages
    .filter((lang) => lang !== page.lang)
    .map((lang) => html`<a href="${page.langHref(lang)}" hreflang="${lang}" lang="${lang}">${lang === 'en' ? 'English' : '中文'}</a>`);
  return html`<!doctype html>
<html lang="${m.lang.htmlLang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} – ${brand.name}</title>
${head}
<link rel="stylesheet" href="/assets/${brand.mall}/style.css">
</head>
<body>
<header class="top">
${brand.logoUrl === undefined ? '' : html`<img class="logo" src="${brand.logoUrl}" alt="" width="48" height="48">`}
<p class="brand">${brand.name}</p>
<nav class="lang" aria-label="${m.lang.switchLabel}">${switches}</nav>
</header>
<main id="main">
<h1>${title}</h1>
${content}
</main>
<footer>
<a href="${infoHref('/privacy', page)}">${m.common.privacy}</a>
<a href="${infoHref('/terms', page)}">${m.common.terms}</a>
<a href="${infoHref('/my-data', page)}">${m.common.myData}</a>
</footer>
</body>
</html>
`;
}

/** Hidden fields every flow form carries instead of a cookie. */
export function flowFields(token: string, csrf: string, lang: Language): SafeHtml {
  return html`<input type="hidden" name="t" value="${token}"><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="lang" value="${lang}">`;
}

export function errorBox(message: string | undefined): SafeHtml {
  return message === undefined ? html`` : html`<p class="error" role="alert" id="form-error">${message}</p>`;
}

/** Base CSS plus the mall's colours. High contrast, large targets, fluid layout for 200 % zoom. */
export function stylesheet(colours: { primary: string; background: string; text: string }): string {
  return `:root{--primary:${colours.primary};--bg:${colours.background};--text:${colours.text}}
*{box-sizing:border-box}
body{margin:0;font:1rem/1.5 system-ui,-apple-system,"PingFang SC","Microsoft YaHei",sans-serif;background:var(--bg);color:var(--text)}
.top{display:flex;flex-wrap:wrap;align-items:center;gap:.5rem;padding:.75rem 1rem;border-bottom:1px solid #ccc}
.brand{font-weight:700;margin:0;flex:1}
.logo{max-height:3rem;width:auto}
main{max-width:36rem;margin:0 auto;padding:1rem}
h1{font-size:1.5rem;line-height:1.25}
a{color:var(--primary)}
a:focus,button:focus,input:focus{outline:3px solid var(--primary);outline-offset:2px}
.button,button{display:block;width:100%;margin:.75rem 0;padding:.8rem 1rem;border:2px solid var(--primary);border-radius:.4rem;background:var(--primary);color:#fff;font:inherit;font-weight:700;text-align:center;text-decoration:none;cursor:pointer}
.button.secondary,button.secondary{background:transparent;color:var(--primary)}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text],input[type=tel]{display:block;width:100%;padding:.7rem;font:inherit;border:2px solid #555;border-radius:.3rem;background:#fff;color:#111}
.check{display:flex;gap:.6rem;align-items:flex-start;font-weight:400}
.check input{width:1.4rem;height:1.4rem;margin-top:.1rem;flex:none}
.hint{font-size:.9rem;margin:.2rem 0 .5rem 2rem;color:inherit;opacity:.85}
.error{border-left:4px solid #b00020;background:#fdecee;color:#5f0010;padding:.6rem .8rem}
.notice{border-left:4px solid var(--primary);padding:.6rem .8rem;background:rgba(0,0,0,.04)}
footer{display:flex;flex-wrap:wrap;gap:1rem;padding:1rem;border-top:1px solid #ccc;font-size:.95rem}
`;
}
