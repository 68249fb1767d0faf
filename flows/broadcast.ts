import { optOutOfPromotions, recordBroadcastClick } from '../src/app/broadcasts.js';
import { parseTap, STOP_PHRASES, TAP_PAYLOAD } from '../src/domain/broadcast-state.js';
import { parsePayload } from '../src/domain/text-match.js';
import { buttonTemplate, text, urlButton } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn, TurnInput } from '../src/messenger/turn.js';
import { mainMenu } from './start.js';

/**
 * The fan's side of narrowcast:
 * - STOP ("stop", "stop offerte", "non voglio offerte", "unsubscribe"...): opted out of promotions at
 *   once and for good (`marketingOptOut`), confirmed in their language. Order messages still arrive.
 * - `bc.tap:v1:<broadcastId>:<n>`: a tap on a broadcast's button or quick reply is counted, then led
 *   to its URL (a button to open it) or to its bot payload (dispatched as if the fan had tapped it).
 * Registered before the start flow (which has no "stop" of its own).
 */
export function registerBroadcastFlow(router: FlowRouter): void {
  router
    .text(STOP_PHRASES, async (turn) => {
      await optOutOfPromotions(turn.pageId, turn.psid);
      turn.log.info('fan opted out of promotions (STOP)');
      turn.say(text(turn.t('broadcast.stop_confirmed')));
    })
    .payload(TAP_PAYLOAD, async (turn, payload, bot) => {
      const tap = parseTap(payload.args);
      const target = tap
        ? await recordBroadcastClick(turn.pageId, tap.broadcastId, tap.n, turn.locale)
        : undefined;
      if (target?.url) {
        turn.say(
          buttonTemplate(turn.t('broadcast.open_link_text'), [
            urlButton(turn.t('broadcast.open_link_button'), target.url),
          ]),
        );
        return;
      }
      const next = target?.payload ? parsePayload(target.payload) : undefined;
      if (target?.payload && next && next.name !== TAP_PAYLOAD) {
        await router.dispatch(withInput(turn, { type: 'postback', payload: target.payload, title: '' }), bot);
        return;
      }
      turn.say(text(turn.t('broadcast.offer_changed')));
      mainMenu(turn);
    });
}

/** The same turn (same fan, same outbox keys), seen as another input: a tap routed to its target. */
function withInput(turn: Turn, input: TurnInput): Turn {
  return Object.create(turn, { input: { value: input, enumerable: true } }) as Turn;
}
