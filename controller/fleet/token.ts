/**
 * The transit token: only one drone moves between the pads and the net at a time, or the whole
 * net moves to a new altitude (MOVE_TOKEN holds it meanwhile). A launch takes it at the staging
 * level over its pad and gives it back on station (or keeps it under the station for a handover,
 * where the relieved drone takes it over); a return takes it on station and gives it back once it
 * has sunk clear of the return layer over its pad. Each hold that ran its course is folded into
 * the pace.
 */
import type { Pace, PaceKind } from './pace.ts';

/** Holds the token while the net changes altitude (no drone has this sysid). */
export const MOVE_TOKEN = -1;

export class TransitToken {
  private holderId: number | undefined;
  private since = 0;

  constructor(private readonly pace: Pace) {}

  /** The drone allowed to cross between pads and net now (or MOVE_TOKEN; undefined: free). */
  get holder(): number | undefined {
    return this.holderId;
  }

  /** Passes the token on (undefined frees it); `ended` says what the hold that ends counts as in the pace. */
  pass(to: number | undefined, nowMs: number, ended: PaceKind | undefined): void {
    if (to === this.holderId) return;
    if (this.holderId !== undefined && ended) this.pace.noteHold(ended, nowMs - this.since);
    this.holderId = to;
    this.since = nowMs;
  }
}

/**
 * Whether a staged drone may take the token and cross on the transit layer: none of the drones
 * landing (over their pads, token handed back a separation under the return layer, or in place
 * after a failsafe) is still within the minimum separation of that layer.
 */
export function transitLayerClear(layerM: number, minSeparationM: number, landingAltitudesM: Iterable<number>): boolean {
  for (const u of landingAltitudesM) if (u > layerM - minSeparationM) return false;
  return true;
}
