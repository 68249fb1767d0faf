import { ABANDONED_AFTER_MS, runAbandonedCartReminders } from '../app/checkout.js';
import type { JobDefinition } from './types.js';

/**
 * One reminder per abandoned cart: open, non-empty, untouched for 2 h, fan still inside the 24 h
 * window. Driven by state (which carts are abandoned now); the outbox key
 * `cart-reminder:<cartId>:<version>` makes a doubled run send nothing twice.
 */
export function abandonedCartsJob(): JobDefinition {
  return {
    id: 'abandoned-carts',
    schedule: '*/10 * * * *',
    description: `Reminds fans (inside the 24 h window) of carts untouched for ${ABANDONED_AFTER_MS / 3_600_000} h, once per cart version`,
    async run(ctx) {
      const { found, reminded } = await runAbandonedCartReminders(ctx.now, { pageId: ctx.page.id });
      if (reminded > 0) ctx.log.info({ found, reminded }, 'abandoned-cart reminders enqueued');
      return { summary: { found, reminded } };
    },
  };
}
