import type { Locale } from '../config/index.js';
import { FanModel } from '../db/models/fan.js';
import { toLocale } from '../i18n/index.js';
import type { Logger } from '../log.js';
import type { GraphClient } from './graph/client.js';
import type { PolicySnapshot } from './outbox/enqueue.js';
import type { FanView } from './turn.js';

export interface FanRegistryDeps {
  readonly graph: GraphClient;
  readonly page: { readonly id: string; readonly accessToken: string };
  readonly defaultLocale: Locale;
  readonly log: Logger;
}

interface StoredFan {
  psid: string;
  lastInteractionAt?: Date;
  reachable?: boolean;
  firstName?: string;
  locale: Locale;
  localeSource?: string;
  tags?: string[];
  profileFetchedAt?: Date;
  firstInteractionAt: Date;
}

/**
 * Keeps one fan document per (page, PSID) current. A window-opening event moves `lastInteractionAt`
 * forward only (`$max`), so an old event processed late never shortens the fan's 24 h window.
 */
export class FanRegistry {
  constructor(private readonly deps: FanRegistryDeps) {}

  /** The fan as the turn sees it, plus the messaging-policy fields its replies carry to the sender. */
  async recordInteraction(
    psid: string,
    at: Date,
    opensWindow: boolean,
  ): Promise<FanView & { readonly policy: PolicySnapshot }> {
    const { page, defaultLocale } = this.deps;
    const update: Record<string, unknown> = {
      $setOnInsert: {
        pageId: page.id,
        psid,
        locale: defaultLocale,
        localeSource: 'default',
        firstInteractionAt: at,
        tags: [],
        interests: [],
        optIns: [],
        reachable: true,
        marketingOptOut: false,
        threadOwner: 'bot',
        createdAt: at,
        ...(opensWindow ? {} : { lastInteractionAt: new Date(0) }),
      },
      $set: { updatedAt: new Date() },
    };
    if (opensWindow) {
      update.$max = { lastInteractionAt: at };
      // A fan who writes again can be reached again (a block was lifted).
      (update.$set as Record<string, unknown>).reachable = true;
    }
    const result = await FanModel.collection.findOneAndUpdate({ pageId: page.id, psid }, update, {
      upsert: true,
      returnDocument: 'after',
      includeResultMetadata: true,
    });
    const fan = result.value as unknown as StoredFan;
    // "New" belongs to the event that created the fan, not to the first attempt at processing it: a
    // retried first event (after a crash mid-turn) must still greet and disclose, so it matches on time.
    const isNew =
      result.lastErrorObject?.updatedExisting === false || fan.firstInteractionAt?.getTime() === at.getTime();
    const enriched = fan.profileFetchedAt ? fan : await this.fetchProfile(fan);
    return {
      psid,
      firstName: enriched.firstName,
      locale: enriched.locale,
      isNew,
      tags: enriched.tags ?? [],
      policy: { lastInteractionAt: fan.lastInteractionAt ?? null, reachable: fan.reachable !== false },
    };
  }

  /** First name and language from the profile API, when Meta allows; never required. */
  private async fetchProfile(fan: StoredFan): Promise<StoredFan> {
    const { graph, page, log, defaultLocale } = this.deps;
    const set: Record<string, unknown> = { profileFetchedAt: new Date() };
    try {
      const profile = await graph.getProfile(page.accessToken, fan.psid, [
        'first_name',
        'last_name',
        'locale',
      ]);
      if (profile.firstName) set.firstName = profile.firstName;
      if (profile.lastName) set.lastName = profile.lastName;
      if (profile.locale && fan.localeSource !== 'fan') {
        set.locale = toLocale(profile.locale, defaultLocale);
        set.localeSource = 'profile';
      }
    } catch (error) {
      log.debug({ err: error, psid: fan.psid }, 'no profile available; using defaults');
    }
    await FanModel.collection.updateOne({ pageId: page.id, psid: fan.psid }, { $set: set });
    return { ...fan, ...(set as Partial<StoredFan>) };
  }

  async setLocale(psid: string, locale: Locale): Promise<void> {
    await FanModel.collection.updateOne(
      { pageId: this.deps.page.id, psid },
      { $set: { locale, localeSource: 'fan' } },
    );
  }

  async recordWatermark(
    psid: string,
    field: 'deliveredWatermark' | 'readWatermark',
    at: Date,
  ): Promise<void> {
    await FanModel.collection.updateOne({ pageId: this.deps.page.id, psid }, { $max: { [field]: at } });
  }

  async setThreadOwner(psid: string, owner: 'bot' | 'inbox'): Promise<void> {
    await FanModel.collection.updateOne(
      { pageId: this.deps.page.id, psid },
      { $set: { threadOwner: owner } },
    );
  }

  async setArrival(psid: string, ref: string, source: string, at: Date): Promise<void> {
    // First touch wins: the arrival is recorded once.
    await FanModel.collection.updateOne(
      { pageId: this.deps.page.id, psid, 'arrival.ref': { $exists: false } },
      { $set: { arrival: { ref, source, at } } },
    );
  }
}
