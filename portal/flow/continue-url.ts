/**
 * Validates a place to send the shopper after login. Only absolute http(s) URLs without credentials are
 * accepted; everything else (javascript:, data:, protocol-relative, backslash tricks, over-long) is dropped.
 */
export function safeContinueUrl(value: string | undefined): string | undefined {
  if (value === undefined || value.length === 0 || value.length > 2048) return undefined;
   
  if (/[\u0000-\u001f\u007f\\\s]/.test(value)) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.hostname === '') return undefined;
  if (!/^https?:\/\//i.test(value)) return undefined;
  return url.href;
}

/** Host to show in "Continue to …" links. */
export function displayHost(url: string): string {
  return new URL(url).host;
}
