import { expect } from 'chai';
import {
  generatePassword,
  hashPassword,
  passwordProblem,
  verifyPassword,
  type ScryptParams,
} from '../../src/admin/auth/passwords.js';
import { createRateLimiter } from '../../src/admin/auth/rate-limit.js';
import { csrfTokenFor, parseCookies, sessionCookie, verifyCsrf } from '../../src/admin/auth/sessions.js';
import { generateToken, hashToken, looksLikeToken } from '../../src/admin/auth/tokens.js';

const FAST: ScryptParams = { N: 1024, r: 8, p: 1 };

describe('admin auth: passwords (scrypt)', () => {
  it('hashes self-describingly with a random salt and verifies', async () => {
    const a = await hashPassword('correct horse battery', FAST);
    const b = await hashPassword('correct horse battery', FAST);
    expect(a).to.match(/^scrypt\$1024\$8\$1\$[\w-]{22}\$[\w-]{43}$/);
    expect(a).to.not.equal(b);
    expect(await verifyPassword('correct horse battery', a)).to.equal(true);
    expect(await verifyPassword('correct horse batterx', a)).to.equal(false);
  });

  it('uses a memory-hard default (N = 2^15) that still verifies', async () => {
    const h = await hashPassword('a long enough password');
    expect(h.startsWith('scrypt$32768$8$1$')).to.equal(true);
    expect(await verifyPassword('a long enough password', h)).to.equal(true);
  });

  it('refuses malformed or absurd stored hashes without throwing', async () => {
    for (const bad of [
      '',
      'plain',
      'scrypt$1$1$1$AA$AA',
      'scrypt$99999999$8$1$AAAA$AAAA',
      'bcrypt$x$y$z$a$b',
    ]) {
      expect(await verifyPassword('x', bad)).to.equal(false);
    }
  });

  it('normalises Unicode so the same visible password verifies', async () => {
    const h = await hashPassword('caf\u00e9-password-12', FAST);
    expect(await verifyPassword('cafe\u0301-password-12', h)).to.equal(true);
  });

  it('generates strong passwords and checks length', () => {
    expect(generatePassword()).to.match(/^[\w-]{24}$/);
    expect(passwordProblem('short')).to.match(/at least 12/);
    expect(passwordProblem('x'.repeat(12))).to.equal(undefined);
  });
});

describe('admin auth: API tokens', () => {
  it('are scb_ + 43 base64url chars, hashed with sha256', () => {
    const t = generateToken();
    expect(looksLikeToken(t)).to.equal(true);
    expect(t).to.match(/^scb_[\w-]{43}$/);
    expect(hashToken(t)).to.match(/^[a-f0-9]{64}$/);
    expect(hashToken(t)).to.not.include(t.slice(4));
    expect(looksLikeToken(`${t}x`)).to.equal(false);
    expect(looksLikeToken('scb_{"$gt":""}')).to.equal(false);
  });
});

describe('admin auth: sessions, cookies and CSRF', () => {
  it('derives a CSRF token per session and checks it in constant time', () => {
    const sid = 'A'.repeat(43);
    const csrf = csrfTokenFor(sid);
    expect(verifyCsrf(sid, csrf)).to.equal(true);
    expect(verifyCsrf(sid, undefined)).to.equal(false);
    expect(verifyCsrf(sid, `${csrf}x`)).to.equal(false);
    expect(verifyCsrf('B'.repeat(43), csrf)).to.equal(false);
  });

  it('sets HttpOnly, SameSite=Strict, and Secure only when asked', () => {
    const plain = sessionCookie('abc', { secure: false, path: '/admin' });
    expect(plain).to.include('HttpOnly').and.include('SameSite=Strict').and.include('Path=/admin');
    expect(plain).to.not.include('Secure');
    expect(sessionCookie('abc', { secure: true, path: '/admin' })).to.include('; Secure');
  });

  it('parses Cookie headers (first value wins)', () => {
    const c = parseCookies('a=1; scb_admin_session=xyz; a=2; junk; q="quoted"');
    expect(c.get('a')).to.equal('1');
    expect(c.get('scb_admin_session')).to.equal('xyz');
    expect(c.get('q')).to.equal('quoted');
    expect(parseCookies(undefined).size).to.equal(0);
  });
});

describe('admin auth: rate limiter', () => {
  it('allows `limit` hits per window, then refuses with a retry time', () => {
    let now = Date.UTC(2025, 0, 1, 0, 0, 0);
    const rl = createRateLimiter({ limit: 3, windowMs: 60_000, clock: () => new Date(now) });
    expect([1, 2, 3].map(() => rl.hit('k').allowed)).to.deep.equal([true, true, true]);
    const refused = rl.hit('k');
    expect(refused.allowed).to.equal(false);
    expect(refused.retryAfterMs).to.be.greaterThan(0).and.at.most(60_000);
    expect(rl.hit('other').allowed).to.equal(true);
    // The sliding window still remembers most of the previous window just after it ends...
    now += 61_000;
    expect(rl.hit('k').allowed).to.equal(false);
    // ...and forgets it once it has slid past.
    now += 60_000;
    expect(rl.hit('k').allowed).to.equal(true);
  });

  it('reset() forgets a key', () => {
    const rl = createRateLimiter({ limit: 1, windowMs: 60_000 });
    expect(rl.hit('k').allowed).to.equal(true);
    expect(rl.hit('k').allowed).to.equal(false);
    rl.reset('k');
    expect(rl.hit('k').allowed).to.equal(true);
  });

  it('keeps memory bounded under many keys', () => {
    let now = 0;
    const rl = createRateLimiter({ limit: 1, windowMs: 1000, clock: () => new Date(now), maxKeys: 10 });
    for (let i = 0; i < 10; i++) rl.hit(`k${i}`);
    now += 5000;
    for (let i = 10; i < 1000; i++) expect(rl.hit(`k${i}`).allowed).to.equal(true);
  });
});
