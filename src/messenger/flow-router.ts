import type { BotWorker } from 'botkit';
import { containsPhrase, isPhrase, parsePayload, type ParsedPayload } from '../domain/text-match.js';
import type { Turn, TurnInput } from './turn.js';

export type FlowHandler = (turn: Turn, bot: BotWorker | undefined) => Promise<void> | void;
export type PayloadHandler = (
  turn: Turn,
  payload: ParsedPayload,
  bot: BotWorker | undefined,
) => Promise<void> | void;

interface Route {
  readonly name: string;
  readonly matches: (input: TurnInput) => ParsedPayload | true | undefined;
  readonly handle: (
    turn: Turn,
    match: ParsedPayload | true,
    bot: BotWorker | undefined,
  ) => Promise<void> | void;
}

/**
 * Routes a turn to the first handler whose predicate matches. Payload routes see only postbacks and
 * quick replies; text routes see only typed text — so typed text that looks like a payload never
 * triggers an action.
 */
export class FlowRouter {
  private readonly routes: Route[] = [];
  private fallbackHandler: FlowHandler | undefined;
  private readonly attempts: {
    readonly name: string;
    readonly handle: (turn: Turn, bot: BotWorker | undefined) => Promise<boolean>;
  }[] = [];

  /** A postback or quick reply whose payload is `name:vN:...`. */
  payload(name: string, handle: PayloadHandler): this {
    this.routes.push({
      name: `payload:${name}`,
      matches: (input) => {
        if (input.type !== 'postback' && input.type !== 'quick_reply') return undefined;
        const parsed = parsePayload(input.payload);
        return parsed?.name === name ? parsed : undefined;
      },
      handle: (turn, match, bot) => handle(turn, match as ParsedPayload, bot),
    });
    return this;
  }

  /** Typed text equal to one of the phrases (`exact`) or containing one as whole words. */
  text(phrases: readonly string[], handle: FlowHandler, mode: 'exact' | 'contains' = 'exact'): this {
    const test = mode === 'exact' ? isPhrase : containsPhrase;
    this.routes.push({
      name: `text:${phrases[0] ?? ''}`,
      matches: (input) => (input.type === 'text' && test(input.text, phrases) ? true : undefined),
      handle: (turn, _m, bot) => handle(turn, bot),
    });
    return this;
  }

  /** Any input of a type (referral, optin, attachment...). */
  on(type: TurnInput['type'], handle: FlowHandler): this {
    this.routes.push({
      name: `on:${type}`,
      matches: (input) => (input.type === type ? true : undefined),
      handle: (turn, _m, bot) => handle(turn, bot),
    });
    return this;
  }

  /** A predicate of our own over the input (e.g. a catalogue search that needs the database). */
  when(name: string, matches: (input: TurnInput) => boolean, handle: FlowHandler): this {
    this.routes.push({
      name,
      matches: (input) => (matches(input) ? true : undefined),
      handle: (t, _m, b) => handle(t, b),
    });
    return this;
  }

  /**
   * Typed text that only the database can recognise (a product name, a category): the handler
   * answers and returns true, or says nothing and returns false so the next route is tried.
   */
  freeText(name: string, handle: (turn: Turn, bot: BotWorker | undefined) => Promise<boolean>): this {
    this.attempts.push({ name, handle });
    return this;
  }

  fallback(handle: FlowHandler): this {
    this.fallbackHandler = handle;
    return this;
  }

  /** Runs the matching handler; returns the route's name (for logs and tests). */
  async dispatch(turn: Turn, bot?: BotWorker): Promise<string> {
    for (const route of this.routes) {
      const match = route.matches(turn.input);
      if (match !== undefined) {
        await route.handle(turn, match, bot);
        return route.name;
      }
    }
    if (turn.input.type === 'text') {
      for (const attempt of this.attempts) {
        if (await attempt.handle(turn, bot)) return `freeText:${attempt.name}`;
      }
    }
    if (this.fallbackHandler) await this.fallbackHandler(turn, bot);
    return 'fallback';
  }
}
