/**
 * The relief energy model: when a drone on station must be relieved. Its relieve level is the
 * charge it needs to fly home and land (drawing at least what the airframe alone hovers on: it
 * leaves the net's sun behind) plus a margin; it asks for relief early enough before reaching it
 * that a replacement arrives through the one-at-a-time token, the reliefs due before it included.
 */
import { RETURN_ABOVE_M, type Point } from './formation.ts';

/** Battery draw of a drone flying without the net (a 2.5 kg quad at 180 W/kg), W, for return reserves. */
const RETURN_DRAW_W = 440;
/** Time constant of the smoothed battery draw used for relief predictions. */
const DRAW_SMOOTHING_MS = 60_000;
/** A launch at the default speeds (60 m net, pads 50 m out), with margin. */
const LAUNCH_S = 60;

/** Battery power smoothed over about a minute (W; negative while charging): gusts make the instantaneous draw swing around zero. */
export class DrawMeter {
  watts: number | undefined;
  private atMs: number | undefined;

  measure(voltageV: number | undefined, currentA: number | undefined, nowMs: number): void {
    if (voltageV === undefined || currentA === undefined) return;
    const p = voltageV * currentA;
    const k = this.atMs === undefined ? 1 : Math.min(1, (nowMs - this.atMs) / DRAW_SMOOTHING_MS);
    this.watts = this.watts === undefined ? p : this.watts + (p - this.watts) * k;
    this.atMs = nowMs;
  }
}

/** What the model knows of one drone: its charge (%), smoothed draw (W), where it is and where its pad is. */
export interface Energy {
  pct: number | undefined;
  drawW: number | undefined;
  here: Point & { u: number };
  pad: Point | undefined;
}

export class ReliefModel {
  constructor(private readonly o: { batteryWh: number; marginFraction: number }) {}

  /** The charge (%) a drone needs to leave the net at `netAltM` now, fly home and land, with the margin. */
  relievePct(d: Energy, netAltM: number): number {
    const powerW = Math.max(RETURN_DRAW_W, d.drawW ?? RETURN_DRAW_W);
    const pad = d.pad ?? { n: 0, e: 0 };
    const here = d.here;
    // Climb RETURN_ABOVE_M at ~2.5 m/s, fly home at ~5 m/s, descend at ~1.5 m/s (0.5 below 10 m).
    const returnS = RETURN_ABOVE_M / 2.5 + Math.hypot(here.n - pad.n, here.e - pad.e) / 5 + (netAltM + RETURN_ABOVE_M - 10) / 1.5 + 10 / 0.5 + 20;
    const returnWh = (powerW * returnS) / 3600;
    return 100 * (returnWh / this.o.batteryWh + this.o.marginFraction);
  }

  /** Seconds until the drone reaches its relieve level at the present draw (∞ when charging in the air above it). */
  secondsToRelieve(d: Energy, netAltM: number): number {
    const pct = d.pct ?? 100;
    // Low battery: at or under the relieve level a drone is relieved now, even while the sun
    // charges it (a cloud can take that away before a replacement arrives).
    if (pct <= this.relievePct(d, netAltM)) return 0;
    const powerW = d.drawW ?? 0;
    if (powerW <= 0) return Infinity;
    return (((pct - this.relievePct(d, netAltM)) / 100) * this.o.batteryWh * 3600) / powerW;
  }

  /**
   * Whether a drone on station asks for relief now: when its time to its relieve level is under a
   * launch plus one whole relief (the learnt `reliefMs`) for every drone on station due before it
   * (`relieving` already asked; of `holding`, those nearer their level) and for the token
   * operation under way — they pass through the token one at a time.
   */
  due(d: Energy, others: { relieving: number; holding: Iterable<Energy> }, tokenBusy: boolean, reliefMs: number, netAltM: number): boolean {
    const mine = this.secondsToRelieve(d, netAltM);
    let ahead = others.relieving;
    for (const x of others.holding) if (this.secondsToRelieve(x, netAltM) < mine) ahead++;
    return mine < LAUNCH_S + (reliefMs / 1000) * (ahead + (tokenBusy ? 1 : 0));
  }
}
