/**
 * The simulated world's sky: the site's clear sky (common/solar.ts, the same astronomy
 * the power budget forecasts with) under a seeded cloud cover. The controller never sees the
 * clouds, only what they let through.
 *
 * `CloudCover`: a seeded, smooth cloud process mapped to transmittance with Kasten & Czeplak (1980).
 */
import { clearSky, cloudTransmittance, type ClearSky, type SiteSky } from '../common/solar.ts';
import { seededRandom } from '../firmware-bridge/random.ts';

/** 32-bit integer hash of (seed, index): a fresh PRNG seed per knot, independent of evaluation order. */
export function hashKnot(seed: number, index: number): number {
  let h = Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul(index | 0, 0x85ebca77);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

const clamp01 = (x: number) => Math.min(1, Math.max(0, x));

/**
 * Seeded cloud cover: a cover fraction C ∈ [0, 1] drawn at knots every `changeHours`, eased between
 * knots with a smoothstep, turned into a transmitted fraction by Kasten & Czeplak (1980):
 * GHI/GHI_clear = 1 − 0.75·C^3.4. A pure function of (seed, time). After a change of the mean (a
 * front), the sky turns to it over the next `changeHours`.
 */
export class CloudCover {
  readonly seed: number;
  readonly meanCover: number;
  readonly changeHours: number;
  readonly startMs: number;
  /** Later mean covers (a front coming through), by time. */
  private readonly changes: readonly { atMs: number; meanCover: number }[];

  constructor(opts: { seed: number; meanCover: number; changeHours?: number; startMs: number; changes?: readonly { atMs: number; meanCover: number }[] }) {
    this.seed = opts.seed;
    this.meanCover = clamp01(opts.meanCover);
    this.changeHours = opts.changeHours ?? 3;
    if (!(this.changeHours > 0)) throw new RangeError('changeHours must be positive');
    this.startMs = opts.startMs;
    this.changes = [...(opts.changes ?? [])].map((c) => ({ atMs: c.atMs, meanCover: clamp01(c.meanCover) })).sort((a, b) => a.atMs - b.atMs);
  }

  /** The mean cover in force at a time (the last change at or before it). */
  private meanAt(timeMs: number): number {
    let m = this.meanCover;
    for (const c of this.changes) if (c.atMs <= timeMs) m = c.meanCover;
    return m;
  }

  /** Cover at knot k: u^((1−m)/m) for uniform u has mean m, so the long-run cover matches meanCover. */
  private knotCover(k: number): number {
    // The mean in force one period before the knot: after a change the sky turns over the next period.
    const m = this.meanAt(this.startMs + (k - 1) * this.changeHours * 3_600_000);
    if (m <= 0) return 0;
    if (m >= 1) return 1;
    const u = seededRandom(hashKnot(this.seed, k))();
    return u ** ((1 - m) / m);
  }

  /** Cloud cover fraction (0 clear .. 1 overcast) at a time. */
  cover(timeMs: number): number {
    const pos = (timeMs - this.startMs) / (this.changeHours * 3_600_000);
    const k = Math.floor(pos);
    const f = pos - k;
    const s = f * f * (3 - 2 * f); // smoothstep
    return this.knotCover(k) * (1 - s) + this.knotCover(k + 1) * s;
  }

  /** Fraction of clear-sky GHI transmitted, in [0.1, 1]. */
  factor(timeMs: number): number {
    return Math.max(0.1, cloudTransmittance(this.cover(timeMs)));
  }
}

/**
 * The site's climate as a record would give it (PVGIS, a weather station's years): the sky index,
 * transmitted over clear-sky energy, of the same cloud climate (mean cover, change time) in
 * another year, hour by hour over `days` from `fromMs`. Another seed: the record knows the
 * climate, not this year's clouds.
 */
export function recordedSkyIndex(opts: SiteSky & { meanCover: number; changeHours: number; seed: number; fromMs: number; days?: number }): number {
  const clear = clearSky(opts);
  const clouds = new CloudCover({ seed: opts.seed, meanCover: opts.meanCover, changeHours: opts.changeHours, startMs: opts.fromMs });
  let measured = 0;
  let clearSum = 0;
  for (let h = 0; h < 24 * (opts.days ?? 365); h++) {
    const t = opts.fromMs + h * 3_600_000 + 1_800_000;
    const g = clear.ghiWm2(t);
    measured += g * clouds.factor(t);
    clearSum += g;
  }
  return clearSum > 0 ? measured / clearSum : 1;
}

export interface SunSkyModel extends ClearSky {
  /** Transmitted fraction due to clouds (1 without clouds). */
  cloudFactor(timeMs: number): number;
}

/** A sky for the simulated world (satisfies `SkyModel` in sim/world.ts). */
export function skyModel(opts: SiteSky & { clouds?: CloudCover }): SunSkyModel {
  const clear = clearSky(opts);
  return {
    ghiWm2: (timeMs) => clear.ghiWm2(timeMs),
    sunElevationDeg: (timeMs) => clear.sunElevationDeg(timeMs),
    cloudFactor: (timeMs) => (opts.clouds ? opts.clouds.factor(timeMs) : 1),
  };
}
