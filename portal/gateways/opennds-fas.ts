import { createDecipheriv } from 'node:crypto';
import { isIP } from 'node:net';
import { GatewayError } from './types.ts';
import { normaliseMac } from './util.ts';

/**
 * Decoding of the `fas` query openNDS sends to a Forward Authentication Service (openNDS docs, "FAS"):
 * level 1 `fas=base64(plain)`; levels 2 and 3 `fas=base64(base64(aes-256-cbc(plain)))&iv=<16 chars>`, encrypted
 * the way PHP's `openssl_encrypt(plain, 'aes-256-cbc', faskey, 0, iv)` does. The plain text is
 * `name=value` pairs separated by ", ".
 */

/** The fields the adapter uses, validated. Values that openNDS url-encodes are decoded. */
export interface FasFields {
  hid: string;
  clientIp: string;
  clientMac: string;
  /** As sent (url-encoded): the input of authmon's gatewayhash. */
  gatewayNameRaw: string;
  gatewayName: string;
  gatewayAddress: string;
  authDir?: string;
  originUrl?: string;
  clientIf?: string;
  gatewayMac?: string;
}

const maxFasChars = 8192;

/** PHP pads a short key with NUL bytes and cuts a long one to the cipher's 32-byte key length. */
export function phpAes256Key(faskey: string): Buffer {
  const key = Buffer.alloc(32);
  Buffer.from(faskey, 'utf8').copy(key, 0, 0, 32);
  return key;
}

/** Base64 as it may arrive in a query: a `+` that was not percent-encoded has been turned into a space. */
function base64Bytes(value: string, what: string): Buffer {
  const restored = value.replace(/ /g, '+');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(restored) || restored.length % 4 !== 0) {
    throw new GatewayError(`${what} is not base64`, 'invalid');
  }
  return Buffer.from(restored, 'base64');
}

/** Level 1: base64 only. */
export function decodeFasLevel1(fas: string): string {
  if (fas.length > maxFasChars) throw new GatewayError('fas parameter is too long', 'invalid');
  return printable(base64Bytes(fas, 'fas'));
}

/** Levels 2 and 3: AES-256-CBC under the faskey with the 16-character iv. */
export function decryptFas(fas: string, iv: string, faskey: string): string {
  if (fas.length > maxFasChars) throw new GatewayError('fas parameter is too long', 'invalid');
  // openNDS sends the first 16 hex characters of a sha256 as the iv; anything else did not come from it.
  if (!/^[0-9a-fA-F]{16}$/.test(iv)) throw new GatewayError('iv parameter is malformed', 'invalid');
  const phpOutput = base64Bytes(fas, 'fas').toString('latin1');
  const ciphertext = base64Bytes(phpOutput, 'fas ciphertext');
  if (ciphertext.length === 0 || ciphertext.length % 16 !== 0) throw new GatewayError('fas ciphertext has a bad length', 'invalid');
  let plain: Buffer;
  try {
    const decipher = createDecipheriv('aes-256-cbc', phpAes256Key(faskey), Buffer.from(iv, 'latin1'));
    plain = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
  } catch {
    throw new GatewayError('fas does not decrypt under the faskey', 'invalid');
  }
  return printable(plain);
}

/**
 * CBC is not authenticated: a flipped ciphertext block turns the block before it into random bytes. openNDS
 * plain text is printable ASCII (values are url-encoded), so anything else is a tampered or foreign payload.
 */
function printable(bytes: Buffer): string {
  for (const byte of bytes) {
    if (byte < 0x20 || byte > 0x7e) throw new GatewayError('fas payload is not what openNDS sends (tampered or wrong key)', 'invalid');
  }
  return bytes.toString('latin1');
}

function decodeComponent(value: string, name: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    throw new GatewayError(`fas field ${name} is badly url-encoded`, 'invalid');
  }
}

/** Parses and validates the `name=value, name=value` plain text. */
export function parseFasFields(plain: string): FasFields {
  const values = new Map<string, string>();
  for (const pair of plain.split(', ')) {
    if (pair.trim() === '') continue;
    const at = pair.indexOf('=');
    if (at <= 0) throw new GatewayError('fas payload has a malformed field', 'invalid');
    const name = pair.slice(0, at).trim();
    // A field seen twice is a spliced payload; openNDS never repeats one.
    if (values.has(name)) throw new GatewayError(`fas payload repeats ${name}`, 'invalid');
    values.set(name, pair.slice(at + 1));
  }
  const get = (name: string): string => {
    const value = values.get(name);
    if (value === undefined || value === '') throw new GatewayError(`fas payload lacks ${name}`, 'invalid');
    return value;
  };

  const hid = get('hid');
  if (!/^[0-9a-f]{64}$/.test(hid)) throw new GatewayError('fas hid is not a sha256 hex digest', 'invalid');
  const clientIp = get('clientip');
  if (isIP(clientIp) === 0) throw new GatewayError('fas clientip is not an IP address', 'invalid');
  const clientMac = normaliseMac(get('clientmac'));
  if (clientMac === undefined) throw new GatewayError('fas clientmac is not a MAC address', 'invalid');
  const gatewayNameRaw = get('gatewayname');
  const gatewayName = decodeComponent(gatewayNameRaw, 'gatewayname');
  const gatewayAddress = get('gatewayaddress');
  const authDir = values.get('authdir');
  if (authDir !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(authDir)) throw new GatewayError('fas authdir is malformed', 'invalid');
  const originRaw = values.get('originurl');
  const gatewayMac = normaliseMac(values.get('gatewaymac'));
  return {
    hid,
    clientIp,
    clientMac,
    gatewayNameRaw,
    gatewayName,
    gatewayAddress,
    ...(authDir !== undefined && authDir !== '' ? { authDir } : {}),
    ...(originRaw !== undefined && originRaw !== '' ? { originUrl: decodeComponent(originRaw, 'originurl') } : {}),
    ...(values.get('clientif') ? { clientIf: values.get('clientif') } : {}),
    ...(gatewayMac !== undefined ? { gatewayMac } : {}),
  };
}
