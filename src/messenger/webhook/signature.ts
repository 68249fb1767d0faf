import { createHmac, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sha256=';
const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

/**
 * Checks `X-Hub-Signature-256` over the raw request bytes, in constant time. Meta signs the bytes it
 * sent (unicode escaped), so the body must never be re-serialised before this check.
 */
export function isValidSignature(rawBody: Buffer, header: string | undefined, appSecret: string): boolean {
  if (!header || !header.startsWith(PREFIX)) return false;
  const digest = header.slice(PREFIX.length);
  // Buffer.from(hex) stops silently at the first non-hex digit: check the shape first.
  if (!HEX_SHA256.test(digest)) return false;
  const given = Buffer.from(digest, 'hex');
  const expected = createHmac('sha256', appSecret).update(rawBody).digest();
  return given.length === expected.length && timingSafeEqual(given, expected);
}
