import { expect } from 'chai';
import { CommentModel } from '../../src/db/models/comment.js';
import { changesBody, commentChange, newCommentId } from '../../src/dev/webhook-payloads.js';
import { startTestApp, waitFor, type TestApp } from '../support/app.js';
import { commenter, openCampaignWithPost, sleep } from './helpers.js';

const BURST = 500;
const PER_POST = 50; // Meta batches many changes into one POST

describe('comments: a burst of 500 comments on one post', function () {
  this.timeout(180_000);
  let t: TestApp;

  before(async () => {
    t = await startTestApp();
  });
  after(async () => t?.stop());

  it('every comment gets its private reply, public replies stay within the per-post rate, nothing lost or doubled', async () => {
    const { postId } = await openCampaignWithPost(t);
    const now = Math.floor(Date.now() / 1000);
    const ids: string[] = [];
    const changes = [];
    const words = [
      'io!',
      'voglio',
      'ci sto',
      'JOIN 2 M',
      'count me in',
      'quanto costa?',
      'ne voglio 2 taglia L',
      "I'm in",
    ];
    for (let i = 0; i < BURST; i++) {
      const who = commenter(1000 + i);
      const commentId = newCommentId(postId);
      ids.push(commentId);
      t.fakeGraph.noteComment(t.pageId, {
        commentId,
        postId,
        fromId: who.fromId,
        createdTime: new Date(now * 1000),
        psid: who.psid,
      });
      changes.push(
        commentChange({
          pageId: t.pageId,
          verb: 'add',
          commentId,
          postId,
          from: { id: who.fromId, name: who.name },
          message: words[i % words.length]!,
          createdTime: now,
        }),
      );
    }
    const started = Date.now();
    const posts = [];
    for (let i = 0; i < BURST; i += PER_POST)
      posts.push(t.post(changesBody(t.pageId, ...changes.slice(i, i + PER_POST))));
    for (const r of await Promise.all(posts)) expect(r.status).to.equal(200);

    const privateIds = () =>
      new Set(t.fakeGraph.messages.map((m) => m.recipient.comment_id).filter((id): id is string => !!id));
    await waitFor(() => privateIds().size >= BURST, 150_000);
    const elapsed = Date.now() - started;
    await sleep(300);

    // Exactly one private reply per comment, none twice.
    const privateReplies = t.fakeGraph.messages.filter((m) => m.recipient.comment_id !== undefined);
    expect(privateReplies).to.have.length(BURST);
    expect(privateIds()).to.deep.equal(new Set(ids));
    // At most one public reply per post per 30 s (decision times recorded on the comments).
    const publics = t.fakeGraph.publicReplies.filter((r) => ids.includes(r.commentId));
    expect(publics.length)
      .to.be.at.least(1)
      .and.at.most(Math.ceil(elapsed / 30_000) + 1);
    const decided = (
      await CommentModel.find({ postId, 'publicReply.state': 'sent' }).sort({ 'publicReply.at': 1 }).lean()
    ).map((c) => c.publicReply!.at!.getTime());
    for (let i = 1; i < decided.length; i++) expect(decided[i]! - decided[i - 1]!).to.be.at.least(30_000);
    const states = await CommentModel.aggregate<{ _id: string; n: number }>([
      { $match: { postId } },
      { $group: { _id: '$publicReply.state', n: { $sum: 1 } } },
    ]);
    const byState = Object.fromEntries(states.map((s) => [s._id, s.n]));
    expect(byState.sent).to.equal(publics.length);
    expect(byState.skipped_rate).to.equal(BURST - publics.length);
    expect(await CommentModel.countDocuments({ postId, 'privateReply.state': 'sent' })).to.equal(BURST);
  });
});
