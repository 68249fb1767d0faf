/** Page comments (issue #7): feed changes → intent → private and public replies; taps → pledges. */
export { createFeedHandler, readCommentChange, type FeedHandlerDeps } from './handler.js';
export {
  announceTippingOnPosts,
  commentOutcomeListener,
  eraseCommentsOf,
  withdrawComment,
  type TippingContext,
} from './service.js';
export { COMMENT_PAYLOADS } from './messages.js';
