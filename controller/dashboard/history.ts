/**
 * The last 24 hours of power on the mesh (retained `<base>/power/history`), so a dashboard opened
 * now plots the day so far and the forecast against what actually came, not only what arrives
 * while it is open. It is built from the public `<base>/power` states (an in-process subscription),
 * averaged in 5-minute steps; each step keeps the irradiance that the first forecast covering it
 * expected (the day-ahead view), interpolated between the forecast's 15-minute points.
 */
import type { Mesh } from '../mesh/mesh.ts';
import type { PowerHistory, PowerState } from '../../common/topics.ts';

const DAY_MS = 24 * 3_600_000;

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
  private off: (() => Promise<void>) | undefined;

  constructor(
    private readonly mesh: Mesh,
    readonly stepMs = 5 * 60_000,
  ) {}

  async start(): Promise<void> {
    this.off = await this.mesh.subscribe(this.mesh.topics.power, (_topic, payload) => {
      let p: PowerState;
      try {
        p = JSON.parse(payload.toString()) as PowerState;
      } catch {
        return;
      }
      if (typeof p.updatedAt === 'number' && typeof p.solarW === 'number' && typeof p.loadW === 'number') this.add(p);
    });
  }

  async stop(): Promise<void> {
    await this.off?.();
    this.off = undefined;
  }

  /** Adds one power state; a finished step is published. */
  add(p: PowerState): void {
    for (const f of p.forecast ?? []) if (!this.firstForecast.has(f.atMs)) this.firstForecast.set(f.atMs, f.ghiWm2);
    const at = Math.floor(p.updatedAt / this.stepMs) * this.stepMs;
    if (this.bucket && at !== this.bucket.atMs) {
      if (at < this.bucket.atMs) return; // a stale state (restarted clock): ignored
      this.finish(this.bucket, p.updatedAt);
    }
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
  }

  history(nowMs: number): PowerHistory {
    return { stepMs: this.stepMs, points: [...this.points], updatedAt: nowMs };
  }

  private finish(b: Bucket, nowMs: number): void {
    this.bucket = undefined;
    const mid = b.atMs + this.stepMs / 2;
    this.points.push({
      atMs: b.atMs,
      solarW: b.solarW / b.n,
      loadW: b.loadW / b.n,
      batteryPct: b.battery.n ? b.battery.sum / b.battery.n : undefined,
      ghiWm2: b.ghi.n ? b.ghi.sum / b.ghi.n : undefined,
      forecastGhiWm2: this.forecastAt(mid),
    });
    while (this.points.length && this.points[0]!.atMs < nowMs - DAY_MS) this.points.shift();
    for (const t of this.firstForecast.keys()) if (t < nowMs - DAY_MS) this.firstForecast.delete(t);
    void this.mesh.publish(this.mesh.topics.powerHistory, JSON.stringify(this.history(nowMs)), { retain: true }).catch(() => {});
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
