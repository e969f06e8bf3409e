/**
 * The wind stages: calm (the net as planned), lower (down to lowAltitudeM and at most half the
 * stations) and land (everyone down), judged on the sustained wind (wind.ts) with hysteresis; and
 * the net's altitude, which follows the stage with a move of the whole net at once (the fleet
 * holds the transit token meanwhile and sends the holders up or down together).
 */
import type { Logger } from '../../firmware-bridge/log.ts';
import { WindEstimate } from './wind.ts';

/** calm: the net as planned; lower: down to lowAltitudeM and at most half the stations; land: everyone down. */
export type WindStage = 'calm' | 'lower' | 'land';

/** A stage is left only once the wind is this far under its threshold. */
const WIND_HYSTERESIS_MS = 1.5;
/** A drone's report fresher than this counts towards the wind estimate. */
const WIND_REPORT_FRESH_MS = 30_000;
/** Giving up on waiting for every drone to reach the new altitude (one may be stuck off station). */
const MOVE_TIMEOUT_MS = 120_000;

export interface WindLimits {
  /** Over this sustained wind: the lower stage. */
  windLowerMs: number;
  /** Over this sustained wind: everyone lands. */
  windLimitMs: number;
}

/** The stage a sustained wind `windMs` (undefined: not measured lately) asks for, coming from stage `was`. */
export function windStage(was: WindStage, windMs: number | undefined, o: WindLimits): WindStage {
  // Nothing measured lately (no anemometer, nobody holding the net): after a strong wind the net
  // goes up lowered and at half size, and its holders' reports decide from there.
  if (windMs === undefined) return was === 'calm' ? 'calm' : 'lower';
  // A stage is entered over its threshold and left under the threshold less the hysteresis.
  if (windMs > o.windLimitMs || (was === 'land' && windMs > o.windLimitMs - WIND_HYSTERESIS_MS)) return 'land';
  if (windMs > o.windLowerMs || (was !== 'calm' && windMs > o.windLowerMs - WIND_HYSTERESIS_MS)) return 'lower';
  return 'calm';
}

/** What a drone's autopilot reports of the wind (ArduPilot WIND, PX4 WIND_COV). */
export interface WindReport {
  windSpeedMs?: number;
  windAtMs?: number;
}

export class WindStages {
  stage: WindStage = 'calm';
  /** The net's altitude now: altitudeM, or lowAltitudeM in the lower stage (once the net has moved there). */
  netAltM: number;
  /** Set while the whole net moves to a new altitude. */
  private moving: { sinceMs: number } | undefined;
  private readonly estimate = new WindEstimate();

  constructor(
    private readonly o: WindLimits & { altitudeM: number; lowAltitudeM: number },
    private readonly log: Logger,
  ) {
    this.netAltM = o.altitudeM;
  }

  /** The sustained wind (m/s; undefined: not measured lately). */
  windMs(nowMs: number): number | undefined {
    return this.estimate.value(nowMs);
  }

  /** Folds in what the net's holders report (fresh reports only) and the anemometer's reading, and takes the stage the sustained wind asks for. */
  judge(nowMs: number, holders: Iterable<WindReport>, anemometerMs: number | undefined): void {
    const speeds: number[] = [];
    for (const t of holders) if (t.windSpeedMs !== undefined && nowMs - (t.windAtMs ?? -Infinity) <= WIND_REPORT_FRESH_MS) speeds.push(t.windSpeedMs);
    this.estimate.update(nowMs, speeds, anemometerMs);
    const w = this.estimate.value(nowMs);
    const stage = windStage(this.stage, w, this.o);
    if (stage !== this.stage) {
      this.log.info('wind stage', { stage, was: this.stage, windMs: w === undefined ? null : Math.round(w * 10) / 10 });
      this.stage = stage;
    }
  }

  get isMoving(): boolean {
    return this.moving !== undefined;
  }

  /** Ends the move under way once every holder is at the new altitude, or after MOVE_TIMEOUT_MS; true when it ended now. */
  endMove(nowMs: number, holdersThere: boolean): boolean {
    if (!this.moving || !(holdersThere || nowMs - this.moving.sinceMs > MOVE_TIMEOUT_MS)) return false;
    this.moving = undefined;
    return true;
  }

  /** Whether the stage asks for another altitude than the net's. */
  wantsMove(): boolean {
    return this.wantedAltM() !== this.netAltM;
  }

  /** Starts moving the net to the altitude its stage asks for; the net's altitude is that from now. */
  startMove(nowMs: number): void {
    const want = this.wantedAltM();
    this.moving = { sinceMs: nowMs };
    this.log.info('net altitude', { altitudeM: want, was: this.netAltM, reason: this.stage === 'lower' ? 'strong wind: lower and shrink' : 'wind eased' });
    this.netAltM = want;
  }

  private wantedAltM(): number {
    return this.stage === 'lower' ? this.o.lowAltitudeM : this.o.altitudeM;
  }
}
