import { z } from 'zod';

/** Colon-separated MAC as devices send it; normalised to lowercase on parse. */
export const macSchema = z
  .string()
  .regex(/^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$/, 'must be a MAC address: six hex pairs separated by colons')
  .transform((mac) => mac.toLowerCase());

/** Locally administered bit (0x02 of the first octet): set by phones that randomize their MAC. */
export function isRandomizedMac(mac: string): boolean {
  const firstOctet = Number.parseInt(mac.slice(0, 2), 16);
  return (firstOctet & 0x02) !== 0;
}
