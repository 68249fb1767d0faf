import { PageHealthModel, type TokenStatus } from '../db/models/page-health.js';
import type { TokenInfo } from '../messenger/graph/client.js';
import { GraphApiError } from '../messenger/graph/errors.js';
import type { JobContext, JobDefinition } from './types.js';

/** A token that expires sooner than this is reported (managers need time to renew it). */
export const TOKEN_EXPIRY_WARN_MS = 7 * 86_400_000;

/** The part of the outbox sender this job uses: after a 190 it can resume sending early. */
export interface PausableSender {
  readonly pauseReason: string | undefined;
  probeToken(): Promise<boolean>;
}

export interface TokenHealthDeps {
  /** The local outbox sender, when this process has one. */
  readonly sender?: PausableSender | undefined;
}

export interface TokenCheck {
  readonly status: TokenStatus;
  readonly expiresAt: Date | null;
  readonly scopes: readonly string[];
  readonly error?: { code?: number | undefined; subcode?: number | undefined; message?: string | undefined };
  readonly problem?: string;
}

/**
 * Asks Meta about the page token: `debug_token` (authenticated with the app token when FACEBOOK_APP_ID
 * is set, else with the page token itself), falling back to `GET /me` when debug_token is refused for
 * another reason than the token. Network failures throw (the run fails and the next one retries).
 */
export async function checkPageToken(ctx: JobContext): Promise<TokenCheck> {
  const { graph, page, config } = ctx;
  const appToken = config.facebook.appId
    ? `${config.facebook.appId}|${config.facebook.appSecret}`
    : undefined;
  let info: TokenInfo;
  try {
    info = await graph.debugToken(page.accessToken, appToken ?? page.accessToken);
  } catch (error) {
    if (error instanceof GraphApiError && error.kind === 'token') return invalidFrom(error);
    if (!(error instanceof GraphApiError)) throw error;
    try {
      await graph.getMe(page.accessToken);
      return { status: 'valid', expiresAt: null, scopes: [] };
    } catch (inner) {
      if (inner instanceof GraphApiError && inner.kind === 'token') return invalidFrom(inner);
      throw inner;
    }
  }
  if (!info.isValid) {
    return {
      status: 'invalid',
      expiresAt: info.expiresAt,
      scopes: info.scopes,
      error: { code: info.error?.code, subcode: info.error?.subcode, message: info.error?.message },
      problem: 'token_invalid',
    };
  }
  if (info.profileId && info.profileId !== page.id) {
    return {
      status: 'invalid',
      expiresAt: info.expiresAt,
      scopes: info.scopes,
      problem: 'token_of_another_page',
    };
  }
  if (info.expiresAt && info.expiresAt.getTime() - ctx.now.getTime() < TOKEN_EXPIRY_WARN_MS) {
    return { status: 'expiring', expiresAt: info.expiresAt, scopes: info.scopes, problem: 'token_expiring' };
  }
  return { status: 'valid', expiresAt: info.expiresAt, scopes: info.scopes };
}

function invalidFrom(error: GraphApiError): TokenCheck {
  return {
    status: 'invalid',
    expiresAt: null,
    scopes: [],
    error: { code: error.code, subcode: error.subcode, message: error.graphMessage?.slice(0, 300) },
    problem: 'token_refused',
  };
}

/**
 * Daily: is the page token still good? An invalid token, or one expiring within 7 days, is an ALERT
 * (log level fatal, `alert: 'page_token'`) and is recorded in `page_health` for `/healthz`. When the
 * token works and the local sender was paused by a 190, it is told to probe and resume.
 */
export function tokenHealthJob(deps: TokenHealthDeps = {}): JobDefinition {
  return {
    id: 'token-health',
    schedule: '17 4 * * *',
    description: 'Checks the page access token (debug_token / me); alerts and records page health',
    async run(ctx) {
      const check = await checkPageToken(ctx);
      const previous = await PageHealthModel.collection.findOne({ pageId: ctx.page.id });
      const prevToken = previous?.token as { status?: string; unhealthySince?: Date } | undefined;
      const unhealthySince =
        check.status === 'valid'
          ? undefined
          : prevToken?.status && prevToken.status !== 'valid' && prevToken.unhealthySince
            ? prevToken.unhealthySince
            : ctx.now;
      await PageHealthModel.collection.updateOne(
        { pageId: ctx.page.id },
        {
          $set: {
            pageId: ctx.page.id,
            token: {
              status: check.status,
              checkedAt: ctx.now,
              expiresAt: check.expiresAt,
              scopes: [...check.scopes],
              ...(check.error ? { error: withoutUndefined(check.error) } : {}),
              ...(check.problem ? { problem: check.problem } : {}),
              ...(unhealthySince ? { unhealthySince } : {}),
            },
            updatedAt: ctx.now,
          },
        },
        { upsert: true },
      );
      if (check.status !== 'valid') {
        ctx.log.fatal(
          {
            alert: 'page_token',
            pageId: ctx.page.id,
            status: check.status,
            problem: check.problem,
            expiresAt: check.expiresAt,
            error: check.error,
          },
          check.status === 'expiring'
            ? `ALERT: the page access token expires on ${check.expiresAt?.toISOString() ?? '?'}; renew FACEBOOK_ACCESS_TOKEN`
            : 'ALERT: the page access token is not valid; nothing can be sent. Renew FACEBOOK_ACCESS_TOKEN',
        );
      }
      let resumed = false;
      if (check.status !== 'invalid' && deps.sender?.pauseReason) {
        resumed = await deps.sender.probeToken();
        ctx.log.info({ resumed }, 'outbox sender was paused for the token; probed it');
      }
      return {
        summary: {
          status: check.status,
          expiresAt: check.expiresAt ? check.expiresAt.toISOString() : null,
          senderResumed: resumed,
        },
      };
    },
  };
}

function withoutUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
