import { en, type Messages } from './en.ts';
import { zhCN } from './zh-CN.ts';

export const languages = ['zh-CN', 'en'] as const;
export type Language = (typeof languages)[number];

export const catalogues: Record<Language, Messages> = { 'zh-CN': zhCN, en };

export type { Messages };

export function isLanguage(value: unknown): value is Language {
  return typeof value === 'string' && (languages as readonly string[]).includes(value);
}

/**
 * Picks a language: an explicit choice (the visible switch) wins, then Accept-Language by q-value, then the
 * default. Only the primary subtag is compared, so zh-TW and zh-HK readers get the Chinese pages too.
 */
export function chooseLanguage(explicit: unknown, acceptLanguage: string | undefined, fallback: Language): Language {
  if (isLanguage(explicit)) return explicit;
  if (acceptLanguage === undefined) return fallback;
  const ranges = acceptLanguage
    .slice(0, 512)
    .split(',')
    .slice(0, 20)
    .map((part, index) => {
      const [range = '', ...params] = part.trim().split(';');
      const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
      const weight = q === undefined ? 1 : Number.parseFloat(q.slice(2));
      return { range: range.trim().toLowerCase(), weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((r) => r.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.index - b.index);
  for (const { range } of ranges) {
    if (range === 'zh' || range.startsWith('zh-')) return 'zh-CN';
    if (range === 'en' || range.startsWith('en-')) return 'en';
  }
  return fallback;
}

/** Fills `{name}` placeholders. The result is plain text; the HTML layer escapes it. */
export function format(template: string, values: Record<string, string | number>): string {
  return template.replace(/\{([a-z]+)\}/gi, (whole, key: string) => (Object.hasOwn(values, key) ? String(values[key]) : whole));
}
