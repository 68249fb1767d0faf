/**
 * A sliding-window rate limiter (two fixed windows, the previous one weighted by how much of it still
 * overlaps the sliding window). In memory: each process counts on its own, so with N web instances the
 * effective limit is up to N times higher. Good enough against guessing from one place; a shared store
 * (MongoDB) can implement the same interface later.
 */

export interface RateLimitResult {
  readonly allowed: boolean;
  readonly remaining: number;
  /** Milliseconds until one more hit would be allowed (0 when allowed). */
  readonly retryAfterMs: number;
}

export interface RateLimiter {
  hit(key: string): RateLimitResult;
  /** Forget a key (e.g. after a successful login). */
  reset(key: string): void;
}

export interface RateLimitOptions {
  readonly limit: number;
  readonly windowMs: number;
  readonly clock?: () => Date;
  /** Entries are swept when the map grows past this; keeps memory bounded under a key-spraying attack. */
  readonly maxKeys?: number;
}

interface Entry {
  windowStart: number;
  current: number;
  previous: number;
}

export function createRateLimiter(options: RateLimitOptions): RateLimiter {
  const { limit, windowMs } = options;
  const clock = options.clock ?? (() => new Date());
  const maxKeys = options.maxKeys ?? 100_000;
  const entries = new Map<string, Entry>();

  function roll(entry: Entry, now: number): void {
    const windowStart = now - (now % windowMs);
    if (windowStart === entry.windowStart) return;
    entry.previous = windowStart - entry.windowStart === windowMs ? entry.current : 0;
    entry.current = 0;
    entry.windowStart = windowStart;
  }

  function weighted(entry: Entry, now: number): number {
    const elapsed = (now - entry.windowStart) / windowMs;
    return entry.previous * (1 - elapsed) + entry.current;
  }

  function sweep(now: number): void {
    for (const [key, entry] of entries) {
      if (now - entry.windowStart >= 2 * windowMs) entries.delete(key);
    }
  }

  return {
    hit(key) {
      const now = clock().getTime();
      let entry = entries.get(key);
      if (!entry) {
        if (entries.size >= maxKeys) sweep(now);
        entry = { windowStart: now - (now % windowMs), current: 0, previous: 0 };
        entries.set(key, entry);
      }
      roll(entry, now);
      const used = weighted(entry, now);
      if (used + 1 > limit) {
        // When will the weighted count have dropped enough? Within this window only the previous part
        // decays; if it cannot decay enough, the next window start is the answer.
        let retryAfterMs = entry.windowStart + windowMs - now;
        if (entry.previous > 0 && entry.current + 1 <= limit) {
          const needed = 1 - (limit - entry.current - 1) / entry.previous; // elapsed fraction required
          retryAfterMs = Math.max(1, Math.ceil(entry.windowStart + needed * windowMs - now));
        }
        return { allowed: false, remaining: 0, retryAfterMs };
      }
      entry.current += 1;
      return { allowed: true, remaining: Math.max(0, Math.floor(limit - used - 1)), retryAfterMs: 0 };
    },
    reset(key) {
      entries.delete(key);
    },
  };
}
