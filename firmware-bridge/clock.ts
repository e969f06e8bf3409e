/**
 * Injected time. Every timeout, retry and heartbeat in the bridge runs on a Clock so the simulator
 * can drive it faster than real time and tests are deterministic (MAVSDK's `Time&`, herdsman's waitress).
 */
export interface TimerHandle {
  readonly id: number;
}

export interface Clock {
  /** Milliseconds since the Unix epoch, on this clock's time line. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
}

/** Wall-clock time backed by Node's timers. Timers are unref'd so they never keep a process alive. */
export class SystemClock implements Clock {
  private nextId = 1;
  private readonly timers = new Map<number, NodeJS.Timeout>();

  now(): number {
    return Date.now();
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const t = setTimeout(() => {
      this.timers.delete(id);
      fn();
    }, Math.max(0, ms));
    t.unref();
    this.timers.set(id, t);
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (!handle) return;
    const t = this.timers.get(handle.id);
    if (t) clearTimeout(t);
    this.timers.delete(handle.id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const t = setInterval(fn, Math.max(1, ms));
    t.unref();
    this.timers.set(id, t);
    return { id };
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }
}

interface ManualTimer {
  id: number;
  due: number;
  seq: number;
  fn: () => void;
  interval?: number;
}

/**
 * A clock that only moves when told to. Timers fire in due order (ties in creation order), so a
 * run is reproducible. `advance` is synchronous; `advanceAsync` lets promises settle between
 * timers, which async microservice code needs.
 */
export class ManualClock implements Clock {
  private current: number;
  private nextId = 1;
  private seq = 0;
  private readonly timers = new Map<number, ManualTimer>();

  constructor(startMs = Date.UTC(2026, 5, 21, 12, 0, 0)) {
    this.current = startMs;
  }

  now(): number {
    return this.current;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, due: this.current + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    const interval = Math.max(1, ms);
    this.timers.set(id, { id, due: this.current + interval, seq: this.seq++, fn, interval });
    return { id };
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  /** Number of pending timers (for leak checks in tests). */
  get pending(): number {
    return this.timers.size;
  }

  /** Due time of the next timer, or undefined. */
  nextDue(): number | undefined {
    return this.next()?.due;
  }

  private next(): ManualTimer | undefined {
    let best: ManualTimer | undefined;
    for (const t of this.timers.values()) {
      if (!best || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private fire(t: ManualTimer): void {
    this.current = Math.max(this.current, t.due);
    if (t.interval !== undefined) {
      t.due += t.interval;
      t.seq = this.seq++;
    } else {
      this.timers.delete(t.id);
    }
    t.fn();
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    const end = this.current + ms;
    for (;;) {
      const t = this.next();
      if (!t || t.due > end) break;
      this.fire(t);
    }
    this.current = end;
  }

  /** Like advance, but yields to the event loop after every timer so awaiting code can run. */
  async advanceAsync(ms: number, stepMs = Infinity): Promise<void> {
    const end = this.current + ms;
    await settle();
    for (;;) {
      const t = this.next();
      const stepEnd = Math.min(end, this.current + stepMs);
      if (!t || t.due > stepEnd) {
        if (stepEnd >= end) break;
        this.current = stepEnd;
        await settle();
        continue;
      }
      this.fire(t);
      await settle();
    }
    this.current = end;
    await settle();
  }
}

/** Let pending promise callbacks and I/O callbacks run once. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
