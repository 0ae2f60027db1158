import { z } from 'zod';
import { protocolLimits } from './limits.ts';

/** Mall, store and device ids: lowercase letters, digits and '-', 1–64 characters. */
export const idPattern = /^[a-z0-9-]{1,64}$/;

export const idSchema = z.string().regex(idPattern, 'must be lowercase [a-z0-9-], 1-64 characters');

export function isId(value: string): boolean {
  return idPattern.test(value);
}

/** Boot ids are opaque to the platform: any printable token that changes on every boot. */
export const bootIdSchema = z
  .string()
  .min(1)
  .max(protocolLimits.bootIdMaxLength)
  .regex(/^[A-Za-z0-9._:-]+$/, 'must be printable ASCII [A-Za-z0-9._:-]');
