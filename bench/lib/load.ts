/**
 * An open-loop HTTP load generator: request i is due at `start + i / rate` whatever happened to the
 * earlier ones, so a slow server cannot slow the offered load down (no coordinated omission).
 * Latency is measured from the request's *scheduled* time; `lag` says how late the generator itself
 * was, so a busy generator is visible instead of silently flattering the server.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';

export interface PreparedRequest {
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: Buffer;
}

export interface Sample {
  /** performance.now() when the request was due. */
  readonly scheduledAt: number;
  /** performance.now() when it was handed to the socket layer. */
  sentAt: number;
  /** performance.now() when the whole response was read; NaN if none. */
  doneAt: number;
  /** HTTP status; 0 for a network error or timeout. */
  status: number;
  error?: string;
}

export interface OpenLoopOptions {
  /** `http://127.0.0.1:port` */
  readonly baseUrl: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly agent: http.Agent;
  /** Builds request i before the run starts (signing is not on the clock). */
  readonly prepare: (i: number) => PreparedRequest;
  readonly timeoutMs?: number;
  /** Called with request i just before it is sent. */
  readonly onSend?: (i: number, scheduledAt: number) => void;
}

export interface OpenLoopResult {
  readonly samples: Sample[];
  readonly startedAt: number;
  /** performance.now() when the last response (or error) arrived. */
  readonly finishedAt: number;
}

/** A keep-alive agent with room for as many concurrent requests as an overloaded server needs. */
export function keepAliveAgent(maxSockets = 2048): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets, keepAliveMsecs: 10_000 });
}

export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const url = new URL(opts.baseUrl);
  const total = Math.max(1, Math.round((opts.rate * opts.durationMs) / 1000));
  const prepared = Array.from({ length: total }, (_, i) => opts.prepare(i));
  const samples: Sample[] = [];
  const intervalMs = 1000 / opts.rate;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  let outstanding = 0;
  let next = 0;
  let finishedAt = 0;
  let resolveAll: () => void = () => undefined;
  const allDone = new Promise<void>((resolve) => (resolveAll = resolve));

  const send = (i: number, scheduledAt: number): void => {
    const req = prepared[i]!;
    const sample: Sample = { scheduledAt, sentAt: performance.now(), doneAt: Number.NaN, status: 0 };
    samples[i] = sample;
    outstanding++;
    opts.onSend?.(i, scheduledAt);
    let settled = false;
    const settle = (status: number, error?: string): void => {
      if (settled) return;
      settled = true;
      sample.doneAt = performance.now();
      sample.status = status;
      if (error !== undefined) sample.error = error;
      finishedAt = Math.max(finishedAt, sample.doneAt);
      outstanding--;
      if (outstanding === 0 && next >= total) resolveAll();
    };
    const r = http.request(
      {
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: req.path,
        agent: opts.agent,
        headers: { ...req.headers, 'content-length': String(req.body.length) },
        timeout: timeoutMs,
      },
      (res) => {
        res.on('data', () => undefined);
        res.on('end', () => settle(res.statusCode ?? 0));
        res.on('error', (e) => settle(0, e.message));
      },
    );
    r.on('timeout', () => {
      r.destroy(new Error('timeout'));
    });
    r.on('error', (e) => settle(0, e.message));
    r.end(req.body);
  };

  const startedAt = performance.now();
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      const due = Math.min(total, Math.floor((now - startedAt) / intervalMs) + 1);
      while (next < due) {
        const i = next++;
        send(i, startedAt + i * intervalMs);
      }
      if (next >= total) {
        resolve();
        return;
      }
      const wait = startedAt + next * intervalMs - performance.now();
      setTimeout(tick, Math.max(0, Math.floor(wait)));
    };
    tick();
  });
  if (outstanding > 0) await allDone;
  return { samples, startedAt, finishedAt };
}
