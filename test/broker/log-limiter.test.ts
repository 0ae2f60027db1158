import { describe, expect, it } from 'vitest';
import { LogLimiter } from '../../broker/log-limiter.ts';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 0;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('LogLimiter', () => {
  it('writes perKey lines per window and reports how many were dropped on the next one', () => {
    const c = clock();
    const limiter = new LogLimiter({ windowMs: 1000, perKey: 2, total: 100, maxKeys: 10 }, c.now);
    const results = Array.from({ length: 10 }, () => limiter.admit('k'));
    expect(results.filter((r) => r !== null)).toEqual([{ suppressed: 0 }, { suppressed: 0 }]);
    expect(limiter.admit('other')).toEqual({ suppressed: 0 });
    c.advance(1000);
    expect(limiter.admit('k')).toEqual({ suppressed: 8 });
    expect(limiter.admit('k')).toEqual({ suppressed: 0 });
    expect(limiter.admit('k')).toBeNull();
  });

  it('caps lines across keys, so spraying new keys cannot flood the log', () => {
    const c = clock();
    const limiter = new LogLimiter({ windowMs: 1000, perKey: 5, total: 3, maxKeys: 1000 }, c.now);
    const written = Array.from({ length: 100 }, (_, i) => limiter.admit(`k${i}`)).filter((r) => r !== null);
    expect(written).toHaveLength(3);
    c.advance(1000);
    expect(limiter.admit('k99')).toEqual({ suppressed: 1 });
  });

  it('bounds its memory to maxKeys', () => {
    const limiter = new LogLimiter({ windowMs: 1000, perKey: 1, total: 1_000_000, maxKeys: 50 }, () => 0);
    for (let i = 0; i < 1000; i += 1) limiter.admit(`k${i}`);
    expect(limiter.size).toBe(50);
  });
});
