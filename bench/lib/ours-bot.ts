/**
 * Bench child: our bot exactly as `npm start` runs it (both roles, embedded database journalled
 * with fsync in BENCH_DATA_DIR, defaults for the processor and the sender), except that the Graph
 * API base URL points at the parent's fake Graph API.
 *
 * BENCH_SEND_RATE above the configuration's cap (300) overrides the page send rate *after* the
 * configuration is validated: a diagnostic that shows the pipeline without the page rate limit,
 * never a valid production setting.
 */
import { loadConfig, type Config } from '../../src/config/index.js';
import { InboxEventModel } from '../../src/db/models/inbox-event.js';
import { OutboxMessageModel } from '../../src/db/models/outbox-message.js';
import { createLogger } from '../../src/log.js';
import { startApp, type RunningApp } from '../../src/server.js';
import { serveBench } from './child.js';

export interface StageRecord {
  /** The inbox dedupe key (the message `mid`). */
  readonly key: string;
  readonly receivedAt: number;
  readonly doneAt: number | null;
  /** The first outbox message the turn wrote for it. */
  readonly outboxCreatedAt: number | null;
  readonly outboxSentAt: number | null;
  readonly outboxCount: number;
}

let app: RunningApp | undefined;

serveBench({
  async start() {
    const loaded = loadConfig(process.env);
    const override = Number(process.env.BENCH_SEND_RATE ?? '0');
    const config: Config = override > 0 ? { ...loaded, sendRatePerSecond: override } : loaded;
    const log = createLogger(config.logLevel);
    app = await startApp({ config, log, graphUrl: config.graph.url });
    return {
      url: app.url,
      info: {
        sendRatePerSecond: config.sendRatePerSecond,
        simulator: config.simulator,
        dataDir: config.dataDir,
        logLevel: config.logLevel,
      },
    };
  },
  async stop() {
    await app?.stop();
  },
  /** Per-event stage timestamps from the database (wall clock, ms). */
  async extra(): Promise<StageRecord[]> {
    const inbox = await InboxEventModel.collection
      .find({}, { projection: { dedupeKey: 1, receivedAt: 1, doneAt: 1 } })
      .toArray();
    const outbox = await OutboxMessageModel.collection
      .find({}, { projection: { 'origin.id': 1, createdAt: 1, sentAt: 1, seq: 1 } })
      .toArray();
    const byOrigin = new Map<string, { c: number; s: number | null; seq: number; n: number }>();
    for (const o of outbox) {
      const key = String((o.origin as { id?: string } | undefined)?.id ?? '');
      const seq = Number(o.seq);
      const prev = byOrigin.get(key);
      const rec = {
        c: (o.createdAt as Date).getTime(),
        s: o.sentAt instanceof Date ? o.sentAt.getTime() : null,
        seq,
        n: (prev?.n ?? 0) + 1,
      };
      if (!prev || seq < prev.seq) byOrigin.set(key, rec);
      else prev.n = rec.n;
    }
    return inbox.map((i) => {
      const key = String(i.dedupeKey);
      const first = byOrigin.get(key);
      return {
        key,
        receivedAt: (i.receivedAt as Date).getTime(),
        doneAt: i.doneAt instanceof Date ? i.doneAt.getTime() : null,
        outboxCreatedAt: first?.c ?? null,
        outboxSentAt: first?.s ?? null,
        outboxCount: first?.n ?? 0,
      };
    });
  },
});
