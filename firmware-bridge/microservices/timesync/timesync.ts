/**
 * TIMESYNC (mavlink.io/en/services/timesync.html): we send tc1 = 0, ts1 = our time (ns); the
 * vehicle answers tc1 = its time, ts1 = our ts1. RTT = now − ts1; the vehicle's clock offset is
 * tc1 + RTT/2 − now. Offsets are smoothed with an exponential filter (MAVROS and MAVSDK do the
 * same); a sample whose RTT is far above the smoothed RTT (a queued radio) is not used.
 * Requests from the vehicle (tc1 = 0) are answered, so it can sync to us too.
 */
import { common } from 'mavlink-mappings';
import type { TimerHandle } from '../../clock.ts';
import type { MessagePort } from '../../node.ts';

export interface TimesyncEstimate {
  /** vehicle time − our time, ns. */
  offsetNs: number;
  rttMs: number;
  samples: number;
}

export class Timesync {
  private estimate: TimesyncEstimate | undefined;
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly port: MessagePort,
    private readonly opts: { periodMs?: number; alpha?: number; maxRttFactor?: number } = {},
  ) {}

  get current(): TimesyncEstimate | undefined {
    return this.estimate;
  }

  private nowNs(): bigint {
    return BigInt(Math.round(this.port.clock.now() * 1e6));
  }

  start(): void {
    this.unsubscribe = this.port.onMessage((m) => {
      if (m instanceof common.TimeSync) this.onTimesync(m);
    });
    this.request();
    this.timer = this.port.clock.setInterval(() => this.request(), this.opts.periodMs ?? 10_000);
  }

  stop(): void {
    this.port.clock.clearInterval(this.timer);
    this.unsubscribe?.();
  }

  request(): void {
    const m = new common.TimeSync();
    m.tc1 = 0n;
    m.ts1 = this.nowNs();
    m.targetSystem = this.port.target.sysid;
    m.targetComponent = this.port.target.compid;
    this.port.send(m);
  }

  private onTimesync(m: common.TimeSync): void {
    const now = this.nowNs();
    if (m.tc1 === 0n) {
      const reply = new common.TimeSync();
      reply.tc1 = now;
      reply.ts1 = m.ts1;
      reply.targetSystem = this.port.target.sysid;
      reply.targetComponent = this.port.target.compid;
      this.port.send(reply);
      return;
    }
    const rttNs = Number(now - m.ts1);
    if (rttNs < 0 || rttNs > 10e9) return; // not an answer to one of ours
    const offsetNs = Number(m.tc1 - now) + rttNs / 2;
    const prev = this.estimate;
    if (prev && rttNs / 1e6 > prev.rttMs * (this.opts.maxRttFactor ?? 3) + 50) return;
    const a = this.opts.alpha ?? 0.3;
    this.estimate = prev
      ? { offsetNs: prev.offsetNs + a * (offsetNs - prev.offsetNs), rttMs: prev.rttMs + a * (rttNs / 1e6 - prev.rttMs), samples: prev.samples + 1 }
      : { offsetNs, rttMs: rttNs / 1e6, samples: 1 };
  }
}
