import { expect } from 'chai';
import fc from 'fast-check';
import { RateLimiter } from '../../../src/messenger/outbox/rate-limiter.js';
import { backoffDelay } from '../../../src/shared/backoff.js';

/** True when `p` settles before the event loop turns (i.e. without sleeping). */
async function settlesNow(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('RateLimiter (injected clock)', () => {
  /**
   * Simulates `seconds` of traffic in 10 ms steps: at every step a greedy sender takes every grant
   * the bucket gives at once. Pending acquires (which sleep in real time) are counted when they land.
   */
  async function simulate(limiter: RateLimiter, clock: { t: number }, seconds: number) {
    const grants: number[] = [];
    // At most one acquire sleeps (in real time) at once; it is counted when it lands.
    let sleeping: Promise<void> | undefined;
    for (let step = 0; step < seconds * 100; step++) {
      clock.t += 10;
      for (let i = 0; i < 1000 && !sleeping; i++) {
        const p = limiter.acquire();
        if (await settlesNow(p)) {
          grants.push(clock.t);
          continue;
        }
        sleeping = p.then(() => {
          grants.push(clock.t);
          sleeping = undefined;
        });
      }
      // A little real time per simulated step, so a sleeper wakes and sees the clock move.
      await new Promise((r) => setTimeout(r, 1));
    }
    // Let the last sleeper land outside the measured span, so nothing keeps polling afterwards.
    if (sleeping) {
      const landed = grants.length;
      clock.t += 1000;
      await sleeping;
      grants.length = landed;
    }
    return grants;
  }

  const maxInWindow = (grants: number[], windowMs: number) => {
    let max = 0;
    for (let i = 0, j = 0; i < grants.length; i++) {
      while (grants[i]! - grants[j]! >= windowMs) j++;
      max = Math.max(max, i - j + 1);
    }
    return max;
  };

  it('never grants more than rate + burst in any one-second window, and keeps close to the rate', async () => {
    const clock = { t: 0 };
    const limiter = new RateLimiter(100, () => clock.t, 10);
    const grants = await simulate(limiter, clock, 3);
    expect(maxInWindow(grants, 1000)).to.be.at.most(110);
    expect(grants.length).to.be.within(250, 3 * 100 + 10);
  });

  it('slowDown halves the rate for ten seconds, then it climbs back to the maximum', async () => {
    const clock = { t: 0 };
    const limiter = new RateLimiter(100, () => clock.t, 10);
    limiter.slowDown();
    expect(limiter.currentRate).to.equal(50);
    const grants = await simulate(limiter, clock, 3);
    expect(maxInWindow(grants, 1000)).to.be.at.most(50 + 10);
    expect(grants.length).to.be.within(120, 3 * 50 + 10);
    limiter.slowDown();
    expect(limiter.currentRate).to.equal(25);
    clock.t += 10_000;
    await limiter.acquire();
    expect(limiter.currentRate).to.equal(37.5);
    clock.t += 5_000;
    await limiter.acquire();
    clock.t += 5_000;
    await limiter.acquire();
    clock.t += 5_000;
    await limiter.acquire();
    expect(limiter.currentRate).to.equal(100);
    for (let i = 0; i < 10; i++) limiter.slowDown();
    expect(limiter.currentRate).to.equal(1);
  });
});

describe('backoffDelay', () => {
  it('is half to all of min(cap, base·2^(attempt-1))', () => {
    expect(backoffDelay(1, 1000, 60_000, () => 0)).to.equal(500);
    expect(backoffDelay(1, 1000, 60_000, () => 0.999999)).to.equal(1000);
    expect(backoffDelay(4, 1000, 60_000, () => 0)).to.equal(4000);
    expect(backoffDelay(30, 1000, 60_000, () => 0.999999)).to.equal(60_000);
    expect(backoffDelay(5000, 1000, 60_000, () => 0)).to.equal(30_000);
    // attempt 0 or below is treated as the first attempt.
    expect(backoffDelay(0, 1000, 60_000, () => 0)).to.equal(500);
    expect(backoffDelay(-3, 1000, 60_000, () => 0.999999)).to.equal(1000);
  });

  it('stays within bounds for any attempt and random value (property)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: -5, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 600_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, base, cap, r) => {
          const ceiling = Math.min(cap, base * 2 ** Math.max(0, attempt - 1));
          const d = backoffDelay(attempt, base, cap, () => r);
          expect(Number.isFinite(d)).to.equal(true);
          expect(d).to.be.within(Math.floor(ceiling / 2), Math.ceil(ceiling));
          expect(d).to.be.at.most(cap);
        },
      ),
    );
    // Default arguments: capped at five minutes.
    for (let a = 1; a < 40; a++) expect(backoffDelay(a)).to.be.within(500, 300_000);
  });
});
