/**
 * `npm run messenger:setup`: configures the Facebook Page for the bot, once per deploy (or after the
 * menu or greeting texts change).
 *
 *   1. one Messenger Profile call: Get Started, greeting and persistent menu (Meta allows 10 calls per
 *      10 minutes per Page, so everything goes in a single call);
 *   2. subscribes the app to the Page's webhook fields the bot needs.
 *
 * In simulator mode (no Facebook credentials) there is nothing to set up: `npm start` pushes the
 * profile to its built-in fake Graph API itself.
 */
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { GraphClient } from '../messenger/graph/client.js';
import { GraphApiError, GraphNetworkError } from '../messenger/graph/errors.js';
import { buildMessengerProfile, pushMessengerProfile, SUBSCRIBED_FIELDS } from '../messenger/profile.js';

/** What to do about the errors an operator is likely to meet here. */
function hintFor(error: GraphApiError): string | undefined {
  if (error.code === 190)
    return 'FACEBOOK_ACCESS_TOKEN is invalid or expired: generate a new Page access token.';
  if (error.code === 613)
    return 'Meta allows 10 Messenger Profile calls per 10 minutes per Page: wait a few minutes and run again.';
  if (error.kind === 'permission')
    return 'The token lacks a permission: it needs pages_messaging and pages_manage_metadata (and the app must be installed on the Page).';
  if (error.code === 100)
    return 'Meta refused a parameter: check FACEBOOK_PAGE_ID, PUBLIC_URL / PRIVACY_POLICY_URL and GRAPH_API_VERSION.';
  return undefined;
}

function describeError(step: string, error: unknown, config: Config): string {
  if (error instanceof GraphApiError) {
    const lines = [
      `error: ${step} failed: Graph API error code ${error.code ?? '?'}` +
        `${error.subcode !== undefined ? `, subcode ${error.subcode}` : ''} (HTTP ${error.httpStatus}, ${error.kind})`,
      `  message: ${error.graphMessage ?? 'none'}`,
      `  fbtrace_id: ${error.fbtraceId ?? 'none'}`,
    ];
    const hint = hintFor(error);
    if (hint) lines.push(`  hint: ${hint}`);
    return lines.join('\n');
  }
  if (error instanceof GraphNetworkError) {
    return `error: ${step} failed: could not reach the Graph API at ${config.graph.url} (${error.code ?? error.message})`;
  }
  return `error: ${step} failed: ${error instanceof Error ? error.message : String(error)}`;
}

async function main(): Promise<number> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return 78; // EX_CONFIG
    }
    throw error;
  }
  if (config.simulator) {
    console.log(
      'Simulator mode (no FACEBOOK_* credentials set): nothing to set up. `npm start` pushes the Messenger ' +
        'profile to its built-in fake Graph API itself. Set FACEBOOK_APP_SECRET, FACEBOOK_VERIFY_TOKEN, ' +
        'FACEBOOK_ACCESS_TOKEN and FACEBOOK_PAGE_ID to configure a real Page.',
    );
    return 0;
  }
  const { page } = config.facebook;
  const graph = new GraphClient({
    baseUrl: config.graph.url,
    version: config.graph.version,
    appSecret: config.facebook.appSecret,
  });
  try {
    console.log(`Setting up Page ${page.id} through ${config.graph.url} (${config.graph.version})`);
    if (/^http:\/\/(localhost|127\.)/.test(config.privacyPolicyUrl)) {
      console.log(
        `warning: the privacy policy link in the menu is ${config.privacyPolicyUrl}; set PUBLIC_URL (or PRIVACY_POLICY_URL) to the public https address`,
      );
    }
    const profile = buildMessengerProfile(config);
    try {
      await pushMessengerProfile(graph, config);
    } catch (error) {
      console.error(describeError('setting the Messenger profile', error, config));
      return 1;
    }
    console.log(
      `✔ Messenger profile set in one call: Get Started (payload "${profile.get_started?.payload ?? ''}"), ` +
        `greeting for ${(profile.greeting ?? []).map((g) => g.locale).join(', ')}, ` +
        `persistent menu for ${(profile.persistent_menu ?? []).map((m) => m.locale).join(', ')}`,
    );
    try {
      await graph.subscribeApp(page.accessToken, page.id, SUBSCRIBED_FIELDS);
    } catch (error) {
      console.error(describeError('subscribing the app to the Page', error, config));
      return 1;
    }
    console.log(`✔ App subscribed to the Page's webhook fields: ${SUBSCRIBED_FIELDS.join(', ')}`);
    console.log(
      `Next: in the app dashboard, set the webhook callback to ${config.publicUrl}/api/messages with your FACEBOOK_VERIFY_TOKEN.`,
    );
    return 0;
  } finally {
    graph.close();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error('error:', error);
    process.exitCode = 1;
  },
);
