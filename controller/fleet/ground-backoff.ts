/**
 * A refusal on the ground is not a fault: an autopilot that will not arm or change mode while it
 * is disarmed on its pad is still warming up (ArduCopter's EKF takes 30–45 s after boot), low, or
 * missing something its pre-arm checks name. The drone waits, 2 s after the first refusal and
 * twice as long after each further one up to a minute, and the autopilot's reason is shown; it is
 * never taken out of the plan for it. Faults are for what happens in the air.
 */
const FIRST_MS = 2000;
const MAX_MS = 60_000;

export class GroundBackoff {
  refusals = 0;
  private untilMs = 0;

  /** Notes a refusal at `nowMs`; returns how long the drone now waits (ms). */
  refuse(nowMs: number): number {
    const wait = Math.min(MAX_MS, FIRST_MS * 2 ** this.refusals);
    this.refusals++;
    this.untilMs = nowMs + wait;
    return wait;
  }

  /** The autopilot took a command: the next refusal starts from the first wait again. */
  clear(): void {
    this.refusals = 0;
    this.untilMs = 0;
  }

  waiting(nowMs: number): boolean {
    return nowMs < this.untilMs;
  }

  /** Seconds left to wait (0 when none). */
  leftS(nowMs: number): number {
    return Math.max(0, Math.ceil((this.untilMs - nowMs) / 1000));
  }
}
