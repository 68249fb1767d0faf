import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Meta's `signed_request` (data deletion callback, reference §8):
 * `base64url(signature) + "." + base64url(payload)`, where signature = HMAC-SHA256 over the *encoded*
 * payload part with the app secret, and payload is JSON with `algorithm: "HMAC-SHA256"` and `user_id`.
 */

export type SignedRequestResult =
  | { readonly ok: true; readonly userId: string; readonly issuedAt: number | undefined }
  | {
      readonly ok: false;
      readonly code: 'malformed' | 'bad_signature' | 'unsupported_algorithm' | 'missing_user_id';
      readonly message: string;
    };

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;
const MAX_LENGTH = 8192;

export function parseSignedRequest(signedRequest: unknown, appSecret: string): SignedRequestResult {
  if (typeof signedRequest !== 'string' || signedRequest.length === 0 || signedRequest.length > MAX_LENGTH) {
    return { ok: false, code: 'malformed', message: 'signed_request is missing or too long' };
  }
  const parts = signedRequest.split('.');
  if (parts.length !== 2 || !BASE64URL.test(parts[0]!) || !BASE64URL.test(parts[1]!)) {
    return {
      ok: false,
      code: 'malformed',
      message: 'signed_request must be <signature>.<payload> in base64url',
    };
  }
  const [encodedSig, encodedPayload] = parts as [string, string];
  const given = Buffer.from(encodedSig, 'base64url');
  const expected = createHmac('sha256', appSecret).update(encodedPayload).digest();
  // Checked before the payload is even parsed: nothing unsigned is looked at.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return { ok: false, code: 'bad_signature', message: 'signed_request signature does not match' };
  }
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(encodedPayload, 'base64url').toString('utf8'));
  } catch {
    return { ok: false, code: 'malformed', message: 'signed_request payload is not JSON' };
  }
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    return { ok: false, code: 'malformed', message: 'signed_request payload is not an object' };
  }
  const p = payload as Record<string, unknown>;
  if (typeof p.algorithm !== 'string' || p.algorithm.toUpperCase() !== 'HMAC-SHA256') {
    return {
      ok: false,
      code: 'unsupported_algorithm',
      message: 'signed_request algorithm must be HMAC-SHA256',
    };
  }
  const userId =
    typeof p.user_id === 'string' ? p.user_id : typeof p.user_id === 'number' ? String(p.user_id) : '';
  if (!/^[0-9A-Za-z_-]{1,128}$/.test(userId)) {
    return { ok: false, code: 'missing_user_id', message: 'signed_request payload has no valid user_id' };
  }
  return { ok: true, userId, issuedAt: typeof p.issued_at === 'number' ? p.issued_at : undefined };
}

/** Builds a signed_request exactly as Meta does (tests, the simulator). */
export function buildSignedRequest(payload: Record<string, unknown>, appSecret: string): string {
  const encodedPayload = Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
  const sig = createHmac('sha256', appSecret).update(encodedPayload).digest('base64url');
  return `${sig}.${encodedPayload}`;
}
