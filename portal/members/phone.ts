/** Member numbers are 9 digits; phone numbers are longer, so one input field can take either. */
export const memberNumberPattern = /^[1-9]\d{8}$/;

/**
 * Normalises a mobile number to E.164. Accepts mainland China mobiles with or without +86 / 0086, and other
 * numbers in international form. Returns null for anything else.
 */
export function normalisePhone(input: string): string | null {
  const compact = input.replace(/[\s().-]/g, '');
  if (compact.length > 20) return null;
  const cn = /^(?:\+86|0086|86)?(1[3-9]\d{9})$/.exec(compact);
  if (cn?.[1] !== undefined) return `+86${cn[1]}`;
  const intl = /^(?:\+|00)([1-9]\d{7,14})$/.exec(compact);
  if (intl?.[1] !== undefined) return `+${intl[1]}`;
  return null;
}

export type Identifier = { kind: 'member'; memberId: string } | { kind: 'phone'; phone: string };

/** Reads the member-login field: a member number or a phone number. */
export function parseIdentifier(input: string): Identifier | null {
  const trimmed = input.trim();
  if (memberNumberPattern.test(trimmed)) return { kind: 'member', memberId: trimmed };
  const phone = normalisePhone(trimmed);
  return phone === null ? null : { kind: 'phone', phone };
}
