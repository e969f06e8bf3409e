/**
 * What a dashboard opened now shows of the past, retained on the mesh and built from the public
 * topics (in-process subscriptions):
 *
 * - the last 24 hours of power (`<base>/power/history`), so it plots the day so far and the
 *   forecast against what actually came, not only what arrives while it is open: the
 *   `<base>/power` states averaged in 5-minute steps, the step under way included (its average
 *   so far, republished every minute); each step keeps the irradiance that the first forecast
 *   covering it expected (the day-ahead view), interpolated between the forecast's 15-minute points;
 * - the bridge events since the site's local midnight (`<base>/bridge/event/history`), so it lists
 *   the morning's launch: `<base>/bridge/event` is not retained.
 */
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { BridgeEvent, EventHistory, PowerHistory, PowerState } from '../../common/topics.ts';

const DAY_MS = 24 * 3_600_000;

function parsePower(payload: Buffer): PowerState | undefined {
  try {
    const p = JSON.parse(payload.toString()) as PowerState;
    return typeof p.updatedAt === 'number' && typeof p.solarW === 'number' && typeof p.loadW === 'number' ? p : undefined;
  } catch {
    return undefined;
  }
}

interface Bucket {
  atMs: number;
  n: number;
  solarW: number;
  loadW: number;
  battery: { sum: number; n: number };
  ghi: { sum: number; n: number };
}

export class PowerHistoryRecorder {
  private readonly points: PowerHistory['points'] = [];
  /** The first forecast made for each of its (aligned) points. */
  private readonly firstForecast = new Map<number, number>();
  private bucket: Bucket | undefined;
  /** The newest state's time, and when the step under way was last published. */
  private lastMs = 0;
  private publishedMs = -Infinity;
  private off: (() => Promise<void>) | undefined;

  constructor(
    private readonly mesh: Mesh,
    readonly stepMs = 5 * 60_000,
    /** How often the step under way is republished, ms of the states' time. */
    readonly partialEveryMs = 60_000,
  ) {}

  async start(): Promise<void> {
    this.off = await this.mesh.subscribe(this.mesh.topics.power, (_topic, payload) => {
      const p = parsePower(payload);
      if (p) this.add(p);
    });
  }

  async stop(): Promise<void> {
    await this.off?.();
    this.off = undefined;
  }

  /** Adds one power state; a finished step is published, and the step under way every partialEveryMs. */
  add(p: PowerState): void {
    for (const f of p.forecast ?? []) if (!this.firstForecast.has(f.atMs)) this.firstForecast.set(f.atMs, f.ghiWm2);
    const at = Math.floor(p.updatedAt / this.stepMs) * this.stepMs;
    if (this.bucket && at !== this.bucket.atMs) {
      if (at < this.bucket.atMs) return; // a stale state (restarted clock): ignored
      this.finish(this.bucket, p.updatedAt);
    }
    this.lastMs = p.updatedAt;
    const b = (this.bucket ??= { atMs: at, n: 0, solarW: 0, loadW: 0, battery: { sum: 0, n: 0 }, ghi: { sum: 0, n: 0 } });
    b.n++;
    b.solarW += p.solarW;
    b.loadW += p.loadW;
    if (p.batteryPct !== undefined) {
      b.battery.sum += p.batteryPct;
      b.battery.n++;
    }
    if (p.ghiWm2 !== undefined) {
      b.ghi.sum += p.ghiWm2;
      b.ghi.n++;
    }
    if (p.updatedAt - this.publishedMs >= this.partialEveryMs) this.publish();
  }

  /** The finished steps, then the step under way (its average so far); updatedAt: the newest state in it. */
  history(): PowerHistory {
    return { stepMs: this.stepMs, points: this.bucket ? [...this.points, this.point(this.bucket)] : [...this.points], updatedAt: this.lastMs };
  }

  private point(b: Bucket): PowerHistory['points'][number] {
    return {
      atMs: b.atMs,
      solarW: b.solarW / b.n,
      loadW: b.loadW / b.n,
      batteryPct: b.battery.n ? b.battery.sum / b.battery.n : undefined,
      ghiWm2: b.ghi.n ? b.ghi.sum / b.ghi.n : undefined,
      forecastGhiWm2: this.forecastAt(b.atMs + this.stepMs / 2),
    };
  }

  private finish(b: Bucket, nowMs: number): void {
    this.bucket = undefined;
    this.points.push(this.point(b));
    while (this.points.length && this.points[0]!.atMs < nowMs - DAY_MS) this.points.shift();
    for (const t of this.firstForecast.keys()) if (t < nowMs - DAY_MS) this.firstForecast.delete(t);
    this.publish();
  }

  private publish(): void {
    this.publishedMs = this.lastMs;
    void this.mesh.publish(this.mesh.topics.powerHistory, JSON.stringify(this.history()), { retain: true }).catch(() => {});
  }

  /** The first forecast's irradiance at `t`, linear between its points; undefined outside them. */
  private forecastAt(t: number): number | undefined {
    let before: [number, number] | undefined;
    let after: [number, number] | undefined;
    for (const [at, v] of this.firstForecast) {
      if (at <= t && (!before || at > before[0])) before = [at, v];
      if (at >= t && (!after || at < after[0])) after = [at, v];
    }
    if (!before || !after) return undefined;
    if (after[0] === before[0]) return before[1];
    return before[1] + ((after[1] - before[1]) * (t - before[0])) / (after[0] - before[0]);
  }
}

/**
 * The bridge events since the site's local midnight, oldest first, the newest `maxEvents` at most,
 * republished retained at most every `publishEveryMs` (the last of a burst too) so a page that
 * connects gets the day so far. The day starts at the power state's `energyToday.dayStartMs`; an
 * event older than that is dropped when the day turns.
 */
export class EventHistoryRecorder {
  private events: BridgeEvent[] = [];
  private dayStartMs: number | null = null;
  private publishedMs = -Infinity;
  private pending: TimerHandle | undefined;
  private offs: (() => Promise<void>)[] = [];

  constructor(
    private readonly mesh: Mesh,
    private readonly clock: Clock,
    readonly maxEvents = 500,
    readonly publishEveryMs = 1000,
  ) {}

  async start(): Promise<void> {
    this.offs.push(
      await this.mesh.subscribe(this.mesh.topics.power, (_topic, payload) => {
        const day = parsePower(payload)?.energyToday?.dayStartMs;
        if (day !== undefined) this.startDay(day);
      }),
      await this.mesh.subscribe(this.mesh.topics.event, (_topic, payload) => {
        try {
          const ev = JSON.parse(payload.toString()) as BridgeEvent;
          if (typeof ev?.type === 'string' && typeof ev.data?.atMs === 'number') this.add(ev);
        } catch {
          // Not JSON: not an event.
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.pending);
    this.pending = undefined;
    for (const off of this.offs.splice(0)) await off();
  }

  /** The site's local midnight; a new day drops the events before it. */
  startDay(dayStartMs: number): void {
    if (dayStartMs === this.dayStartMs) return;
    this.dayStartMs = dayStartMs;
    const kept = this.events.filter((e) => e.data.atMs >= dayStartMs);
    if (kept.length === this.events.length) return;
    this.events = kept;
    this.schedule();
  }

  add(ev: BridgeEvent): void {
    if (this.dayStartMs !== null && ev.data.atMs < this.dayStartMs) return;
    this.events.push(ev);
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
    this.schedule();
  }

  history(): EventHistory {
    return { dayStartMs: this.dayStartMs, events: [...this.events], updatedAt: this.clock.now() };
  }

  /** Publishes now, or once publishEveryMs has passed since the last publication. */
  private schedule(): void {
    if (this.pending) return;
    const wait = this.publishedMs + this.publishEveryMs - this.clock.now();
    if (wait <= 0) return this.publish();
    this.pending = this.clock.setTimeout(() => {
      this.pending = undefined;
      this.publish();
    }, wait);
  }

  private publish(): void {
    this.publishedMs = this.clock.now();
    void this.mesh.publish(this.mesh.topics.eventHistory, JSON.stringify(this.history()), { retain: true }).catch(() => {});
  }
}
