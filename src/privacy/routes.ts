import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config, Locale } from '../config/index.js';
import {
  getDeletionStatus,
  processDeletionRequest,
  recordDeletionRequest,
  type DeletionStatus,
  type PrivacyContext,
} from '../app/privacy.js';
import { t, toLocale } from '../i18n/index.js';
import type { Logger } from '../log.js';
import { parseSignedRequest } from './signed-request.js';
import type { SubjectResolver } from './subject-resolver.js';

export interface PrivacyRouterDeps {
  /** Read per request: the public URL is only final once the server listens. */
  readonly config: () => Config;
  readonly log: Logger;
  readonly now: () => Date;
  /** Read per request: the Graph client that maps Meta's app-scoped ids exists once the app is wired. */
  readonly resolveSubject?: () => SubjectResolver | undefined;
}

export const escapeHtml = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );

function badRequest(res: Response, code: string, message: string): void {
  res.status(400).json({ error: { code, message } });
}

/**
 * `POST /privacy/deletion`: Meta's data deletion callback (form-encoded `signed_request`), and
 * `GET /privacy/deletion/:code`: the status page Meta links the person to. Mounted at `/privacy`.
 */
export function createPrivacyRouter(deps: PrivacyRouterDeps): Router {
  const router = express.Router();
  const log = deps.log.child({ module: 'privacy' });

  const contextFor = (config: Config): PrivacyContext => ({
    pageId: config.facebook.page.id,
    now: deps.now(),
    secret: config.facebook.appSecret,
    outboxRetentionMs: config.retention.outboxMs,
    log,
    resolveSubject: deps.resolveSubject?.(),
  });

  router.post(
    '/deletion',
    express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 }),
    express.json({ limit: '16kb' }),
    async (req: Request, res: Response) => {
      const config = deps.config();
      const body = (req.body ?? {}) as Record<string, unknown>;
      const parsed = parseSignedRequest(body.signed_request, config.facebook.appSecret);
      if (!parsed.ok) {
        log.warn({ code: parsed.code }, 'data deletion callback refused');
        badRequest(res, parsed.code, parsed.message);
        return;
      }
      const ctx = contextFor(config);
      let code: string;
      try {
        ({ code } = await recordDeletionRequest(ctx, { source: 'meta_callback', subjectId: parsed.userId }));
      } catch (error) {
        log.error({ err: error }, 'could not record a data deletion request');
        res.status(503).json({ error: { code: 'unavailable', message: 'try again later' } });
        return;
      }
      try {
        await processDeletionRequest(ctx, code);
      } catch (error) {
        // Recorded: the privacy-deletions job finishes it. Meta still gets its confirmation code.
        log.error({ err: error, code }, 'data deletion failed for now; the job will retry');
      }
      res.json({ url: `${config.publicUrl}/privacy/deletion/${code}`, confirmation_code: code });
    },
  );

  router.get('/deletion/:code', async (req: Request, res: Response) => {
    const config = deps.config();
    const lang = typeof req.query.lang === 'string' ? req.query.lang : undefined;
    const accepted = req.get('accept-language') ? req.acceptsLanguages('it', 'en') || undefined : undefined;
    const locale = toLocale(lang ?? accepted, config.defaultLocale);
    const code = String(req.params.code ?? '');
    let status: DeletionStatus | undefined;
    try {
      status = await getDeletionStatus(code);
    } catch (error) {
      log.error({ err: error }, 'could not read a deletion request');
      res
        .status(503)
        .type('html')
        .send(statusPage(locale, config, undefined, true));
      return;
    }
    res
      .status(status ? 200 : 404)
      .type('html')
      .set('Cache-Control', 'no-store')
      .send(statusPage(locale, config, status, false));
  });

  // Body parser failures (bad encoding, too large) are the caller's fault: a JSON 400, never a 500.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const status = (error as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      badRequest(res, 'malformed', 'the request body could not be read');
      return;
    }
    log.error({ err: error }, 'privacy route failed');
    res.status(500).json({ error: { code: 'internal', message: 'internal error' } });
  });

  return router;
}

function formatDate(locale: Locale, d: Date): string {
  return d.toLocaleString(locale === 'it' ? 'it-IT' : 'en-GB', { timeZone: 'UTC', timeZoneName: 'short' });
}

export function statusPage(
  locale: Locale,
  config: Pick<Config, 'facebook'>,
  status: DeletionStatus | undefined,
  unavailable: boolean,
): string {
  const tr = (key: string, vars?: Record<string, unknown>) =>
    escapeHtml(t(locale, `privacy.status.${key}`, vars));
  const lines: string[] = [];
  if (unavailable) lines.push(`<p>${tr('unavailable')}</p>`);
  else if (!status) lines.push(`<p>${tr('unknown')}</p>`);
  else {
    lines.push(`<p>${tr('code')}: <code>${escapeHtml(status.code)}</code></p>`);
    lines.push(`<p>${tr('requested', { date: formatDate(locale, status.requestedAt) })}</p>`);
    if (status.state === 'completed' && status.completedAt) {
      lines.push(
        `<p><strong>${tr('completed', { date: formatDate(locale, status.completedAt) })}</strong></p>`,
      );
      lines.push(`<p>${status.fansErased ? tr('erased') : tr('nothing_found')}</p>`);
    } else {
      lines.push(`<p><strong>${tr('pending')}</strong></p>`);
    }
  }
  const other = locale === 'it' ? 'en' : 'it';
  const title = tr('title');
  return `<!doctype html><html lang="${locale}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${title}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;color:#1c1e21}code{word-break:break-all}</style></head>
<body><h1>${title} — ${escapeHtml(config.facebook.page.name)}</h1>${lines.join('')}
<p><a href="?lang=${other}">${other === 'en' ? 'English' : 'Italiano'}</a> · <a href="../../privacy?lang=${locale}">${tr('policy')}</a></p></body></html>`;
}
