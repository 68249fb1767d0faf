import type { Locale } from '../src/config/index.js';
import { buttonTemplate, postback, quickReplies, text, urlButton } from '../src/messenger/builders.js';
import type { FlowRouter } from '../src/messenger/flow-router.js';
import type { Turn } from '../src/messenger/turn.js';
import { buildPayload } from '../src/domain/text-match.js';

/** Payloads of the first conversation; the Get Started payload is also pushed by `messenger:setup`. */
export const PAYLOADS = {
  getStarted: buildPayload('start'),
  menu: buildPayload('menu'),
  help: buildPayload('help'),
  human: buildPayload('human'),
  language: (locale: Locale) => buildPayload('lang', [locale]),
  comingSoon: (feature: string) => buildPayload('soon', [feature]),
} as const;

/** Main menu entries; features replace their "coming soon" payload as they arrive. */
export const MENU_FEATURES = ['shop', 'groupbuys', 'invite'] as const;

export function mainMenu(turn: Turn): void {
  turn.say(
    quickReplies(turn.t('menu.prompt'), [
      ...MENU_FEATURES.map((f) => ({
        title: turn.t(`menu.${f}`),
        payload:
          f === 'shop'
            ? buildPayload('shop')
            : f === 'groupbuys'
              ? buildPayload('gb')
              : f === 'invite'
                ? buildPayload('ref')
                : PAYLOADS.comingSoon(f),
      })),
      { title: turn.t('shop.orders.menu'), payload: buildPayload('orders') },
      { title: turn.t('codesign.menu'), payload: buildPayload('cd') },
      { title: turn.t('menu.help'), payload: PAYLOADS.help },
      { title: turn.t('menu.human'), payload: PAYLOADS.human },
      {
        title: turn.locale === 'it' ? 'English' : 'Italiano',
        payload: PAYLOADS.language(turn.locale === 'it' ? 'en' : 'it'),
      },
    ]),
  );
}

function greet(turn: Turn): void {
  const name = turn.fan.firstName;
  turn.say(text(name ? turn.t('greeting.hello_name', { name }) : turn.t('greeting.hello')));
  turn.say(
    buttonTemplate(turn.t('greeting.disclosure'), [
      urlButton(turn.t('greeting.privacy'), turn.config.privacyPolicyUrl),
    ]),
  );
  mainMenu(turn);
}

export function registerStartFlow(router: FlowRouter): void {
  router
    .payload('start', (turn) => greet(turn))
    .payload('menu', (turn) => mainMenu(turn))
    .payload('help', (turn) => help(turn))
    .payload('human', (turn) => handOver(turn))
    .payload('lang', (turn, payload) => {
      const locale = payload.args[0] === 'en' ? 'en' : 'it';
      turn.setLocale(locale);
      turn.say(text(turn.t('lang.changed')));
      mainMenu(turn);
    })
    .payload('soon', (turn, payload) => {
      const feature = payload.args[0] ?? '';
      turn.say(text(turn.t('soon.text', { feature: turn.t(`menu.${feature}`, { defaultValue: feature }) })));
      mainMenu(turn);
    })
    .text(['ciao', 'salve', 'buongiorno', 'hi', 'hello', 'hey', 'start', 'inizia', 'menu', 'menù'], (turn) =>
      turn.fan.isNew ? greet(turn) : mainMenu(turn),
    )
    .text(['aiuto', 'help', 'info'], (turn) => help(turn))
    .text(['operatore', 'human', 'persona', 'agent', 'parla con una persona', 'talk to a person'], (turn) =>
      handOver(turn),
    )
    .text(['english', 'inglese', 'in english'], (turn) => {
      turn.setLocale('en');
      turn.say(text(turn.t('lang.changed')));
      mainMenu(turn);
    })
    .text(['italiano', 'italian', 'in italiano'], (turn) => {
      turn.setLocale('it');
      turn.say(text(turn.t('lang.changed')));
      mainMenu(turn);
    })
    .on('attachment', (turn) => {
      turn.say(text(turn.t('fallback.attachment')));
      mainMenu(turn);
    })
    .on('referral', (turn) => mainMenu(turn))
    .fallback((turn) => {
      if (turn.input.type === 'optin') return;
      if (turn.fan.isNew) {
        greet(turn);
        return;
      }
      turn.say(text(turn.t('fallback.text')));
      mainMenu(turn);
    });
}

function help(turn: Turn): void {
  turn.say(
    buttonTemplate(turn.t('help.text'), [
      postback(turn.t('menu.menu'), PAYLOADS.menu),
      postback(turn.t('menu.human'), PAYLOADS.human),
      urlButton(turn.t('greeting.privacy'), turn.config.privacyPolicyUrl),
    ]),
  );
}

function handOver(turn: Turn): void {
  turn.say(text(turn.t('handover.text')));
  turn.passToInbox();
}
