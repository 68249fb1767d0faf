/**
 * At most `limit` workers at once, never two for the same key (one fan's queue is drained by one
 * worker). The inbox processor and the outbox sender both hand it the queue keys their poll found due.
 */
export class KeyedWorkers {
  private readonly active = new Map<string, Promise<void>>();

  constructor(
    private readonly limit: number,
    private readonly onError: (error: unknown, key: string) => void,
    /** A worker that finished may have let others wait: the owner usually polls again. */
    private readonly onSettled: () => void,
  ) {}

  get free(): number {
    return this.limit - this.active.size;
  }

  get size(): number {
    return this.active.size;
  }

  /** Starts `work` for each key not already being worked on, up to the free slots. */
  startAll(keys: readonly string[], work: (key: string) => Promise<void>): void {
    const fresh = [...new Set(keys)].filter((k) => !this.active.has(k)).slice(0, Math.max(0, this.free));
    for (const key of fresh) {
      const running = work(key)
        .catch((error: unknown) => this.onError(error, key))
        .finally(() => {
          this.active.delete(key);
          this.onSettled();
        });
      this.active.set(key, running);
    }
  }

  /** Resolves when every running worker has finished. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.active.values()]);
  }
}
