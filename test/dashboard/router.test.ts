import { readdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import express from 'express';
import { createDashboardRouter, DASHBOARD_CSP } from '../../src/dashboard/router.js';
import { silentLogger } from '../../src/log.js';

const PUBLIC = 'src/dashboard/public';

describe('dashboard router', () => {
  let server: Server;
  let base: string;

  before(async () => {
    const app = express();
    app.use('/dashboard', createDashboardRouter({ config: { simulator: true }, log: silentLogger }));
    server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/dashboard`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const get = (path: string, init?: RequestInit) => fetch(base + path, { redirect: 'manual', ...init });

  it('serves the page at /dashboard/ with a strict CSP and no inline script', async () => {
    const res = await get('/');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).to.equal(DASHBOARD_CSP);
    expect(csp).to.contain("default-src 'self'");
    expect(csp).to.contain("script-src 'self'");
    expect(csp).not.to.contain('unsafe-inline');
    expect(csp).not.to.contain('unsafe-eval');
    expect(csp).to.contain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).to.equal('nosniff');
    const html = await res.text();
    expect(html).to.contain('<meta name="api-base" content="/admin/api" />');
    expect(html).to.contain('<script type="module" src="app.js"></script>');
    // Every <script> has a src (nothing inline), and no inline handlers or style attributes.
    for (const m of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(m[1]).to.match(/\bsrc=/);
      expect(m[2]!.trim()).to.equal('');
    }
    expect(html).not.to.match(/\son[a-z]+=/i);
    expect(html).not.to.match(/\sstyle=/i);
  });

  it('redirects /dashboard to /dashboard/ (relative asset URLs)', async () => {
    const res = await get('');
    expect(res.status).to.equal(301);
    expect(res.headers.get('location')).to.equal('/dashboard/');
  });

  it('serves scripts and styles with their types, validators and the CSP', async () => {
    for (const [path, type] of [
      ['/app.js', 'text/javascript; charset=utf-8'],
      ['/i18n.js', 'text/javascript; charset=utf-8'],
      ['/dashboard.css', 'text/css; charset=utf-8'],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).to.equal(200);
      expect(res.headers.get('content-type'), path).to.equal(type);
      expect(res.headers.get('content-security-policy'), path).to.equal(DASHBOARD_CSP);
      const etag = res.headers.get('etag');
      expect(etag, path).to.match(/^"[\w-]+"$/);
      const again = await get(path, { headers: { 'if-none-match': etag! } });
      expect(again.status, path).to.equal(304);
    }
  });

  it('serves chart.js from node_modules (no CDN)', async () => {
    const res = await get('/vendor/chart.umd.min.js');
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.equal('text/javascript; charset=utf-8');
    const body = await res.text();
    expect(body).to.equal(readFileSync('node_modules/chart.js/dist/chart.umd.min.js', 'utf8'));
  });

  it('answers 404 for unknown paths, traversal attempts and other node_modules files', async () => {
    for (const path of [
      '/nope.js',
      '/vendor/chart.js',
      '/..%2Frouter.ts',
      '/router.ts',
      '/public/app.js',
      '/app.js/x',
    ]) {
      const res = await get(path);
      expect(res.status, path).to.equal(404);
      expect(res.headers.get('content-type'), path).to.match(/^text\/plain/);
      expect(res.headers.get('content-security-policy'), path).to.equal(DASHBOARD_CSP);
    }
    // Dot segments are resolved by the URL parser before the request leaves: they land outside /dashboard.
    for (const path of ['/vendor/../router.ts', '/%2e%2e/router.ts']) {
      expect((await get(path)).status, path).to.equal(404);
    }
  });

  it('the scripts never use innerHTML, eval or inline styles (values are rendered as text)', () => {
    for (const name of readdirSync(PUBLIC).filter((n) => n.endsWith('.js'))) {
      const src = readFileSync(`${PUBLIC}/${name}`, 'utf8');
      expect(src, name).not.to.match(
        /\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write|\beval\(|new Function\(/,
      );
      expect(src, name).not.to.match(/setAttribute\(\s*['"]style['"]/);
    }
  });

  it('Italian and English texts have the same keys and placeholders', async () => {
    const { MESSAGES } = (await import(`../../${PUBLIC}/i18n.js`)) as {
      MESSAGES: Record<'it' | 'en', Record<string, string>>;
    };
    expect(Object.keys(MESSAGES.it).sort()).to.deep.equal(Object.keys(MESSAGES.en).sort());
    const vars = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();
    for (const key of Object.keys(MESSAGES.it)) {
      expect(MESSAGES.it[key], key).to.be.a('string').and.not.equal('');
      expect(vars(MESSAGES.en[key]!), key).to.deep.equal(vars(MESSAGES.it[key]!));
    }
    // Every literal key the screens ask for exists.
    for (const name of readdirSync(PUBLIC).filter((n) => n.endsWith('.js'))) {
      const src = readFileSync(`${PUBLIC}/${name}`, 'utf8');
      for (const m of src.matchAll(/\bt\('([\w.]+)'/g))
        expect(MESSAGES.it, `${name}: ${m[1]}`).to.have.property(m[1]!);
    }
  });
});
