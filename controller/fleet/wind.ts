/**
 * The wind the fleet acts on: the estimates the drones holding the net send from their autopilots
 * (ArduPilot WIND, PX4 WIND_COV; their median, so one confused EKF does not move it) and a station
 * anemometer when there is one, each as its mean over the last ten minutes (WMO's mean wind; once
 * readings cover three of them); the stronger of the two counts. Limits are set against the
 * sustained wind: the autopilots' own position controllers ride the gusts (and the larger of two
 * gusty readings, taken reading by reading, would be biased high).
 *
 * A source silent for the whole window is forgotten: a site without an anemometer that landed for
 * the wind finds out whether it has dropped by flying (the reports of the drones that go up again
 * start a new mean).
 */
/** The sustained wind is the mean over this window (WMO's "mean wind": ten minutes)… */
const WINDOW_MS = 10 * 60_000;
/** …once readings cover this much of it (one gust is not a wind). */
const SETTLED_MS = 3 * 60_000;

/** A time-weighted mean of the last WINDOW_MS of readings (each reading holds until the next). */
class SustainedMean {
  private readonly readings: { atMs: number; value: number }[] = [];

  add(nowMs: number, value: number): void {
    const last = this.readings.at(-1);
    // A silence longer than the window starts a new mean.
    if (last && nowMs - last.atMs > WINDOW_MS) this.readings.length = 0;
    this.readings.push({ atMs: nowMs, value });
    while (this.readings.length > 1 && this.readings[1]!.atMs <= nowMs - WINDOW_MS) this.readings.shift();
  }

  value(nowMs: number): number | undefined {
    const r = this.readings;
    if (r.length === 0 || nowMs - r.at(-1)!.atMs > WINDOW_MS) return undefined;
    const from = Math.max(r[0]!.atMs, nowMs - WINDOW_MS);
    if (nowMs - from < SETTLED_MS) return undefined;
    let sum = 0;
    for (let i = 0; i < r.length; i++) {
      const start = Math.max(r[i]!.atMs, from);
      const end = i + 1 < r.length ? r[i + 1]!.atMs : nowMs;
      if (end > start) sum += r[i]!.value * (end - start);
    }
    return sum / (nowMs - from);
  }
}

export class WindEstimate {
  private readonly drones = new SustainedMean();
  private readonly anemometer = new SustainedMean();

  /** Folds in what is measured now: the holders' wind speeds and the anemometer's, m/s (either may be missing). */
  update(nowMs: number, holders: readonly number[], anemometerMs?: number): void {
    const sorted = holders.filter(Number.isFinite).sort((a, b) => a - b);
    if (sorted.length > 0) {
      const mid = sorted.length / 2;
      this.drones.add(nowMs, sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2);
    }
    if (anemometerMs !== undefined && Number.isFinite(anemometerMs)) this.anemometer.add(nowMs, anemometerMs);
  }

  /** The sustained wind, m/s; undefined while no source has three minutes of readings in the last ten. */
  value(nowMs: number): number | undefined {
    const known = [this.drones.value(nowMs), this.anemometer.value(nowMs)].filter((x): x is number => x !== undefined);
    return known.length ? Math.max(...known) : undefined;
  }
}
