import { expect } from 'chai';
import { upsertProduct } from '../../src/app/catalog.js';
import { AuditEntryModel } from '../../src/db/models/audit-entry.js';
import { CommentModel } from '../../src/db/models/comment.js';
import { PagePostModel } from '../../src/db/models/page-post.js';
import { errorCode, startHarness, type Harness } from '../admin/harness.js';
import { sampleProduct } from '../shop/helpers.js';

describe('admin API: comments (links, settings, figures per post)', function () {
  this.timeout(60_000);
  let h: Harness;
  let viewer: string;
  let manager: string;
  const postId = '110000000000001_777';

  before(async () => {
    h = await startHarness();
    viewer = await h.makeToken('viewer', 'viewer');
    manager = await h.makeToken('manager', 'comments-bot');
    await upsertProduct({ pageId: h.pageId }, sampleProduct('AC1'));
  });
  after(async () => h?.close());

  it('links a post to a product (manager only, audited) and unlinks it', async () => {
    const denied = await h.request('put', `/comments/posts/${postId}/product`, {
      token: viewer,
      body: { sku: 'AC1' },
    });
    expect(denied.status).to.equal(403);
    const missing = await h.request('put', `/comments/posts/${postId}/product`, {
      token: manager,
      body: { sku: 'NOPE' },
    });
    expect(missing.status).to.equal(404);
    const bad = await h.request('put', `/comments/posts/not-a-post/product`, {
      token: manager,
      body: { sku: 'AC1' },
    });
    expect(bad.status).to.equal(400);
    expect(errorCode(bad)).to.equal('validation');

    const ok = await h.request('put', `/comments/posts/${postId}/product`, {
      token: manager,
      body: { sku: 'AC1', message: 'Il jeans della settimana' },
    });
    expect(ok.status).to.equal(200);
    expect(ok.body.link).to.deep.equal({ type: 'product', id: 'AC1' });
    expect((await PagePostModel.findOne({ postId }).lean())!.message).to.equal('Il jeans della settimana');
    expect(await AuditEntryModel.countDocuments({ action: 'post.link_product' })).to.equal(1);

    const gone = await h.request('delete', `/comments/posts/${postId}/link`, { token: manager });
    expect(gone.body).to.deep.equal({ postId, wasLinked: { type: 'product', id: 'AC1' } });
    expect(await PagePostModel.countDocuments({ postId })).to.equal(0);
    const again = await h.request('delete', `/comments/posts/${postId}/link`, { token: manager });
    expect(again.body.wasLinked).to.equal(null);
    expect(await AuditEntryModel.countDocuments({ action: 'post.unlink' })).to.equal(1);
  });

  it('sets the language and extra keywords of a post or a campaign', async () => {
    const empty = await h.request('get', `/comments/settings/post/${postId}`, { token: viewer });
    expect(empty.body).to.deep.include({ scope: 'post', id: postId, locale: null });
    const set = await h.request('put', `/comments/settings/campaign/0123456789abcdef01234567`, {
      token: manager,
      body: {
        locale: 'en',
        keywords: { it: { join: ['prenotami', ' prenotami '] }, en: { info: ['shipping'] } },
      },
    });
    expect(set.status).to.equal(200);
    expect(set.body.locale).to.equal('en');
    expect(set.body.keywords.it.join).to.deep.equal(['prenotami']);
    expect(set.body.keywords.en.info).to.deep.equal(['shipping']);
    const unknownField = await h.request('put', `/comments/settings/post/${postId}`, {
      token: manager,
      body: { keywords: { de: { join: ['ja'] } } },
    });
    expect(unknownField.status).to.equal(400);
    const operator = await h.request('put', `/comments/settings/post/${postId}`, {
      token: manager,
      body: { locale: { $ne: null } },
    });
    expect(operator.status).to.equal(400);
  });

  it('shows the figures of a post: seen, intents, replies, conversations', async () => {
    const base = {
      pageId: h.pageId,
      postId,
      parentId: postId,
      createdTime: new Date(),
      message: 'x',
    };
    await CommentModel.create([
      {
        ...base,
        commentId: 'c1',
        fromId: 'u1',
        intent: { type: 'join' },
        state: 'confirmed',
        psid: 'p1',
        privateReply: { state: 'sent' },
        publicReply: { state: 'sent' },
      },
      {
        ...base,
        commentId: 'c2',
        fromId: 'u2',
        intent: { type: 'join' },
        state: 'private_replied',
        privateReply: { state: 'sent' },
        publicReply: { state: 'skipped_rate' },
      },
      {
        ...base,
        commentId: 'c3',
        fromId: 'u3',
        intent: { type: 'info' },
        state: 'private_replied',
        psid: 'p3',
        privateReply: { state: 'already_replied' },
      },
      { ...base, commentId: 'c4', fromId: 'u4', intent: { type: 'none' }, state: 'seen' },
      { ...base, commentId: 'c5', fromId: h.pageId, intent: { type: 'none' }, state: 'ignored' },
    ]);
    const stats = await h.request('get', `/comments/posts/${postId}/stats`, { token: viewer });
    expect(stats.status).to.equal(200);
    expect(stats.body).to.deep.include({ comments: 4, conversations: 2, confirmed: 1, pledges: 0 });
    expect(stats.body.intents).to.deep.equal({ join: 2, info: 1, stop: 0 });
    expect(stats.body.privateReplies).to.deep.equal({ sent: 2, handledElsewhere: 1, failed: 0 });
    expect(stats.body.publicReplies).to.deep.equal({ sent: 1, skippedRate: 1 });
    const list = await h.request('get', `/comments/posts`, { token: viewer });
    expect(list.body.items.map((p: { postId: string }) => p.postId)).to.include(postId);
    // Names are personal data: the comment list needs the manager role.
    expect((await h.request('get', `/comments?postId=${postId}`, { token: viewer })).status).to.equal(403);
    const comments = await h.request('get', `/comments?postId=${postId}&state=confirmed`, { token: manager });
    expect(comments.body.items).to.have.length(1);
    expect(comments.body.items[0]).to.deep.include({ commentId: 'c1', conversation: true });
  });
});
