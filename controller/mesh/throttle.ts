import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';

/**
 * Per-key rate limit that keeps the latest value: the first value for a key goes out at once,
 * later ones at most once per interval, and the last value offered in an interval always goes out
 * at its end (so a retained state topic never stays stale).
 */
export class LatestThrottle<V> {
  private readonly keys = new Map<string, { last: number; pending?: V; timer?: TimerHandle }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs: number,
    private readonly emit: (key: string, value: V) => void,
  ) {}

  offer(key: string, value: V): void {
    const now = this.clock.now();
    let k = this.keys.get(key);
    if (!k) {
      k = { last: -Infinity };
      this.keys.set(key, k);
    }
    if (k.timer) {
      k.pending = value;
      return;
    }
    const wait = k.last + this.intervalMs - now;
    if (wait <= 0) {
      k.last = now;
      this.emit(key, value);
      return;
    }
    k.pending = value;
    const entry = k;
    k.timer = this.clock.setTimeout(() => {
      entry.timer = undefined;
      entry.last = this.clock.now();
      const v = entry.pending as V;
      entry.pending = undefined;
      this.emit(key, v);
    }, wait);
  }

  /** Cancels pending trailing values. */
  clear(): void {
    for (const k of this.keys.values()) this.clock.clearTimeout(k.timer);
    this.keys.clear();
  }
}
