/**
 * Energy today: generation and consumption integrated over the site's day (trapezoids between
 * budget ticks), reset at local midnight. The dashboard shows it and Home Assistant's energy
 * dashboard reads it as a `total_increasing` meter (a reset to 0 starts a new cycle there).
 */

const DAY_MS = 86_400_000;

/** Start of the day containing `ms`, for a zone `offsetMs` ahead of UTC. */
export function dayStart(ms: number, offsetMs = 0): number {
  return Math.floor((ms + offsetMs) / DAY_MS) * DAY_MS - offsetMs;
}

/** Local mean solar time's offset from UTC at a longitude (15° an hour), ms. */
export function solarOffsetMs(lonDeg: number): number {
  return (lonDeg / 15) * 3_600_000;
}

export interface EnergyToday {
  generatedWh: number;
  consumedWh: number;
  dayStartMs: number;
}

export class EnergyMeter {
  private last: { atMs: number; inW: number; outW: number } | undefined;
  private today: EnergyToday | undefined;

  constructor(private readonly offsetMs = 0) {}

  /** Adds the power flowing in (generation) and out (loads) at `atMs`. */
  add(atMs: number, inW: number, outW: number): EnergyToday {
    const start = dayStart(atMs, this.offsetMs);
    if (!this.today || this.today.dayStartMs !== start) this.today = { generatedWh: 0, consumedWh: 0, dayStartMs: start };
    const last = this.last;
    // A gap longer than a minute (a restart, a stalled clock) is not integrated: unknown, not guessed.
    if (last && atMs > last.atMs && atMs - last.atMs <= 60_000) {
      const from = Math.max(last.atMs, start);
      const h = (atMs - from) / 3_600_000;
      this.today.generatedWh += ((last.inW + inW) / 2) * h;
      this.today.consumedWh += ((last.outW + outW) / 2) * h;
    }
    this.last = { atMs, inW, outW };
    return { ...this.today };
  }

  get value(): EnergyToday | undefined {
    return this.today && { ...this.today };
  }
}
