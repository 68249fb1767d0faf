import express, { type Request, type Response, type NextFunction, type RequestHandler } from 'express';
import type { Logger } from '../../log.js';
import { splitWebhookBody } from './events.js';
import { isValidSignature } from './signature.js';
import { acceptEvents } from '../inbox/store.js';

export interface WebhookDeps {
  readonly appSecret: string;
  readonly verifyToken: string;
  readonly maxBodyBytes: number;
  readonly log: Logger;
  readonly now: () => Date;
  /** Called after events are durably stored, so a local processor can start at once. */
  readonly onAccepted?: (count: number) => void;
  /** How long storing may take before the webhook answers 503 instead (default 5 s). */
  readonly storeTimeoutMs?: number;
}

/**
 * While the database is away the driver waits for it (mongoose buffers for 10 s, server selection
 * as long again): Meta would see a webhook that hangs. A bounded wait, well inside Meta's 20 s, then
 * 503 makes Meta retry. Trying the store every time is also what lets the driver notice the database
 * is back. A store that completes after the 503 is harmless: Meta's retry hits the dedupe key.
 */
const STORE_TIMEOUT_MS = 5_000;

class StoreTimeoutError extends Error {
  override readonly name = 'StoreTimeoutError';
}

function within<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new StoreTimeoutError(`events not stored within ${ms} ms`)), ms);
  });
  // A late failure of the abandoned store must not surface as an unhandled rejection.
  work.catch(() => undefined);
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `/api/messages`: the only door Meta knows. It verifies, stores and answers — nothing slow happens
 * before the 200, and no input can throw past this router.
 */
export function createWebhookRouter(deps: WebhookDeps): express.Router {
  const router = express.Router();
  const log = deps.log.child({ module: 'webhook' });

  router.get('/', (req, res) => {
    const mode = req.query['hub.mode'];
    const token = req.query['hub.verify_token'];
    const challenge = req.query['hub.challenge'];
    if (mode !== 'subscribe' || typeof challenge !== 'string') {
      res.status(400).type('text/plain').send('Bad Request');
      return;
    }
    if (token !== deps.verifyToken) {
      log.warn('webhook verification with a wrong verify token');
      res.status(403).type('text/plain').send('Forbidden');
      return;
    }
    res.status(200).type('text/plain').send(challenge);
  });

  router.post('/', readRawBody(deps.maxBodyBytes, log), async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!isValidSignature(raw, req.get('x-hub-signature-256'), deps.appSecret)) {
      log.warn(
        { bytes: raw.length, ip: req.ip },
        'webhook POST with a missing or invalid X-Hub-Signature-256',
      );
      res.status(401).json({ error: 'invalid signature' });
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      log.warn({ bytes: raw.length }, 'webhook POST with malformed JSON');
      res.status(400).json({ error: 'malformed JSON' });
      return;
    }
    const now = deps.now();
    const { events, problems } = splitWebhookBody(body, now);
    if (problems.length > 0) log.warn({ problems }, 'webhook body has parts we cannot use; they are skipped');
    try {
      const result = await within(acceptEvents(events, now), deps.storeTimeoutMs ?? STORE_TIMEOUT_MS);
      if (result.duplicates > 0)
        log.info({ duplicates: result.duplicates }, 'redelivered webhook events ignored');
      if (result.accepted > 0) deps.onAccepted?.(result.accepted);
    } catch (error) {
      // Not stored means not acknowledged: Meta will deliver again.
      log.error(
        { err: error, events: events.length },
        'could not store webhook events; answering 503 so Meta retries',
      );
      res.status(503).json({ error: 'temporarily unavailable' });
      return;
    }
    res.status(200).type('text/plain').send('EVENT_RECEIVED');
  });

  // Read failures (an aborted upload) end here instead of express's HTML error page.
  router.use((error: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(error);
      return;
    }
    const e = error as { status?: number; type?: string };
    const status = e.type === 'entity.too.large' ? 413 : (e.status ?? 400);
    log.warn({ type: e.type, status }, 'webhook request refused before reading');
    res.status(status >= 400 && status < 600 ? status : 400).json({ error: e.type ?? 'bad request' });
  });

  return router;
}

/**
 * Reads the body as bytes, refusing it with 413 as soon as it is known to be too large: from its
 * Content-Length before any byte is read, or at the first chunk past the limit. express.raw answers
 * only after draining the whole body, so a slow sender could hold the socket for the full request
 * timeout and get a 408 instead. The connection is closed after the 413 rather than drained.
 */
function readRawBody(maxBytes: number, log: Logger): RequestHandler {
  return (req, res, next) => {
    const refuse = (bytes: number) => {
      log.warn({ bytes, limit: maxBytes }, 'webhook body too large; refused before reading it all');
      req.pause();
      res.set('Connection', 'close').status(413).json({ error: 'entity.too.large' });
    };
    const declared = Number(req.get('content-length'));
    if (declared > maxBytes) {
      refuse(declared);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    req.on('data', (chunk: Buffer) => {
      if (finished) return;
      size += chunk.length;
      if (size > maxBytes) {
        finished = true;
        refuse(size);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (finished) return;
      finished = true;
      req.body = Buffer.concat(chunks, size);
      next();
    });
    // An aborted upload: nobody is left to answer.
    req.on('error', (error) => {
      if (finished) return;
      finished = true;
      next(error);
    });
  };
}
