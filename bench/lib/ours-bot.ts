/**
 * Bench child: our bot exactly as `npm start` runs it (both roles, embedded database journalled
 * with fsync in BENCH_DATA_DIR, defaults for the processor and the sender), except that the Graph
 * API base URL points at the parent's fake Graph API.
 *
 * BENCH_SEND_RATE above the configuration's cap (300) overrides the page send rate *after* the
 * configuration is validated: a diagnostic that shows the pipeline without the page rate limit,
 * never a valid production setting.
 */
import mongoose from 'mongoose';
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

export interface CommandStats {
  /** `insert inbox`, `find outbox`, ... */
  readonly command: string;
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly totalMs: number;
}

export interface OursExtra {
  readonly stages: StageRecord[];
  /** Only with BENCH_DB_COMMANDS=1: every database round trip as the driver saw it, per phase. */
  readonly commands: CommandStats[];
}

let app: RunningApp | undefined;

// BENCH_DB_COMMANDS=1: count and time every database command (driver command monitoring). Off by
// default: monitoring costs a little CPU per command.
const commandDurations = new Map<string, number[]>();
if (process.env.BENCH_DB_COMMANDS === '1') {
  const connect = mongoose.connect.bind(mongoose);
  (mongoose as { connect: unknown }).connect = async (uri: string, options: mongoose.ConnectOptions = {}) => {
    const result = await connect(uri, { ...options, monitorCommands: true });
    const client = mongoose.connection.getClient();
    const names = new Map<number, string>();
    client.on('commandStarted', (e) => {
      const target = e.command[e.commandName] as unknown;
      names.set(e.requestId, `${e.commandName} ${typeof target === 'string' ? target : ''}`.trim());
    });
    client.on('commandSucceeded', (e) => {
      const name = names.get(e.requestId) ?? e.commandName;
      names.delete(e.requestId);
      const list = commandDurations.get(name) ?? [];
      list.push(e.duration);
      commandDurations.set(name, list);
    });
    return result;
  };
}

function takeCommandStats(): CommandStats[] {
  const out: CommandStats[] = [];
  for (const [command, list] of commandDurations) {
    const sorted = [...list].sort((a, b) => a - b);
    const at = (p: number) =>
      sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
    out.push({
      command,
      count: sorted.length,
      p50: at(50),
      p99: at(99),
      totalMs: sorted.reduce((a, b) => a + b, 0),
    });
  }
  commandDurations.clear();
  return out.sort((a, b) => b.count - a.count);
}

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
  /**
   * 'commands': database command counts since the last call. Otherwise per-event stage timestamps
   * from the database (wall clock, ms).
   */
  async extra(arg: unknown): Promise<OursExtra> {
    if (arg === 'commands') return { stages: [], commands: takeCommandStats() };
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
    const stages = inbox.map((i) => {
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
    return { stages, commands: takeCommandStats() };
  },
});
