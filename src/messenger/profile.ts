import type { Config } from '../config/index.js';
import { LOCALES, t } from '../i18n/index.js';
import type { GraphClient, MenuItem, MessengerProfile } from './graph/client.js';
import { PAYLOADS } from '../../flows/start.js';

/** Webhook fields the bot needs (reference §1.5). */
export const SUBSCRIBED_FIELDS = [
  'messages',
  'messaging_postbacks',
  'messaging_referrals',
  'messaging_optins',
  'message_deliveries',
  'message_reads',
  'message_echoes',
  'messaging_handovers',
  'standby',
  'feed',
] as const;

/** Get Started, greeting and persistent menu per locale; Meta wants a `default` locale for both. */
export function buildMessengerProfile(
  config: Pick<Config, 'defaultLocale' | 'privacyPolicyUrl'>,
): MessengerProfile {
  const menuFor = (locale: (typeof LOCALES)[number]): MenuItem[] => [
    { type: 'postback', title: t(locale, 'menu.menu'), payload: PAYLOADS.menu },
    { type: 'postback', title: t(locale, 'menu.human'), payload: PAYLOADS.human },
    { type: 'web_url', title: t(locale, 'greeting.privacy'), url: config.privacyPolicyUrl },
  ];
  const localeTag = (l: string) => (l === 'it' ? 'it_IT' : 'en_US');
  return {
    get_started: { payload: PAYLOADS.getStarted },
    greeting: [
      { locale: 'default', text: t(config.defaultLocale, 'greeting.profile_text') },
      ...LOCALES.map((l) => ({ locale: localeTag(l), text: t(l, 'greeting.profile_text') })),
    ],
    persistent_menu: [
      { locale: 'default', composer_input_disabled: false, call_to_actions: menuFor(config.defaultLocale) },
      ...LOCALES.map((l) => ({
        locale: localeTag(l),
        composer_input_disabled: false,
        call_to_actions: menuFor(l),
      })),
    ],
  };
}

/** One Messenger Profile call (Meta allows 10 per 10 minutes per Page). */
export async function pushMessengerProfile(graph: GraphClient, config: Config): Promise<void> {
  await graph.setMessengerProfile(
    config.facebook.page.accessToken,
    config.facebook.page.id,
    buildMessengerProfile(config),
  );
}
