import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { recordAudit } from '../app/audit.js';
import {
  broadcastStats,
  cancelBroadcast,
  createBroadcast,
  pauseBroadcast,
  resumeBroadcast,
  scheduleBroadcast,
  startBroadcast,
  type BroadcastStats,
} from '../app/broadcasts.js';
import { parseSegmentDefinition, previewDefinition, previewSegment } from '../app/segments.js';
import { cliAuditContext, parsePage, runCli, UsageError } from './admin-cli.js';

const USAGE = `usage:
  npm run broadcast -- create --segment <id|json> [--text-it TEXT] [--text-en TEXT] [--purpose promotion|update]
                              [--name NAME] [--at ISO-DATE] [--start] [--no-cap]
  npm run broadcast -- status <id> [--once]      follow the counters with a progress bar until done
  npm run broadcast -- start|pause|resume|cancel <id>
  npm run broadcast -- schedule <id> --at ISO-DATE
  npm run broadcast -- reach --segment <id|json> [--purpose promotion|update]

--segment is a saved segment id or inline rules, e.g. '{"rules":[{"type":"tags","any":["vip"]}]}'.
A promotion reaches only fans inside their 24 h window (never tagged; STOP and the 1-per-48 h cap
apply). An update is a plain account notice (no offers) and goes tagged ACCOUNT_UPDATE outside it.
The worker (npm start) picks a started or due broadcast up within a second.`;

const COMMANDS = ['create', 'status', 'start', 'pause', 'resume', 'cancel', 'schedule', 'reach'] as const;
type Command = (typeof COMMANDS)[number];

interface Args {
  command: Command;
  id: string | undefined;
  page: string;
  values: Record<string, string | boolean | undefined>;
}

function segmentArg(value: string | undefined): { id: string } | { definition: unknown } {
  if (!value) throw new UsageError('--segment is required');
  if (/^[0-9a-f]{24}$/.test(value)) return { id: value };
  try {
    return { definition: JSON.parse(value) as unknown };
  } catch {
    throw new UsageError('--segment must be a segment id or JSON rules');
  }
}

function printStats(s: BroadcastStats): void {
  const c = s.counters;
  console.log(
    `${s.id} ${s.state}: targeted ${c.targeted}, queued ${c.queued}, sent ${c.sent}, failed ${c.failed}, ` +
      `refused ${c.refused}, cancelled ${c.cancelled}, pending ${s.pending}, delivered ${c.delivered}, read ${c.read}, clicks ${c.clicks}`,
  );
  if (Object.keys(s.skipped).length) console.log(`  skipped: ${JSON.stringify(s.skipped)}`);
  if (Object.keys(s.failedByCode).length) console.log(`  failed by code: ${JSON.stringify(s.failedByCode)}`);
  if (Object.keys(s.refusedByReason).length)
    console.log(`  refused at send time: ${JSON.stringify(s.refusedByReason)}`);
}

await runCli<Args>(
  USAGE,
  (config) => {
    const { values, positionals } = parseArgs({
      options: {
        segment: { type: 'string' },
        'text-it': { type: 'string' },
        'text-en': { type: 'string' },
        purpose: { type: 'string', default: 'promotion' },
        name: { type: 'string' },
        at: { type: 'string' },
        start: { type: 'boolean', default: false },
        'no-cap': { type: 'boolean', default: false },
        once: { type: 'boolean', default: false },
        page: { type: 'string' },
      },
      strict: true,
      allowPositionals: true,
    });
    const [command, id] = positionals;
    if (!command || !(COMMANDS as readonly string[]).includes(command)) {
      throw new UsageError(`give a command: ${COMMANDS.join(', ')}`);
    }
    const needsId = !['create', 'reach'].includes(command);
    if (needsId && (!id || !/^[0-9a-f]{24}$/.test(id)))
      throw new UsageError(`${command} needs a broadcast id`);
    if (values.at !== undefined && Number.isNaN(new Date(values.at).getTime())) {
      throw new UsageError('--at must be an ISO date, e.g. 2026-12-01T09:00:00Z');
    }
    return { command: command as Command, id, page: parsePage(values.page, config), values };
  },
  async (_env, { command, id, page, values }) => {
    const ctx = () => ({ pageId: page, now: new Date(), actor: { id: 'cli' } });
    const audit = (action: string, target: string, after: Record<string, unknown>) =>
      recordAudit(cliAuditContext(page, new Date()), {
        action,
        target: { type: 'broadcast', id: target },
        after,
      });
    const fail = (res: { code: string; message?: string }) => {
      throw new Error(`${res.code}${res.message ? `: ${res.message}` : ''}`);
    };
    switch (command) {
      case 'create': {
        const contents = [
          ...(values['text-it'] ? [{ locale: 'it', text: String(values['text-it']) }] : []),
          ...(values['text-en'] ? [{ locale: 'en', text: String(values['text-en']) }] : []),
        ];
        if (contents.length === 0) throw new UsageError('give --text-it and/or --text-en');
        const res = await createBroadcast(ctx(), {
          name: String(values.name ?? `CLI broadcast ${new Date().toISOString()}`),
          purpose: values.purpose,
          contents,
          segment: segmentArg(values.segment as string | undefined),
          ...(values.at ? { scheduledAt: new Date(String(values.at)) } : {}),
          ...(values['no-cap'] ? { frequencyCap: null } : {}),
        });
        if (!res.ok) return fail(res);
        await audit('broadcast.create', res.broadcast.id, {
          purpose: res.broadcast.purpose,
          state: res.broadcast.state,
        });
        if (values.start && !values.at) {
          const started = await startBroadcast(ctx(), res.broadcast.id);
          if (!started.ok) return fail(started);
          await audit('broadcast.start', res.broadcast.id, { state: started.broadcast.state });
        }
        console.log(
          `broadcast ${res.broadcast.id} created (${values.start && !values.at ? 'sending' : res.broadcast.state})`,
        );
        console.log(res.broadcast.id);
        return;
      }
      case 'reach': {
        const seg = segmentArg(values.segment as string | undefined);
        const purpose = values.purpose === 'update' ? 'update' : 'promotion';
        let preview;
        if ('id' in seg) {
          const res = await previewSegment(ctx(), seg.id, purpose);
          if (!res.ok) return fail(res);
          preview = res.preview;
        } else {
          const parsed = parseSegmentDefinition(seg.definition);
          if (!parsed.ok) return fail(parsed);
          preview = await previewDefinition(ctx(), parsed.definition, purpose);
        }
        console.log(JSON.stringify(preview, null, 2));
        return;
      }
      case 'status':
        return followStatus(ctx, id!, Boolean(values.once));
      case 'schedule': {
        if (!values.at) throw new UsageError('schedule needs --at');
        const res = await scheduleBroadcast(ctx(), id!, new Date(String(values.at)));
        if (!res.ok) return fail(res);
        await audit('broadcast.schedule', id!, { scheduledAt: res.broadcast.scheduledAt });
        console.log(`broadcast ${id} scheduled for ${res.broadcast.scheduledAt?.toISOString()}`);
        return;
      }
      default: {
        const run = {
          start: startBroadcast,
          pause: pauseBroadcast,
          resume: resumeBroadcast,
          cancel: cancelBroadcast,
        }[command];
        const res = await run(ctx(), id!);
        if (!res.ok) return fail(res);
        await audit(`broadcast.${command}`, id!, { state: res.broadcast.state });
        console.log(`broadcast ${id} is now ${res.broadcast.state}`);
      }
    }
  },
);

/** A progress bar over the counters (sent + failed + refused + cancelled of queued, then of targeted). */
async function followStatus(
  ctx: () => { pageId: string; now: Date },
  id: string,
  once: boolean,
): Promise<void> {
  let s = await broadcastStats(ctx(), id);
  if (!s) throw new Error(`broadcast ${id} not found`);
  if (once || s.done || !process.stdout.isTTY) {
    printStats(s);
    if (once || s.done) return;
  }
  const bar = new cliProgress.SingleBar(
    {
      format:
        ' {bar} {value}/{total} sent | {state} | failed {failed} | skipped {skipped} | pending {pending} | {rate}/s',
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  const done = (x: BroadcastStats) =>
    x.counters.sent + x.counters.failed + x.counters.refused + x.counters.cancelled;
  const skippedOf = (x: BroadcastStats) => Object.values(x.skipped).reduce((a, b) => a + b, 0);
  bar.start(Math.max(1, s.counters.queued), s.counters.sent, {
    state: s.state,
    failed: 0,
    skipped: 0,
    pending: 0,
    rate: 0,
  });
  let last = { t: Date.now(), sent: s.counters.sent };
  while (!s.done) {
    await new Promise((r) => setTimeout(r, 1000));
    const next = await broadcastStats(ctx(), id);
    if (!next) break;
    s = next;
    const now = Date.now();
    const rate = Math.round(((s.counters.sent - last.sent) * 1000) / Math.max(1, now - last.t));
    last = { t: now, sent: s.counters.sent };
    bar.setTotal(Math.max(1, s.queueingDone ? s.counters.queued : s.counters.queued + s.pending));
    bar.update(Math.min(done(s), Math.max(1, s.counters.queued)), {
      state: s.state,
      failed: s.counters.failed,
      skipped: skippedOf(s),
      pending: s.pending,
      rate,
    });
  }
  bar.stop();
  printStats(s);
}
