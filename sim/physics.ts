/**
 * Point-mass multicopter in a local frame around the ground station (north, east, up in metres):
 * the flight controller's position loop is modelled as a velocity command toward the target,
 * limited in horizontal speed, climb and descent rate and acceleration, and slowing so it stops at
 * the target (v ≤ √(2·a·d)). Wind pushes the aircraft; it holds position against wind up to its
 * top airspeed and drifts downwind beyond that. Power follows the hover model of the profile
 * (≈ 180 W/kg of all-up mass) raised by forward flight and climb.
 */
import type { Random } from '../firmware-bridge/random.ts';

export interface Vec3 {
  n: number;
  e: number;
  u: number;
}

export interface AirframeProfile {
  massKg: number;
  maxSpeedMs: number;
  maxAccelMs2: number;
  maxClimbMs: number;
  maxDescentMs: number;
  hoverWPerKg: number;
}

export const GRAVITY = 9.80665;

export type Guidance =
  | { kind: 'hold' }
  | { kind: 'position'; target: Vec3; speedMs?: number; climbMs?: number; descentMs?: number }
  | { kind: 'descend'; rateMs: number };

export class Multicopter {
  pos: Vec3;
  vel: Vec3 = { n: 0, e: 0, u: 0 };
  /** Extra mass carried (the drone's share of the net), kg. */
  payloadKg = 0;
  /** Electrical power drawn in the last step, W. */
  powerW = 0;
  /** Airspeed in the last step, m/s. */
  airspeedMs = 0;
  /** A failed motor: no thrust, it falls. */
  failed = false;

  constructor(
    readonly profile: AirframeProfile,
    start: Vec3,
  ) {
    this.pos = { ...start };
  }

  get onGround(): boolean {
    return this.pos.u <= 0.01;
  }

  /** Advances `dtS` seconds under `guidance` (null: motors off) in `wind` (the air's velocity). */
  step(dtS: number, guidance: Guidance | null, wind: Vec3): void {
    const p = this.profile;
    let want: Vec3;
    if (this.failed) {
      // It falls with the wind; once down it lies where it fell (a wreck is not blown along the ground).
      want = this.onGround ? { n: 0, e: 0, u: 0 } : { n: wind.n, e: wind.e, u: -15 };
    } else if (!guidance) {
      want = { n: 0, e: 0, u: 0 };
    } else if (guidance.kind === 'hold') {
      want = { n: 0, e: 0, u: 0 };
    } else if (guidance.kind === 'descend') {
      want = { n: 0, e: 0, u: -guidance.rateMs };
    } else {
      const t = guidance.target;
      const dn = t.n - this.pos.n;
      const de = t.e - this.pos.e;
      const du = t.u - this.pos.u;
      const dh = Math.hypot(dn, de);
      const vh = Math.min(guidance.speedMs ?? p.maxSpeedMs, p.maxSpeedMs, Math.sqrt(2 * p.maxAccelMs2 * dh));
      const up = Math.min(guidance.climbMs ?? p.maxClimbMs, p.maxClimbMs);
      const down = Math.min(guidance.descentMs ?? p.maxDescentMs, p.maxDescentMs);
      const vu = du >= 0 ? Math.min(up, Math.sqrt(2 * p.maxAccelMs2 * du)) : -Math.min(down, Math.sqrt(2 * p.maxAccelMs2 * -du));
      want = dh > 1e-6 ? { n: (dn / dh) * vh, e: (de / dh) * vh, u: vu } : { n: 0, e: 0, u: vu };
    }
    if (guidance && !this.failed) {
      // Holding a ground velocity against the wind takes airspeed; beyond the top speed it drifts.
      const an = want.n - wind.n;
      const ae = want.e - wind.e;
      const air = Math.hypot(an, ae);
      const maxAir = p.maxSpeedMs * 1.5;
      if (air > maxAir) {
        want.n = wind.n + (an / air) * maxAir;
        want.e = wind.e + (ae / air) * maxAir;
      }
    }
    const maxDv = (this.failed ? GRAVITY : p.maxAccelMs2) * dtS;
    for (const k of ['n', 'e', 'u'] as const) {
      const dv = want[k] - this.vel[k];
      this.vel[k] += Math.max(-maxDv, Math.min(maxDv, dv));
      this.pos[k] += this.vel[k] * dtS;
    }
    if (this.pos.u <= 0) {
      this.pos.u = 0;
      if (this.vel.u < 0) this.vel.u = 0;
      this.vel.n = 0;
      this.vel.e = 0;
    }
    this.airspeedMs = Math.hypot(this.vel.n - wind.n, this.vel.e - wind.e);
    this.powerW = guidance && !this.failed ? this.flightPowerW() : 0;
  }

  /** Hover power × (1 + forward-flight and climb terms); a fit to multirotor power curves. */
  private flightPowerW(): number {
    const mass = this.profile.massKg + this.payloadKg;
    const hover = this.profile.hoverWPerKg * mass;
    if (this.onGround && this.vel.u <= 0) return hover * 0.1;
    const forward = 1 + 0.004 * this.airspeedMs * this.airspeedMs;
    const climb = Math.max(0, this.vel.u) * mass * GRAVITY / 0.7;
    return hover * forward + climb;
  }
}

/**
 * Wind: a mean vector plus gusts, each axis an Ornstein–Uhlenbeck process with a 20 s time
 * constant and the configured gust standard deviation. Seeded; advanced by the world's step.
 */
export class Wind {
  private gn = 0;
  private ge = 0;
  extraMs = 0;

  constructor(
    public meanMs: number,
    public gustMs: number,
    public directionDeg: number,
    private readonly random: Random,
  ) {}

  /** The air's velocity (the direction the wind blows FROM is directionDeg, meteorological). */
  at(): Vec3 {
    const speed = this.meanMs + this.extraMs;
    const to = ((this.directionDeg + 180) * Math.PI) / 180;
    return { n: Math.cos(to) * speed + this.gn, e: Math.sin(to) * speed + this.ge, u: 0 };
  }

  speedMs(): number {
    const w = this.at();
    return Math.hypot(w.n, w.e);
  }

  step(dtS: number): void {
    const tau = 20;
    const k = Math.exp(-dtS / tau);
    const s = this.gustMs * Math.sqrt(1 - k * k);
    this.gn = this.gn * k + s * gaussian(this.random);
    this.ge = this.ge * k + s * gaussian(this.random);
  }
}

export function gaussian(random: Random): number {
  // Box–Muller; 1 - u keeps log away from 0.
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

export function distance(a: Vec3, b: Vec3): number {
  return Math.hypot(a.n - b.n, a.e - b.e, a.u - b.u);
}

