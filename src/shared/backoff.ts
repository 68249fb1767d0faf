/**
 * Exponential backoff with full jitter: retries from many processes spread out instead of arriving
 * together. `attempt` starts at 1.
 */
export function backoffDelay(
  attempt: number,
  baseMs = 1000,
  capMs = 5 * 60_000,
  random = Math.random,
): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
