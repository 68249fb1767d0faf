import { SIMULATOR_CREDENTIALS, type Config } from '../config/index.js';
import type { Logger } from '../log.js';
import type { GraphClient } from '../messenger/graph/client.js';
import { GraphApiError } from '../messenger/graph/errors.js';

/**
 * Turns the id Meta's data deletion callback names (an app-scoped id, never a PSID) into the PSIDs
 * this page knows the person by. Throws when Meta cannot answer *now*, so the request stays pending
 * and the `privacy-deletions` job asks again; answers `[]` when Meta says there is no mapping.
 */
export type SubjectResolver = (subjectId: string) => Promise<readonly string[]>;

export interface GraphSubjectResolverOptions {
  readonly graph: Pick<GraphClient, 'idsForPages'>;
  readonly appId: string;
  readonly appSecret: string;
  readonly pageId: string;
  readonly log?: Logger | undefined;
}

export function graphSubjectResolver(opts: GraphSubjectResolverOptions): SubjectResolver {
  const appToken = `${opts.appId}|${opts.appSecret}`;
  return async (subjectId) => {
    try {
      const ids = await opts.graph.idsForPages(appToken, subjectId);
      return ids.filter((id) => id.pageId === opts.pageId).map((id) => id.psid);
    } catch (error) {
      // invalid (unknown id, app not in a business) and permission errors will not heal by retrying.
      if (error instanceof GraphApiError && (error.kind === 'invalid' || error.kind === 'permission')) {
        opts.log?.warn(
          { code: error.code, subcode: error.subcode },
          'ID Matching API has no page-scoped id for a deletion subject; erasing by the ids we know',
        );
        return [];
      }
      throw error;
    }
  };
}

/**
 * The resolver for this deployment: needs the app id (the app token is `appId|appSecret`). In simulator
 * mode the fake Graph API's app id stands in, so the whole path can be tried locally.
 */
export function subjectResolverFor(
  config: Pick<Config, 'facebook' | 'simulator'>,
  graph: Pick<GraphClient, 'idsForPages'>,
  log?: Logger,
): SubjectResolver | undefined {
  const appId = config.facebook.appId ?? (config.simulator ? SIMULATOR_CREDENTIALS.appId : undefined);
  if (appId === undefined) return undefined;
  return graphSubjectResolver({
    graph,
    appId,
    appSecret: config.facebook.appSecret,
    pageId: config.facebook.page.id,
    log,
  });
}
