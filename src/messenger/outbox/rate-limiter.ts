import { sleep } from '../../shared/backoff.js';

/**
 * A token bucket per page. When Meta throttles, the rate halves for a while and then climbs back,
 * so a storm of 613s turns into a slower stream rather than a wall of retries.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private rate: number;
  private recoverAt = 0;

  constructor(
    private readonly maxRate: number,
    private readonly now: () => number = () => performance.now(),
    private readonly burst = Math.max(1, Math.ceil(maxRate / 10)),
  ) {
    this.rate = maxRate;
    this.tokens = this.burst;
    this.last = this.now();
  }

  get currentRate(): number {
    return this.rate;
  }

  private refill(): void {
    const t = this.now();
    if (this.rate < this.maxRate && t >= this.recoverAt) {
      this.rate = Math.min(this.maxRate, this.rate * 1.5);
      this.recoverAt = t + 5_000;
    }
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
  }

  /** Resolves when one send may go. */
  async acquire(): Promise<void> {
    for (;;) {
      this.refill();
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await sleep(Math.max(1, Math.ceil(((1 - this.tokens) / this.rate) * 1000)));
    }
  }

  /** Meta said "too fast": halve the rate for ten seconds. */
  slowDown(): void {
    this.rate = Math.max(1, this.rate / 2);
    this.recoverAt = this.now() + 10_000;
  }
}
