/**
 * A refusal on the ground is not a fault: an autopilot that will not arm or change mode while it
 * is disarmed on its pad is still warming up (ArduCopter's EKF takes 30–45 s after boot), low, or
 * missing something its pre-arm checks name. The drone waits, 2 s after the first refusal and
 * twice as long after each further one up to a minute, and the autopilot's reason is shown; it is
 * never taken out of the plan for it. Faults are for what happens in the air.
 *
 * A backoff is a value (the role machine keeps it in a drone's state): these functions return the
 * next one.
 */
const FIRST_MS = 2000;
const MAX_MS = 60_000;

/** Refusals in a row, and until when the drone waits. */
export interface Backoff {
  readonly refusals: number;
  readonly untilMs: number;
}

/** No refusal yet, or the autopilot took a command since: the next refusal starts from the first wait again. */
export const NO_BACKOFF: Backoff = { refusals: 0, untilMs: 0 };

/** A refusal at `nowMs`: the backoff after it, and how long the drone now waits (ms). */
export function refuse(b: Backoff, nowMs: number): { backoff: Backoff; waitMs: number } {
  const waitMs = Math.min(MAX_MS, FIRST_MS * 2 ** b.refusals);
  return { backoff: { refusals: b.refusals + 1, untilMs: nowMs + waitMs }, waitMs };
}

export function waiting(b: Backoff, nowMs: number): boolean {
  return nowMs < b.untilMs;
}

/** Seconds left to wait (0 when none). */
export function leftS(b: Backoff, nowMs: number): number {
  return Math.max(0, Math.ceil((b.untilMs - nowMs) / 1000));
}
