import { createCipheriv, createHash } from 'node:crypto';

export const sha256Hex = (s: string): string => createHash('sha256').update(s).digest('hex');

export interface OpenndsClient {
  /** The client token openNDS holds; only its sha256 (`hid`) reaches the portal. */
  token: string;
  clientIp: string;
  clientMac: string;
  gatewayName: string;
  gatewayAddress: string;
  gatewayMac: string;
  originUrl: string;
}

/**
 * The `fas` + `iv` query an openNDS gateway (fas_secure_enabled 2 or 3) redirects a client to: the
 * comma-separated field list encrypted like PHP's openssl_encrypt(…, 'AES-256-CBC', $faskey, 0, $iv)
 * (key zero-padded to 32 bytes, a 16-character iv, base64 output), then base64-encoded once more.
 */
export function openndsArrivalQuery(client: OpenndsClient, faskey: string): Record<string, string> {
  const plain = [
    `hid=${sha256Hex(client.token)}`,
    `clientip=${client.clientIp}`,
    `clientmac=${client.clientMac}`,
    `gatewayname=${encodeURIComponent(client.gatewayName)}`,
    `gatewayaddress=${client.gatewayAddress}`,
    `gatewaymac=${client.gatewayMac}`,
    'authdir=opennds_auth',
    `originurl=${encodeURIComponent(client.originUrl)}`,
  ].join(', ');
  const iv = sha256Hex(`iv-${client.token}`).slice(0, 16);
  const key = Buffer.alloc(32);
  Buffer.from(faskey).copy(key);
  const cipher = createCipheriv('aes-256-cbc', key, Buffer.from(iv, 'latin1'));
  const php = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]).toString('base64');
  return { fas: Buffer.from(php).toString('base64'), iv };
}

/** What openNDS accepts back for a client: rhid = sha256(hid + faskey). */
export function expectedRhid(token: string, faskey: string): string {
  return sha256Hex(sha256Hex(token) + faskey);
}

/** authmon's `gatewayhash`: sha256 of the url-encoded gateway name. */
export function gatewayHashOf(gatewayName: string): string {
  return sha256Hex(encodeURIComponent(gatewayName));
}
