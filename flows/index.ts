import { FlowRouter } from '../src/messenger/flow-router.js';
import { registerShopFlow } from './shop.js';
import { registerStartFlow } from './start.js';

/** The one place where conversations are put together; each feature adds its `register…` call here. */
export function createFlows(): FlowRouter {
  const router = new FlowRouter();
  registerShopFlow(router); // before the start flow, which owns the fallback
  registerStartFlow(router);
  return router;
}
