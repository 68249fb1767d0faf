/**
 * Meta's error answers, as the fake Graph API sends them: `{error:{message,type,code,error_subcode,
 * fbtrace_id}}` with Meta's HTTP statuses and (where known) Meta's own wording.
 */
import { randomBytes } from 'node:crypto';

export interface Reply {
  status: number;
  body: unknown;
}

export interface MetaErrorObject {
  message: string;
  type: string;
  code: number;
  error_subcode?: number;
  is_transient?: boolean;
  fbtrace_id: string;
}

export function fbtraceId(): string {
  return `A${randomBytes(16).toString('base64url').slice(0, 22)}`;
}

export function metaError(
  status: number,
  code: number,
  message: string,
  opts: { type?: string; subcode?: number; transient?: boolean } = {},
): Reply {
  const error: MetaErrorObject = {
    message,
    type: opts.type ?? 'OAuthException',
    code,
    fbtrace_id: fbtraceId(),
  };
  if (opts.subcode !== undefined) error.error_subcode = opts.subcode;
  if (opts.transient !== undefined) error.is_transient = opts.transient;
  return { status, body: { error } };
}

/** Thrown by validators; becomes a 400 / code 100 answer. */
export class InvalidParam extends Error {
  constructor(
    message: string,
    readonly subcode?: number,
  ) {
    super(message);
  }
}

export const metaErrors = {
  missingToken: () =>
    metaError(400, 104, 'An access token is required to request this resource.', { type: 'OAuthException' }),
  invalidToken: () => metaError(400, 190, 'Invalid OAuth access token - Cannot parse access token'),
  revokedToken: () =>
    metaError(
      400,
      190,
      'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.',
      { subcode: 460 },
    ),
  expiredToken: () =>
    metaError(400, 190, 'Error validating access token: Session has expired.', { subcode: 463 }),
  proofMissing: () =>
    metaError(400, 100, 'API calls from the server require an appsecret_proof argument', {
      type: 'GraphMethodException',
    }),
  proofInvalid: () =>
    metaError(400, 100, 'Invalid appsecret_proof provided in the API argument', {
      type: 'GraphMethodException',
    }),
  param: (message: string, subcode?: number) =>
    metaError(400, 100, `(#100) ${message}`, subcode === undefined ? {} : { subcode }),
  unsupported: (method: string, id: string) =>
    metaError(
      400,
      100,
      `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
      { type: 'GraphMethodException', subcode: 33 },
    ),
  pageTokenRequired: () => metaError(403, 200, '(#200) This endpoint requires a Page access token'),
  appTokenRequired: () => metaError(400, 100, '(#100) This method must be called with an app access token'),
  outsideWindow: () =>
    metaError(
      400,
      10,
      '(#10) This message is sent outside of allowed window. Learn more about the new policy here: https://developers.facebook.com/docs/messenger-platform/policy-overview',
      { subcode: 2018278 },
    ),
  noMatchingUser: () => metaError(400, 100, '(#100) No matching user found', { subcode: 2018001 }),
  noProfile: () => metaError(400, 100, '(#100) No profile available for this user.', { subcode: 2018218 }),
  unavailable: () =>
    metaError(400, 551, "(#551) This person isn't available right now.", { subcode: 1545041 }),
  alreadyReplied: () => metaError(400, 10900, '(#10900) Activity already replied to'),
  cannotReply: (why: string) =>
    metaError(400, 10903, `(#10903) This user can't reply to this activity: ${why}`),
  rateLimited: () => metaError(400, 613, '(#613) Calls to this api have exceeded the rate limit.'),
  serverError: () =>
    metaError(500, 2, 'An unexpected error has occurred. Please retry your request later.', {
      transient: true,
    }),
};
