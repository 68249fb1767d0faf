/**
 * Each bot under test runs in its own child process (its own event loop and CPU time), driven over
 * IPC: the child says `ready` with its URL; the parent asks for `mark` / `report` around a phase
 * (event-loop delay and CPU used by the child in between) and for `stop`.
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';

export interface ProcessReport {
  /** Event-loop delay in ms over the interval. */
  readonly eldP50: number;
  readonly eldP99: number;
  readonly eldMax: number;
  /** CPU time used (user + system) over wall time, in % of one core. */
  readonly cpuPercent: number;
  /** CPU time (user + system, all threads) since the process started, ms: per-event cost over a run. */
  readonly cpuMsTotal: number;
  readonly rssMb: number;
}

type ToChild = { type: 'mark' } | { type: 'report' } | { type: 'stop' } | { type: 'extra'; arg?: unknown };
type FromChild =
  | { type: 'ready'; url: string; info?: Record<string, unknown> }
  | { type: 'report'; report: ProcessReport }
  | { type: 'extra'; data: unknown }
  | { type: 'stopped' }
  | { type: 'failed'; error: string };

// ---------------------------------------------------------------------------------------------
// Parent side

export interface BotChild {
  readonly url: string;
  readonly info: Record<string, unknown>;
  readonly pid: number;
  mark(): Promise<void>;
  report(): Promise<ProcessReport>;
  /** A bot-specific request (e.g. our bot's stage timings from its database). */
  extra<T>(arg?: unknown): Promise<T>;
  stop(): Promise<void>;
}

export async function startBotChild(
  entry: string,
  env: Record<string, string>,
  logFile: string,
): Promise<BotChild> {
  const out = fs.openSync(logFile, 'a');
  const child: ChildProcess = fork(entry, [], {
    env: { ...process.env, ...env },
    // BENCH_CHILD_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the bots.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CHILD_NODE_ARGS ?? '').split(' ').filter(Boolean)],
    stdio: ['ignore', out, out, 'ipc'],
  });
  fs.closeSync(out);
  const waiters: ((m: FromChild) => boolean)[] = [];
  child.on('message', (m: FromChild) => {
    const i = waiters.findIndex((w) => w(m));
    if (i >= 0) waiters.splice(i, 1);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const next = <K extends FromChild['type']>(
    type: K,
    timeoutMs = 60_000,
  ): Promise<Extract<FromChild, { type: K }>> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`bench child ${entry}: no '${type}' within ${timeoutMs} ms (log: ${logFile})`)),
        timeoutMs,
      );
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`bench child ${entry} exited (${code}) before '${type}' (log: ${logFile})`));
      });
      waiters.push((m) => {
        if (m.type === 'failed') {
          clearTimeout(timer);
          reject(new Error(`bench child ${entry} failed: ${m.error} (log: ${logFile})`));
          return true;
        }
        if (m.type !== type) return false;
        clearTimeout(timer);
        resolve(m as Extract<FromChild, { type: K }>);
        return true;
      });
    });
  const send = (m: ToChild): void => {
    child.send(m);
  };
  const ready = await next('ready');
  return {
    url: ready.url,
    info: ready.info ?? {},
    pid: child.pid ?? -1,
    async mark() {
      send({ type: 'mark' });
      await next('report');
    },
    async report() {
      send({ type: 'report' });
      return (await next('report')).report;
    },
    async extra<T>(arg?: unknown) {
      send({ type: 'extra', arg });
      return (await next('extra', 120_000)).data as T;
    },
    async stop() {
      if (child.exitCode !== null) return;
      send({ type: 'stop' });
      await Promise.race([next('stopped', 30_000).catch(() => undefined), exited]);
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Child side

/** Runs in the child: starts the bot, then serves the parent's requests until `stop`. */
export function serveBench(bot: {
  start(): Promise<{ url: string; info?: Record<string, unknown> }>;
  stop(): Promise<void>;
  extra?(arg: unknown): Promise<unknown>;
}): void {
  const reply = (m: FromChild): void => {
    process.send?.(m);
  };
  const eld = monitorEventLoopDelay({ resolution: 5 });
  eld.enable();
  let cpu = process.cpuUsage();
  let wall = performance.now();
  const mark = (): void => {
    eld.reset();
    cpu = process.cpuUsage();
    wall = performance.now();
  };
  const current = (): ProcessReport => {
    const used = process.cpuUsage(cpu);
    const elapsed = performance.now() - wall;
    return {
      eldP50: eld.percentile(50) / 1e6,
      eldP99: eld.percentile(99) / 1e6,
      eldMax: eld.max / 1e6,
      cpuPercent: elapsed > 0 ? ((used.user + used.system) / 1000 / elapsed) * 100 : 0,
      cpuMsTotal: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
      rssMb: process.memoryUsage().rss / 1024 / 1024,
    };
  };
  process.on('message', (m: ToChild) => {
    switch (m.type) {
      case 'mark':
        mark();
        reply({ type: 'report', report: current() });
        break;
      case 'report':
        reply({ type: 'report', report: current() });
        break;
      case 'extra':
        (bot.extra ? bot.extra(m.arg) : Promise.resolve(undefined)).then(
          (data) => reply({ type: 'extra', data }),
          (error: unknown) => reply({ type: 'failed', error: String(error) }),
        );
        break;
      case 'stop':
        bot.stop().then(
          () => {
            reply({ type: 'stopped' });
            process.disconnect?.();
            setTimeout(() => process.exit(0), 100).unref();
          },
          (error: unknown) => {
            reply({ type: 'failed', error: String(error) });
            process.exit(1);
          },
        );
        break;
    }
  });
  // The parent went away: do not linger.
  process.on('disconnect', () => setTimeout(() => process.exit(0), 2000).unref());
  bot.start().then(
    (r) => reply({ type: 'ready', url: r.url, ...(r.info ? { info: r.info } : {}) }),
    (error: unknown) => {
      reply({
        type: 'failed',
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      });
      setTimeout(() => process.exit(1), 100);
    },
  );
}
