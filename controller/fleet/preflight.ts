/**
 * Preflight: the swarm-safe failsafe actions written before a drone may fly. Stock defaults
 * (ArduCopter: RTL on GCS loss and on a low battery; PX4: RTL on data-link loss) send every drone
 * of a net straight home at the net's altitude at once, on paths that cross; landing descends
 * vertically from the station, where the lattice already keeps drones `spacingM` apart. The
 * parameters are the drone's flavour's (autopilots/), looked up by the names its firmware uses and
 * written in its own type and encoding. A write that fails leaves the drone on its pad with the
 * reason shown, and is tried again after a while (5 s, or a minute for a refused value, growing to ten), not in a loop.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import type { Logger } from '../../firmware-bridge/log.ts';
import { ParamClient } from '../../firmware-bridge/microservices/param/param.ts';
import type { Vehicle } from '../../firmware-bridge/vehicles/index.ts';

/** A drone's failsafe parameters: not yet (error: why the last write failed), being written, written. */
export interface PreflightStatus {
  readonly state: 'no' | 'pending' | 'yes';
  readonly error?: string;
}

/** The failsafe parameters of one drone. */
export class Preflight implements PreflightStatus {
  state: PreflightStatus['state'] = 'no';
  error?: string;
  private retryAtMs?: number;
  /** How long the last failed write waited before its retry (the next waits twice as long). */
  private waitMs?: number;

  constructor(
    private readonly v: Vehicle,
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {}

  /** Writes the parameters (unless a failed write is still waiting to be tried again). */
  write(nowMs: number): void {
    if (this.retryAtMs !== undefined && nowMs < this.retryAtMs) return;
    this.state = 'pending';
    const v = this.v;
    const params = new ParamClient(v.port, { timeoutMs: 1500, retries: 3, encoding: v.flavour.paramEncoding });
    void (async () => {
      for (const spec of v.flavour.swarmFailsafes()) {
        const r = await params.ensure(spec);
        if (!r.ok) {
          const waitMs = (this.waitMs = nextRetryWaitMs(this.waitMs, r.reason));
          this.error = `failsafe not set: ${r.detail}`;
          this.retryAtMs = this.clock.now() + waitMs;
          this.state = 'no';
          this.log.warn(`drone d${v.sysid}: ${spec.names[0]} not set (${spec.means}); it stays on its pad`, { reason: r.reason, detail: r.detail, retryInS: waitMs / 1000 });
          return;
        }
        if (r.changed) this.log.info(`drone d${v.sysid}: ${r.name} = ${spec.value} (${spec.means})`);
      }
      this.error = undefined;
      this.retryAtMs = undefined;
      this.waitMs = undefined;
      this.state = 'yes';
    })();
  }

  /** Its autopilot rebooted: the parameters survive in its storage, but are read (and written if need be) again. */
  reset(): void {
    this.state = 'no';
    this.error = undefined;
    this.retryAtMs = undefined;
    this.waitMs = undefined;
  }
}

/**
 * The wait before a failed failsafe write is tried again, doubling to ten minutes: from 5 s when
 * the autopilot gave no answer (a timeout, or no echo for any of the names, which is also what a
 * booting PX4 gives: it will answer), from a minute when it refused the value (someone has to
 * look). Before, the second wait was
 * computed from the first retry's time, which had passed: negative, so every tick wrote the
 * parameters again, a PARAM_SET storm on a shared radio.
 */
export function nextRetryWaitMs(previousMs: number | undefined, reason: 'timeout' | 'absent' | 'rejected'): number {
  const first = reason === 'rejected' ? 60_000 : 5_000;
  return previousMs === undefined ? first : Math.min(10 * 60_000, Math.max(first, 2 * previousMs));
}
