/**
 * The simulated world: a swarm of virtual ArduCopters on their charging pads around the ground
 * station, the wind, the sun over the net, and the radios between them. Everything runs on one
 * injected clock and one seed, so a run is reproducible to the byte.
 *
 * `step(dt)` advances physics by dt seconds and the clock with it; the caller (the sim runner or
 * `canopy start`) decides how fast simulated time passes.
 */
import type { Clock, ManualClock } from '../firmware-bridge/clock.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { seededRandom, type Random } from '../firmware-bridge/random.ts';
import { VirtualCopter, type Origin, type VirtualCopterOptions } from './autopilot.ts';
import { VirtualPx4 } from './px4.ts';
import type { BatteryOptions } from './battery.ts';
import { distance, Wind, type AirframeProfile, type Vec3 } from './physics.ts';

export interface NetProfile {
  massKgPerM2: number;
  areaM2PerDrone: number;
  efficiency: number;
  mpptEfficiency: number;
}

/** Where the sunlight comes from: clear-sky GHI (W/m²) and a cloud factor (0..1) at a time. */
export interface SkyModel {
  ghiWm2(timeMs: number): number;
  cloudFactor(timeMs: number): number;
}

/** A radio shared by several drones: the ground end, and one end per drone. */
export interface RadioMedium {
  ground: Link;
  attach(sysid: number): Link;
}

export interface WorldOptions {
  clock: Clock & Pick<ManualClock, 'advance'>;
  seed: number;
  origin: Origin;
  drones: number;
  airframe: AirframeProfile;
  battery: BatteryOptions;
  /** Per-drone capacity loss (sysid → fraction), battery ageing faults. */
  ageing?: Map<number, number>;
  padChargeW: number;
  net: NetProfile;
  /** Altitude the net is held at; drones above half of it count as holding it. */
  netAltitudeM: number;
  wind: { meanMs: number; gustMs: number; directionDeg: number };
  sky: SkyModel;
  /** One medium per ground radio; drones are spread over them round-robin. */
  radios: RadioMedium[];
  gpsFixAfterMs?: number;
  params?: Record<string, number>;
  /** Each drone's firmware: PX4 or ArduPilot (default), cold or warm, saved streams, parameter names. */
  autopilot?: (sysid: number) => DroneFirmware;
}

/** How one simulated drone's autopilot ships. */
export type DroneFirmware = Pick<VirtualCopterOptions, 'coldStart' | 'savedStreams' | 'legacyParamNames'> & { px4?: boolean };

export interface WorldSample {
  timeMs: number;
  airborne: number;
  holding: number;
  netAreaM2: number;
  ghiWm2: number;
  generationW: number;
  hoverW: number;
  meanSoc: number;
  minSoc: number;
  windMs: number;
  minSeparationM: number;
}

/**
 * Pads on rings around the station, 6 m apart, the first ring `innerRadiusM` out (default 50 m:
 * outside the net's footprint, so a drone climbing or descending over its pad never passes under
 * a station).
 */
export function padPositions(count: number, innerRadiusM = 50): Vec3[] {
  const pads: Vec3[] = [];
  for (let ring = 0; pads.length < count; ring++) {
    const radius = innerRadiusM + ring * 6;
    const onRing = Math.floor((2 * Math.PI * radius) / 6);
    for (let i = 0; i < onRing && pads.length < count; i++) {
      const a = (2 * Math.PI * i) / onRing;
      pads.push({ n: Math.round(radius * Math.cos(a) * 100) / 100, e: Math.round(radius * Math.sin(a) * 100) / 100, u: 0 });
    }
  }
  return pads;
}

/** Area of the convex hull of points in the horizontal plane (monotone chain + shoelace). */
export function hullArea(points: readonly Vec3[]): number {
  if (points.length < 3) return 0;
  const p = [...points].sort((a, b) => a.n - b.n || a.e - b.e);
  const cross = (o: Vec3, a: Vec3, b: Vec3) => (a.n - o.n) * (b.e - o.e) - (a.e - o.e) * (b.n - o.n);
  const lower: Vec3[] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: Vec3[] = [];
  for (let i = p.length - 1; i >= 0; i--) {
    const q = p[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, q) <= 0) upper.pop();
    upper.push(q);
  }
  const hull = [...lower.slice(0, -1), ...upper.slice(0, -1)];
  let twice = 0;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    twice += a.n * b.e - b.n * a.e;
  }
  return Math.abs(twice) / 2;
}

/**
 * The smallest distance between any two points (Infinity for fewer than two): sort by north, then
 * sweep, comparing each point only with those less than the best distance further north. Exact,
 * and near n log n for a spread-out swarm (250 drones: ~1,000 comparisons instead of 31,000).
 */
export function closestPair(points: readonly Vec3[]): number {
  return closestPairOf(points).distance;
}

/** closestPair with the indices (into `points`) of the two points. */
export function closestPairOf(points: readonly Vec3[]): { distance: number; a: number; b: number } {
  const order = points.map((_, i) => i).sort((x, y) => points[x]!.n - points[y]!.n);
  let best = { distance: Infinity, a: -1, b: -1 };
  for (let i = 0; i < order.length; i++) {
    const a = points[order[i]!]!;
    for (let j = i + 1; j < order.length && points[order[j]!]!.n - a.n < best.distance; j++) {
      const d = distance(a, points[order[j]!]!);
      if (d < best.distance) best = { distance: d, a: order[i]!, b: order[j]! };
    }
  }
  return best;
}

export class SimWorld {
  readonly clock: WorldOptions['clock'];
  readonly drones: VirtualCopter[] = [];
  readonly wind: Wind;
  readonly random: Random;
  /** The smallest distance between two airborne drones seen so far, m. */
  minSeparationM = Infinity;
  /** Where and when the smallest separation happened. */
  closest: { timeMs: number; sysids: [number, number]; modes: [string, string]; positions: [Vec3, Vec3] } | undefined;
  last: WorldSample;
  private readonly opts: WorldOptions;
  private ghiCache = { minute: NaN, ghi: 0, cloud: 1 };

  constructor(opts: WorldOptions) {
    this.opts = opts;
    this.clock = opts.clock;
    this.random = seededRandom(opts.seed);
    this.wind = new Wind(opts.wind.meanMs, opts.wind.gustMs, opts.wind.directionDeg, seededRandom(opts.seed * 7919 + 1));
    const pads = padPositions(opts.drones);
    for (let i = 0; i < opts.drones; i++) {
      const sysid = i + 1;
      const radio = opts.radios[i % opts.radios.length]!;
      const { px4, ...firmware } = opts.autopilot?.(sysid) ?? {};
      const Autopilot = px4 ? VirtualPx4 : VirtualCopter;
      this.drones.push(
        new Autopilot({
          ...firmware,
          seed: opts.seed * 131 + sysid,
          sysid,
          clock: opts.clock,
          link: radio.attach(sysid),
          airframe: opts.airframe,
          battery: { ...opts.battery, ageing: opts.ageing?.get(sysid) ?? opts.battery.ageing },
          origin: opts.origin,
          pad: pads[i]!,
          gpsFixAfterMs: opts.gpsFixAfterMs,
          params: opts.params,
        }),
      );
    }
    const sky = this.sky(opts.clock.now());
    this.last = this.sample(0, 0, 0, 0, sky.ghi * sky.cloud);
  }

  get groundLinks(): Link[] {
    return this.opts.radios.map((r) => r.ground);
  }

  async start(): Promise<void> {
    for (const r of this.opts.radios) await r.ground.start();
    for (const d of this.drones) await d.channel.link.start();
  }

  async stop(): Promise<void> {
    for (const d of this.drones) await d.channel.link.stop();
    for (const r of this.opts.radios) await r.ground.stop();
  }

  drone(sysid: number): VirtualCopter | undefined {
    return this.drones[sysid - 1];
  }

  /** Sunlight changes slowly: evaluate the sky once per simulated minute. */
  private sky(now: number): { ghi: number; cloud: number } {
    const minute = Math.floor(now / 60_000);
    if (minute !== this.ghiCache.minute) {
      const t = minute * 60_000;
      this.ghiCache = { minute, ghi: this.opts.sky.ghiWm2(t), cloud: this.opts.sky.cloudFactor(t) };
    }
    return this.ghiCache;
  }

  /** Advances the world by dtS seconds of simulated time. */
  step(dtS: number): WorldSample {
    const now = this.clock.now();
    this.wind.step(dtS);
    const wind = this.wind.at();
    const net = this.opts.net;
    // Who holds the net: armed, airborne drones above half the net altitude.
    const holders = this.drones.filter((d) => d.armed && !d.copter.failed && d.copter.pos.u > this.opts.netAltitudeM / 2);
    const holding = new Set(holders);
    const area = Math.min(hullArea(holders.map((d) => d.copter.pos)), holders.length * net.areaM2PerDrone);
    const sky = this.sky(now);
    const generationW = sky.ghi * sky.cloud * area * net.efficiency * net.mpptEfficiency;
    const netMassKg = area * net.massKgPerM2;
    let hoverW = 0;
    for (const d of this.drones) {
      const holds = holding.has(d);
      d.copter.payloadKg = holds ? netMassKg / holders.length : 0;
      d.solarShareW = holds ? generationW / holders.length : 0;
      // Only a drone standing on its own pad is charged.
      d.padChargeW = !d.armed && d.copter.onGround && Math.hypot(d.copter.pos.n - d.pad.n, d.copter.pos.e - d.pad.e) < 2 ? this.opts.padChargeW : 0;
      d.step(dtS, wind);
      hoverW += d.copter.powerW;
    }
    const airborne = this.drones.filter((d) => !d.copter.onGround);
    const pair = closestPairOf(airborne.map((d) => d.copter.pos));
    const minSep = pair.distance;
    if (minSep < this.minSeparationM) {
      const [a, b] = [airborne[pair.a]!, airborne[pair.b]!];
      this.closest = { timeMs: now, sysids: [a.sysid, b.sysid], modes: [a.mode, b.mode], positions: [{ ...a.copter.pos }, { ...b.copter.pos }] };
    }
    if (minSep < this.minSeparationM) this.minSeparationM = minSep;
    this.clock.advance(dtS * 1000);
    this.last = this.sample(holders.length, area, generationW, hoverW, sky.ghi * sky.cloud, airborne.length, minSep);
    return this.last;
  }

  private sample(holding: number, area: number, generationW: number, hoverW: number, ghi = 0, airborne = 0, minSep = Infinity): WorldSample {
    let sum = 0;
    let min = 1;
    for (const d of this.drones) {
      sum += d.battery.soc;
      min = Math.min(min, d.battery.soc);
    }
    return {
      timeMs: this.clock.now(),
      airborne,
      holding,
      netAreaM2: area,
      ghiWm2: ghi,
      generationW,
      hoverW,
      meanSoc: this.drones.length ? sum / this.drones.length : 0,
      minSoc: min,
      windMs: this.wind.speedMs(),
      minSeparationM: minSep,
    };
  }
}
