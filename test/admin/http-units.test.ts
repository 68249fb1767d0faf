import { expect } from 'chai';
import { Types } from 'mongoose';
import { z } from 'zod';
import { csvCell, escapeRegex, fanFilter } from '../../src/app/fans.js';
import { AdminError } from '../../src/admin/errors.js';
import { findUnsafeKey, findUnsafeQueryName, parseQueryString } from '../../src/admin/guard.js';
import { route } from '../../src/admin/http.js';
import { afterCursor, decodeCursor, encodeCursor } from '../../src/admin/pagination.js';
import { email, tag } from '../../src/admin/schemas.js';

describe('admin http: error shape', () => {
  it('maps each type to its status and renders {"error":{code,message,details}}', () => {
    const cases = {
      validation: 400,
      unauthenticated: 401,
      forbidden: 403,
      not_found: 404,
      conflict: 409,
      rate_limited: 429,
    } as const;
    for (const [type, status] of Object.entries(cases)) {
      const e = new AdminError(type as keyof typeof cases, 'msg', { a: 1 });
      expect(e.status).to.equal(status);
      expect(e.toBody()).to.deep.equal({ error: { code: type, message: 'msg', details: { a: 1 } } });
    }
    expect(new AdminError('forbidden', 'x', null, 'csrf_failed').toBody().error.code).to.equal('csrf_failed');
  });
});

describe('admin http: operator-injection guard', () => {
  it('finds $-keys and dotted keys at any depth, including in arrays', () => {
    expect(findUnsafeKey({ tag: { $gt: '' } })?.path).to.equal('tag.$gt');
    expect(findUnsafeKey({ a: [{ ok: 1 }, { $where: 'x' }] })?.path).to.equal('a.1.$where');
    expect(findUnsafeKey({ 'profile.name': 'x' })?.reason).to.match(/"\."/);
    expect(findUnsafeKey(JSON.parse('{"__proto__":{"x":1}}'))?.path).to.equal('__proto__');
    expect(findUnsafeKey({ tag: 'vip', n: 3, list: ['$gt', 'a.b'] })).to.equal(undefined);
    expect(findUnsafeKey(undefined)).to.equal(undefined);
  });

  it('refuses deeply nested bodies', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect(findUnsafeKey(deep)?.reason).to.match(/deep/);
  });

  it('parses query strings flat, whatever the app parser, and flags bracket/$ names', () => {
    const q = parseQueryString('/x?tag=a&tag=b&q[$gt]=&psid=1');
    expect(q.tag).to.deep.equal(['a', 'b']);
    expect(q['q[$gt]']).to.equal('');
    expect(findUnsafeQueryName(Object.keys(q))?.path).to.equal('q[$gt]');
    expect(findUnsafeQueryName(['limit', 'cursor'])).to.equal(undefined);
  });
});

describe('admin http: cursors', () => {
  it('round-trips dates, strings and numbers with the id', () => {
    const id = new Types.ObjectId();
    const at = new Date('2025-03-04T05:06:07.089Z');
    const c = decodeCursor(encodeCursor(at, id));
    expect((c.key as Date).toISOString()).to.equal(at.toISOString());
    expect(c.id.equals(id)).to.equal(true);
    expect(decodeCursor(encodeCursor('abc', id)).key).to.equal('abc');
    expect(decodeCursor(encodeCursor(42, id)).key).to.equal(42);
  });

  it('rejects tampered cursors as validation errors', () => {
    const forged = Buffer.from(JSON.stringify(['d', { $gt: '' }, 'a'.repeat(24)])).toString('base64url');
    for (const bad of [
      '!!!',
      'e30',
      forged,
      Buffer.from('["d","not a date","' + 'a'.repeat(24) + '"]').toString('base64url'),
    ]) {
      expect(() => decodeCursor(bad))
        .to.throw(AdminError)
        .with.property('status', 400);
    }
  });

  it('builds a strictly-after condition from typed values only', () => {
    const id = new Types.ObjectId();
    const at = new Date();
    const f = afterCursor({ pageId: 'p' }, 'at', { cursor: encodeCursor(at, id) }) as { $and: unknown[] };
    const cond = f.$and[1] as { $or: [{ at: { $lt: Date } }, { at: Date; _id: { $lt: Types.ObjectId } }] };
    expect(cond.$or[0].at.$lt).to.be.instanceOf(Date);
    expect(cond.$or[1]._id.$lt).to.be.instanceOf(Types.ObjectId);
    expect(afterCursor({ pageId: 'p' }, 'at', {})).to.deep.equal({ pageId: 'p' });
  });
});

describe('admin http: schemas and fan queries', () => {
  it('accepts only strings for tags and e-mails', () => {
    expect(tag.safeParse({ $gt: '' }).success).to.equal(false);
    expect(tag.safeParse('a.b').success).to.equal(false);
    expect(tag.safeParse('$where').success).to.equal(false);
    expect(tag.parse(' vip-milano ')).to.equal('vip-milano');
    expect(email.parse(' Ann@Example.COM ')).to.equal('ann@example.com');
    expect(email.safeParse(['a@b.it']).success).to.equal(false);
  });

  it('escapes regex metacharacters in name search', () => {
    expect(escapeRegex('a.*(b)')).to.equal('a\\.\\*\\(b\\)');
    const f = fanFilter('p1', { q: '.* mario' }) as { $and: Record<string, unknown>[] };
    expect(JSON.stringify(f.$and)).to.include('\\\\.\\\\*');
    expect(fanFilter('p1', {})).to.deep.equal({ $and: [{ pageId: 'p1' }, { forgottenAt: null }] });
  });

  it('defuses spreadsheet formulas and quotes CSV cells', () => {
    expect(csvCell('=HYPERLINK("x")')).to.equal(`"'=HYPERLINK(""x"")"`);
    expect(csvCell('+39 123')).to.equal(`'+39 123`);
    expect(csvCell('a,b')).to.equal('"a,b"');
    expect(csvCell(null)).to.equal('');
    expect(csvCell(new Date(0))).to.equal('1970-01-01T00:00:00.000Z');
  });
});

describe('admin http: route declarations', () => {
  const handler = async () => undefined;
  it('refuses a viewer route that changes something', () => {
    expect(() =>
      route({ method: 'post', path: '/x', tag: 't', summary: 's', role: 'viewer', handler }),
    ).to.throw(/needs role manager or owner/);
  });

  it('refuses params schemas that do not match the path', () => {
    expect(() =>
      route({
        method: 'get',
        path: '/x/:id',
        tag: 't',
        summary: 's',
        role: 'viewer',
        params: z.object({ other: z.string() }),
        handler,
      }),
    ).to.throw(/params schema/);
  });

  it('makes every input object strict', () => {
    const r = route({
      method: 'post',
      path: '/x',
      tag: 't',
      summary: 's',
      role: 'manager',
      body: z.object({ a: z.string() }),
      handler,
    });
    expect(r.body!.safeParse({ a: 'x', extra: 1 }).success).to.equal(false);
    expect(r.query.safeParse({ anything: '1' }).success).to.equal(false);
  });
});
