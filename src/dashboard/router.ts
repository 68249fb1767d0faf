import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response, type Router } from 'express';
import type { Config } from '../config/index.js';
import type { Logger } from '../log.js';

/**
 * The brand manager's dashboard: a small single-page app (plain ES modules, no bundler, no framework)
 * that talks only to the admin API (`/admin/api`) with the manager's session cookie and CSRF header.
 * This router serves its static files and chart.js from node_modules (offline, no CDN), each with a
 * strict Content-Security-Policy: scripts, styles and connections from this origin only, nothing inline.
 */

export interface DashboardRouterDeps {
  readonly config: Pick<Config, 'simulator'>;
  readonly log: Logger;
  /** Where the admin router is mounted (the API is `<adminPath>/api`). Default `/admin`. */
  readonly adminPath?: string;
}

export const DASHBOARD_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function asset(body: Buffer, type: string): Asset {
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

function publicDir(): string {
  const here = fileURLToPath(new URL('./public/', import.meta.url));
  if (existsSync(resolve(here, 'index.html'))) return here;
  // Compiled to dist/ without the static files: serve them from the sources.
  return resolve(process.cwd(), 'src/dashboard/public');
}

/** chart.js's UMD build (a global `Chart`), loaded by the pages that draw charts. */
function chartJsPath(): string | undefined {
  try {
    const main = createRequire(import.meta.url).resolve('chart.js');
    const umd = resolve(dirname(main), 'chart.umd.min.js');
    return existsSync(umd) ? umd : undefined;
  } catch {
    return undefined;
  }
}

/** Every file of public/ with a known type, by name (read once: the app is small). */
function loadAssets(adminPath: string): Map<string, Asset> {
  const dir = publicDir();
  const files = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    if (!type || !/^[a-z0-9][a-z0-9.-]*$/.test(name)) continue;
    let body = readFileSync(resolve(dir, name));
    if (name === 'index.html') {
      body = Buffer.from(body.toString('utf8').replaceAll('{{apiBase}}', `${adminPath}/api`));
    }
    files.set(name, asset(body, type));
  }
  return files;
}

function send(req: Request, res: Response, a: Asset, cache: string): void {
  res.setHeader('Content-Type', a.type);
  res.setHeader('Cache-Control', cache);
  res.setHeader('ETag', a.etag);
  if (req.get('if-none-match') === a.etag) {
    res.status(304).end();
    return;
  }
  res.status(200).send(a.body);
}

export function createDashboardRouter(deps: DashboardRouterDeps): Router {
  const log = deps.log.child({ module: 'dashboard' });
  const adminPath = deps.adminPath ?? '/admin';
  const files = loadAssets(adminPath);
  const chartPath = chartJsPath();
  const chart = chartPath ? asset(readFileSync(chartPath), TYPES['.js']!) : undefined;
  if (!chart) log.warn('chart.js not found in node_modules: the dashboard shows figures without charts');

  const router = express.Router();
  router.use((_req, res, next) => {
    res.setHeader('Content-Security-Policy', DASHBOARD_CSP);
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    next();
  });

  const index = files.get('index.html');
  router.get('/', (req, res) => {
    // Relative asset URLs need the trailing slash: `/dashboard` → `/dashboard/`.
    if (!req.originalUrl.split('?')[0]!.endsWith('/')) {
      res.redirect(301, `${req.baseUrl}/`);
      return;
    }
    if (!index) {
      res.status(500).type('text/plain').send('dashboard files are missing');
      return;
    }
    send(req, res, index, 'no-cache');
  });

  router.get('/vendor/chart.umd.min.js', (req, res, next) => {
    if (!chart) return next();
    send(req, res, chart, 'public, max-age=86400');
  });

  router.get('/:file', (req, res, next) => {
    const name = String(req.params.file);
    const a = name === 'index.html' ? undefined : files.get(name);
    if (!a) return next();
    send(req, res, a, 'no-cache');
  });

  router.use((req, res) => {
    res
      .status(404)
      .type('text/plain')
      .send(`Not found: ${req.originalUrl.split('?')[0]}`);
  });
  return router;
}
