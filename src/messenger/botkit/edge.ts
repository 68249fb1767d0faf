import { Botkit, type BotWorker, type BotkitMessage } from 'botkit';
import { FacebookAdapter, FacebookEventTypeMiddleware } from 'botbuilder-adapter-facebook';
import type { Activity, ConversationReference, ResourceResponse, TurnContext } from 'botbuilder';
import type { Config } from '../../config/index.js';
import type { Logger } from '../../log.js';
import type { OutgoingMessage } from '../builders.js';
import type { FlowRouter } from '../flow-router.js';
import type { Turn } from '../turn.js';
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Storage, StoreItems } from 'botbuilder';
import { isDatabaseUnavailable } from '../../db/connection.js';
import { MongoStorage } from './mongo-storage.js';

const TURN_KEY = Symbol('scb.turn');

/** Public in the JavaScript, `private` in the adapter's typings: the seams we rely on. */
interface AdapterInternals {
  activityToFacebook(activity: Partial<Activity>): { message?: Record<string, unknown> };
  processSingleMessage(
    event: Record<string, unknown>,
    logic: (context: TurnContext) => Promise<void>,
  ): Promise<void>;
}

/**
 * The Facebook adapter, minus its network: whatever Botkit (a dialog's `ask`, a `bot.reply`) wants
 * to send is added to the turn and later written to the outbox. `bot.say()`'s swallowed errors and
 * the adapter's expired API version can therefore never matter.
 */
class OutboxFacebookAdapter extends FacebookAdapter {
  override async sendActivities(
    context: TurnContext,
    activities: Partial<Activity>[],
  ): Promise<ResourceResponse[]> {
    const turn = context.turnState.get(TURN_KEY) as Turn | undefined;
    if (!turn)
      throw new Error('a Botkit send happened outside a turn; proactive sends go through the outbox');
    const responses: ResourceResponse[] = [];
    for (const activity of activities) {
      if (activity.type !== 'message') continue;
      const fb = (this as unknown as AdapterInternals).activityToFacebook(activity);
      if (!fb.message) continue;
      // Botkit fills unused fields with undefined; Meta rejects unknown nulls, so keep only what is set.
      const message = Object.fromEntries(
        Object.entries(fb.message).filter(([, v]) => v !== undefined && v !== null),
      );
      turn.say(message as unknown as OutgoingMessage, 'reply');
      responses.push({ id: `queued:${turn.queued.length}` });
    }
    return responses;
  }

  override async continueConversation(
    _reference: Partial<ConversationReference>,
    _logic: (context: TurnContext) => Promise<void>,
  ): Promise<void> {
    throw new Error('proactive Botkit conversations are not used: jobs write to the outbox');
  }
}

/**
 * Botkit's handleTurn runs dialogs, triggers and the state save inside a callback whose rejection
 * nobody awaits: a throw there is an unhandled rejection and the turn never settles, which would hold
 * the fan's inbox queue forever (botkit-pitfalls.md). Failures that must fail the turn (the database
 * is away) are therefore parked here and rethrown by runTurn once Botkit has returned.
 */
const turnFailure = new AsyncLocalStorage<{ error?: unknown }>();

function failTurn(error: unknown): boolean {
  const slot = turnFailure.getStore();
  if (!slot) return false;
  slot.error ??= error;
  return true;
}

/** Botkit's state storage, with its failures reported to the turn instead of thrown into Botkit. */
class TurnSafeStorage implements Storage {
  constructor(private readonly inner: Storage) {}

  async read(keys: string[]): Promise<StoreItems> {
    return this.inner.read(keys);
  }

  async write(changes: StoreItems): Promise<void> {
    try {
      await this.inner.write(changes);
    } catch (error) {
      if (!failTurn(error)) throw error;
    }
  }

  async delete(keys: string[]): Promise<void> {
    try {
      await this.inner.delete(keys);
    } catch (error) {
      if (!failTurn(error)) throw error;
    }
  }
}

export interface BotEdge {
  readonly controller: Botkit;
  /** Runs one messaging event as a Botkit turn, with our turn object attached. */
  runTurn(event: Record<string, unknown>, turn: Turn): Promise<void>;
}

export interface BotEdgeDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly router: FlowRouter;
  readonly now: () => Date;
  /** Called when a handler throws: logs and apologises in the fan's language. */
  readonly onHandlerError: (turn: Turn, error: unknown) => void;
  /** Dialogs (BotkitConversation) the flows define; added before the first turn. */
  readonly setup?: (controller: Botkit) => void;
}

export async function createBotEdge(deps: BotEdgeDeps): Promise<BotEdge> {
  const { config } = deps;
  const adapter = new OutboxFacebookAdapter({
    verify_token: config.facebook.verifyToken,
    app_secret: config.facebook.appSecret,
    access_token: config.facebook.page.accessToken,
    // Never the adapter's default v3.2 (expired in 2021), even though it never calls the API here.
    api_version: config.graph.version,
  });
  adapter.use(new FacebookEventTypeMiddleware());
  const controller = new Botkit({
    adapter,
    storage: new TurnSafeStorage(new MongoStorage(config.retention.dialogStateMs, deps.now)),
    disable_webserver: true,
    disable_console: true,
  });

  const turnOf = (message: BotkitMessage): Turn => {
    const context = (message as unknown as { context: TurnContext }).context;
    const turn = context.turnState.get(TURN_KEY) as Turn | undefined;
    if (!turn) throw new Error('Botkit turn without our turn context');
    return turn;
  };

  /** Every handler runs inside this boundary: a throwing flow costs the fan an apology, not the process. */
  const dispatch = async (bot: BotWorker, message: BotkitMessage): Promise<void> => {
    const turn = turnOf(message);
    try {
      const route = await deps.router.dispatch(turn, bot);
      turn.log.debug({ route }, 'turn handled');
    } catch (error) {
      // Not the flow's fault: the event is retried once the database is back, instead of apologised for.
      if (isDatabaseUnavailable(error) && failTurn(error)) return;
      deps.onHandlerError(turn, error);
    }
  };

  // A postback is an action: it ends whatever question a dialog was waiting on, then routes normally.
  controller.interrupts(
    async (message: BotkitMessage) => message.type === 'facebook_postback',
    'facebook_postback',
    async (bot: BotWorker, message: BotkitMessage) => {
      await bot.cancelAllDialogs();
      await dispatch(bot, message);
    },
  );
  controller.on(['message', 'facebook_referral', 'facebook_optin'], dispatch);
  deps.setup?.(controller);
  await new Promise<void>((resolve) => controller.ready(() => resolve()));

  return {
    controller,
    async runTurn(event, turn) {
      const slot: { error?: unknown } = {};
      // The adapter reads recipient.id unguarded; the turn belongs to the fan (sender, checked by the
      // caller), so a missing or malformed recipient in hostile input is replaced by the Page.
      const recipient = event.recipient;
      const safeEvent =
        typeof recipient === 'object' && recipient !== null
          ? event
          : { ...event, recipient: { id: turn.pageId } };
      await turnFailure.run(slot, () =>
        (adapter as unknown as AdapterInternals).processSingleMessage(
          safeEvent,
          async (context: TurnContext) => {
            context.turnState.set(TURN_KEY, turn);
            await controller.handleTurn(context);
          },
        ),
      );
      if (slot.error !== undefined) throw slot.error;
    },
  };
}
