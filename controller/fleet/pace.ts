/**
 * Pace learning: how long the transit token is held for one launch (from leaving the staging
 * level to being on station or under it) and one return (from leaving the station to handing the
 * token back over its pad) — the power budget times the evening landing by them — and how long a
 * whole relief takes (the replacement's launch to the relieved drone's landing), which sets how
 * early a drone on station asks for relief.
 */

/** What a token hold that ran its course was: a launch or a return. */
export type PaceKind = 'launch' | 'return';

/** Holds shorter or longer than these were cut short or stuck, not a pace. */
const SHORTEST_HOLD_MS = 1000;
const LONGEST_HOLD_MS = 5 * 60_000;

export class Pace {
  /** Smoothed token hold times, ms (a key appears with its first hold). */
  private readonly holds: { launchMs?: number; landMs?: number } = {};
  /** Learnt duration of one relief, ms. */
  reliefMs = 180_000;

  /** Folds one token hold into the pace. */
  noteHold(kind: PaceKind, ms: number): void {
    if (ms < SHORTEST_HOLD_MS || ms > LONGEST_HOLD_MS) return;
    const key = kind === 'launch' ? 'launchMs' : 'landMs';
    const was = this.holds[key];
    this.holds[key] = was === undefined ? ms : 0.8 * was + 0.2 * ms;
  }

  /** Folds one relief, from the replacement's launch to the relieved drone's landing, into its learnt duration. */
  noteRelief(ms: number): void {
    this.reliefMs = 0.7 * this.reliefMs + 0.3 * ms;
  }

  /** The token's pace so far: launch and return hold times (ms; each missing before its first). */
  transit(): { launchMs?: number; landMs?: number } {
    return { ...this.holds };
  }
}
