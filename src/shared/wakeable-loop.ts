/**
 * Runs `tick` every `pollMs`, or at once when woken (new work arrived in this process). Both the inbox
 * processor and the outbox sender poll the database this way, so other processes' work is seen too.
 */
export class WakeableLoop {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;

  constructor(
    private readonly tick: () => Promise<void>,
    private readonly pollMs: number,
    private readonly onError: (error: unknown) => void,
    /** Wakes closer together than this are served by one tick: 500 webhooks/s must not mean 500 polls/s. */
    private readonly minIntervalMs = 10,
  ) {}

  get isRunning(): boolean {
    return this.running;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /** Stops polling; resolves when the current tick has returned. */
  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const startedAt = performance.now();
      try {
        await this.tick();
      } catch (error) {
        this.onError(error);
      }
      if (!this.running) break;
      if (this.woken) {
        this.woken = false;
        const wait = this.minIntervalMs - (performance.now() - startedAt);
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.pollMs);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = undefined;
      this.woken = false;
    }
  }
}
