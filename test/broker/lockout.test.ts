import { describe, expect, it } from 'vitest';
import { Lockout, type LockoutOptions } from '../../broker/lockout.ts';

const options: LockoutOptions = { maxFailures: 3, windowMs: 1000, lockoutMs: 5000, baseDelayMs: 100, maxDelayMs: 350, maxKeys: 3 };

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000_000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('Lockout', () => {
  it('delays each failure, doubling up to the maximum', () => {
    const c = clock();
    const lockout = new Lockout({ ...options, maxFailures: 10 }, c.now);
    expect([1, 2, 3, 4].map(() => lockout.recordFailure('k'))).toEqual([100, 200, 350, 350]);
  });

  it('locks a key after maxFailures within the window, for lockoutMs', () => {
    const c = clock();
    const lockout = new Lockout(options, c.now);
    lockout.recordFailure('k');
    lockout.recordFailure('k');
    expect(lockout.lockedForMs('k')).toBe(0);
    lockout.recordFailure('k');
    expect(lockout.lockedForMs('k')).toBe(5000);
    c.advance(4999);
    expect(lockout.lockedForMs('k')).toBe(1);
    c.advance(1);
    expect(lockout.lockedForMs('k')).toBe(0);
    expect(lockout.lockedForMs('other')).toBe(0);
  });

  it('forgets failures older than the window', () => {
    const c = clock();
    const lockout = new Lockout(options, c.now);
    lockout.recordFailure('k');
    lockout.recordFailure('k');
    c.advance(1001);
    lockout.recordFailure('k');
    expect(lockout.lockedForMs('k')).toBe(0);
  });

  it('does not shorten or reset a running lockout when more failures arrive after the window', () => {
    const c = clock();
    const lockout = new Lockout(options, c.now);
    for (let i = 0; i < 3; i += 1) lockout.recordFailure('k');
    c.advance(2000); // past the 1 s window, inside the 5 s lockout
    lockout.recordFailure('k');
    expect(lockout.lockedForMs('k')).toBe(3000);
  });

  it('starts afresh once a lockout has expired', () => {
    const c = clock();
    const lockout = new Lockout({ ...options, windowMs: 60_000 }, c.now);
    for (let i = 0; i < 3; i += 1) lockout.recordFailure('k');
    c.advance(5000);
    expect(lockout.recordFailure('k')).toBe(100);
    expect(lockout.lockedForMs('k')).toBe(0);
  });

  it('clears failures on success but keeps a running lockout', () => {
    const c = clock();
    const lockout = new Lockout(options, c.now);
    lockout.recordFailure('a');
    lockout.recordFailure('a');
    lockout.recordSuccess('a');
    lockout.recordFailure('a');
    expect(lockout.lockedForMs('a')).toBe(0);
    for (let i = 0; i < 3; i += 1) lockout.recordFailure('b');
    lockout.recordSuccess('b');
    expect(lockout.lockedForMs('b')).toBe(5000);
  });

  it('tracks at most maxKeys keys, forgetting the oldest', () => {
    const c = clock();
    const lockout = new Lockout(options, c.now);
    for (const key of ['a', 'b', 'c', 'd', 'e']) lockout.recordFailure(key);
    expect(lockout.size).toBe(3);
  });
});
