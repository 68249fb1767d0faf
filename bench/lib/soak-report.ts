/** The soak's time series and verdicts: least-squares slopes and the memory / backlog / ack judgements. */
import { ms } from './stats.js';

export interface SoakSample {
  /** Seconds since the load started (end of the window). */
  readonly t: number;
  readonly phase: 'load' | 'drain';
  /** Events offered (scheduled) and acknowledged 2xx in the window, and non-2xx / errors. */
  readonly offered: number;
  readonly acked: number;
  readonly ackErrors: number;
  /** Ack latency (from the scheduled send time) of the requests answered in the window, ms. */
  readonly ackP50: number;
  readonly ackP99: number;
  readonly ackMax: number;
  /** Send API calls accepted by the fake (replies; private replies included) and refused. */
  readonly sent: number;
  readonly privateReplies: number;
  readonly publicReplies: number;
  readonly refused: number;
  /** Child process, from /proc/<pid>/status (VmRSS, VmHWM) and process.memoryUsage() over IPC. */
  readonly rssMb: number;
  readonly hwmMb: number;
  /** --db-process: the database process's RSS. */
  readonly dbRssMb?: number;
  /** The bot's main-thread V8 heap: lowest reading of the window (≈ live heap after a GC). */
  readonly heapMb: number;
  readonly heapMaxMb: number;
  /** heapUsed after the latest full collection (the live heap), and full collections so far. */
  readonly liveHeapMb: number;
  readonly majorGcs: number;
  readonly cpuPercent: number;
  readonly eldP99: number;
  /** /healthz */
  readonly inboxPending: number;
  readonly inboxParked: number;
  readonly outboxPending: number;
  readonly outboxFailed: number;
  readonly documents: number;
  /** Documents per collection. */
  readonly collections: Record<string, number>;
  readonly load1: number;
  /** Linux PSI: % of the last 10 s in which some runnable task waited for a CPU (NaN without PSI). */
  readonly cpuPressure: number;
  /** When the inbox backlog is over 100: how many queues hold it and the fullest ones. */
  pendingQueues?: { queues: number; top: { queueKey: string; pending: number }[] };
}

/** Least-squares slope of y over x (per unit of x); NaN with fewer than 3 points. */
export function slope(points: readonly (readonly [number, number])[]): number {
  const pts = points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y));
  if (pts.length < 3) return Number.NaN;
  const n = pts.length;
  const mx = pts.reduce((a, [x]) => a + x, 0) / n;
  const my = pts.reduce((a, [, y]) => a + y, 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of pts) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

export interface SoakVerdict {
  readonly memory: {
    readonly flat: boolean;
    /** MB per minute over the second half of the load, RSS and main-isolate heap. */
    readonly rssSlopeMbPerMin: number;
    /** heapUsed after full collections (main thread), second half, MB/min. */
    readonly liveHeapSlopeMbPerMin: number;
    readonly firstHalfRssSlopeMbPerMin: number;
    readonly thresholdMbPerMin: number;
    readonly rssAfterWarmupMb: number;
    readonly rssEndOfLoadMb: number;
    readonly rssPeakMb: number;
    /** Documents the database gained per minute over the second half, and RSS per 1,000 of them. */
    readonly documentsPerMin: number;
    readonly rssMbPer1kDocuments: number;
  };
  readonly backlog: {
    readonly flat: boolean;
    readonly bounded: boolean;
    readonly drained: boolean;
    /** inbox + outbox pending: max over the load, slope over its second half (events/s). */
    readonly maxPending: number;
    readonly secondHalfSlopePerS: number;
    readonly drainSeconds: number;
    readonly parked: number;
    readonly outboxFailed: number;
  };
  readonly ack: { readonly p50: number; readonly p99: number; readonly max: number; readonly errors: number };
}

export function judge(o: {
  samples: readonly SoakSample[];
  loadSeconds: number;
  warmupSeconds: number;
  rate: number;
  maxSlopeMbPerMin: number;
  drained: boolean;
  drainSeconds: number;
  ack: { p50: number; p99: number; max: number; errors: number };
}): SoakVerdict {
  const load = o.samples.filter((s) => s.phase === 'load');
  const half = Math.max(o.warmupSeconds, o.loadSeconds / 2);
  const second = load.filter((s) => s.t >= half);
  const first = load.filter((s) => s.t >= o.warmupSeconds && s.t <= half);
  const perMin = (pts: [number, number][]) => slope(pts) * 60;
  const rssSlope = perMin(second.map((s) => [s.t, s.rssMb]));
  // The live heap: only windows in which a full collection happened give a new reading.
  const liveHeapSlope = perMin(
    second
      .filter((s, i, all) => i === 0 || s.majorGcs > all[i - 1]!.majorGcs)
      .map((s) => [s.t, s.liveHeapMb]),
  );
  const docsSlope = perMin(second.map((s) => [s.t, s.documents]));
  const afterWarmup = load.find((s) => s.t >= o.warmupSeconds) ?? load[0];
  const pending = (s: SoakSample) => s.inboxPending + s.outboxPending;
  const finiteMax = (values: number[]) => Math.max(0, ...values.filter(Number.isFinite));
  const maxPending = finiteMax(load.map(pending));
  const backlogSlope = slope(second.map((s) => [s.t, pending(s)]));
  // Bounded: the second half holds no more than the first (after warm-up) did, give or take five
  // seconds of traffic, or it does not trend up by more than 1% of the offered rate per second.
  // Flat: bounded, and drained after the load.
  const firstMax = finiteMax(first.map(pending));
  const secondMax = finiteMax(second.map(pending));
  const bounded = secondMax <= firstMax + 5 * o.rate || !(backlogSlope > 0.01 * o.rate);
  const last = [...o.samples].reverse().find((s) => Number.isFinite(s.inboxParked));
  const memoryFlat = Number.isFinite(rssSlope) && rssSlope <= o.maxSlopeMbPerMin;
  return {
    memory: {
      flat: memoryFlat,
      rssSlopeMbPerMin: rssSlope,
      liveHeapSlopeMbPerMin: liveHeapSlope,
      firstHalfRssSlopeMbPerMin: perMin(first.map((s) => [s.t, s.rssMb])),
      thresholdMbPerMin: o.maxSlopeMbPerMin,
      rssAfterWarmupMb: afterWarmup?.rssMb ?? Number.NaN,
      rssEndOfLoadMb: load[load.length - 1]?.rssMb ?? Number.NaN,
      rssPeakMb: finiteMax(o.samples.map((s) => s.hwmMb)),
      documentsPerMin: docsSlope,
      rssMbPer1kDocuments: docsSlope > 0 ? (rssSlope / docsSlope) * 1000 : Number.NaN,
    },
    backlog: {
      flat: bounded && o.drained,
      bounded,
      drained: o.drained,
      maxPending,
      secondHalfSlopePerS: backlogSlope,
      drainSeconds: o.drainSeconds,
      parked: last?.inboxParked ?? 0,
      outboxFailed: last?.outboxFailed ?? 0,
    },
    ack: o.ack,
  };
}

export const SAMPLE_HEADER = [
  't (s)',
  'phase',
  'offered',
  'acked',
  'ack p50',
  'ack p99',
  'sent',
  'inbox pending',
  'outbox pending',
  'RSS MB',
  'live heap MB',
  'full GCs',
  'docs',
  'bot CPU',
  'load 1m',
  'CPU wait',
];

export function sampleRow(s: SoakSample): string[] {
  return [
    String(Math.round(s.t)),
    s.phase,
    String(s.offered),
    String(s.acked) + (s.ackErrors > 0 ? ` (+${s.ackErrors} err)` : ''),
    ms(s.ackP50),
    ms(s.ackP99),
    String(s.sent) + (s.refused > 0 ? ` (+${s.refused} refused)` : ''),
    String(s.inboxPending) + (s.inboxParked > 0 ? ` (${s.inboxParked} parked)` : ''),
    String(s.outboxPending),
    s.rssMb.toFixed(0) + (s.dbRssMb !== undefined ? ` (db ${s.dbRssMb.toFixed(0)})` : ''),
    Number.isFinite(s.liveHeapMb) ? s.liveHeapMb.toFixed(0) : '–',
    String(s.majorGcs),
    s.documents.toLocaleString('en-US'),
    `${s.cpuPercent.toFixed(0)}%`,
    s.load1.toFixed(2),
    Number.isFinite(s.cpuPressure) ? `${s.cpuPressure.toFixed(0)}%` : '–',
  ];
}

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '–');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');

/** Three lines: memory, backlog, ack. */
export function verdictLines(v: SoakVerdict, ackTargetP99: number): string[] {
  const m = v.memory;
  const b = v.backlog;
  return [
    `Memory ${m.flat ? 'FLAT' : 'GROWING'}: RSS slope over the second half ${f2(m.rssSlopeMbPerMin)} MB/min ` +
      `(threshold ${m.thresholdMbPerMin} MB/min; first half after warm-up ${f2(m.firstHalfRssSlopeMbPerMin)}), ` +
      `live heap (after full GCs) ${f2(m.liveHeapSlopeMbPerMin)} MB/min; RSS ${f1(m.rssAfterWarmupMb)} MB after warm-up → ` +
      `${f1(m.rssEndOfLoadMb)} MB at the end of the load, peak ${f1(m.rssPeakMb)} MB; the database gained ` +
      `${Math.round(m.documentsPerMin).toLocaleString('en-US')} documents/min ` +
      `(${f2(m.rssMbPer1kDocuments)} MB of RSS per 1,000 documents)` +
      (b.bounded ? '.' : '; the growing backlog holds memory too, so this says little about leaks.'),
    `Backlog ${b.flat ? 'FLAT' : 'NOT FLAT'}: inbox + outbox pending at most ${b.maxPending} during the load ` +
      `(${b.bounded ? 'bounded' : 'UNBOUNDED: growing through the second half'}), second-half trend ` +
      `${f2(b.secondHalfSlopePerS)}/s; ${b.drained ? `drained ${f1(b.drainSeconds)} s after the load` : `NOT drained after ${f1(b.drainSeconds)} s`}; ` +
      `${b.parked} parked events, ${b.outboxFailed} failed sends.`,
    `Ack: p50 ${ms(v.ack.p50)} ms, p99 ${ms(v.ack.p99)} ms ${v.ack.p99 < ackTargetP99 ? 'PASS' : 'FAIL'} ` +
      `(target < ${ackTargetP99} ms), max ${ms(v.ack.max)} ms, ${v.ack.errors} non-2xx/errors.`,
  ];
}
