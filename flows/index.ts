import { FlowRouter } from '../src/messenger/flow-router.js';
import { registerBroadcastFlow } from './broadcast.js';
import { registerCheckoutFlow } from './checkout.js';
import { registerCodesignFlow } from './codesign.js';
import { registerCommentsFlow } from './comments.js';
import { registerGroupBuyFlow } from './groupbuy.js';
import { registerOrdersFlow } from './orders.js';
import { registerPrivacyFlow } from './privacy.js';
import { registerReferralFlow } from './referral.js';
import { registerShopFlow } from './shop.js';
import { registerStartFlow } from './start.js';

/** The one place where conversations are put together; each feature adds its `register…` call here. */
export function createFlows(): FlowRouter {
  const router = new FlowRouter();
  registerPrivacyFlow(router); // "cancella i miei dati" / "delete my data": before every other flow
  registerCheckoutFlow(router); // the cart's Checkout button lands here
  registerOrdersFlow(router);
  registerCodesignFlow(router); // votes on proposals, buyers' feedback (its free text before the shop's); before the start flow
  registerShopFlow(router); // before the start flow, which owns the fallback
  registerBroadcastFlow(router); // STOP and broadcast taps; before the start flow
  registerGroupBuyFlow(router); // group buys; before the start flow
  registerCommentsFlow(router); // taps on a comment's private reply (gb.cjoin / gb.cinfo); before the start flow
  registerReferralFlow(router); // invite links, my invites, leaders; arrivals through a link; last before start
  registerStartFlow(router);
  return router;
}
