/**
 * Telemetry on request. Stock firmware streams little or nothing until a ground station asks
 * (ArduCopter's stream-rate defaults are 0), or far more than a shared radio carries (stream groups
 * a GCS once saved come back at every boot; PX4's GCS link streams its "normal" set). So, for
 * every vehicle:
 * - as soon as its HEARTBEAT is seen, and again after a reboot (its time since boot goes back),
 *   after its link was lost, and when HEARTBEATs come but the telemetry has stopped, the keeper
 *   asks for what the ground station reads (mavlink.io telemetry.html: SET_MESSAGE_INTERVAL,
 *   falling back to REQUEST_DATA_STREAM where the firmware refuses it — IntervalClient), after
 *   switching saved stream groups off where the firmware has them (REQUEST_DATA_STREAM(ALL, stop));
 * - any message the vehicle keeps streaming that nobody asked for is switched off by its own
 *   interval (-1), and one that comes at more than twice its asked rate is asked again, so the
 *   ground station ends up receiving only what it asked for; a request lost on the radio (no
 *   COMMAND_ACK) is sent again later, never replaced by a whole REQUEST_DATA_STREAM group. A
 *   message streams when it comes at a steady pace: an answer (PARAM_ERROR to a PARAM_REQUEST_READ
 *   and its retries) or an event (GPS_GLOBAL_ORIGIN when the origin is set, and again at arming)
 *   is not switched off, and a switch-off the firmware refuses (ArduPilot: DENIED for an id it has
 *   no ap_message for) is not sent again: the recorded ArduCopter 4.8 answered each of those with
 *   a "No ap_message for mavlink id" STATUSTEXT;
 * - what arrives from it is measured (frames/s and bytes/s over a sliding window).
 */
import { EventEmitter } from 'node:events';
import { common } from 'mavlink-mappings';
import type { Channel } from '../channel.ts';
import type { TimerHandle } from '../clock.ts';
import { silentLogger, type Logger } from '../log.ts';
import { IntervalClient } from '../microservices/interval/interval.ts';
import type { MavlinkNode } from '../node.ts';
import type { Frame } from '../protocol/frame.ts';
import type { VehicleManager } from './manager.ts';
import type { Vehicle } from './vehicle.ts';

/**
 * Messages that answer a request or report an event rather than stream: never switched off.
 * HEARTBEAT, PARAM_VALUE, PARAM_ERROR, MISSION_*, COMMAND_*, STATUSTEXT, TIMESYNC, AUTOPILOT_VERSION,
 * FTP, LOG_*, PX4's events (EVENT, CURRENT_EVENT_SEQUENCE, RESPONSE_EVENT_ERROR), PROTOCOL_VERSION,
 * SERIAL_CONTROL.
 */
const NOT_STREAMS: ReadonlySet<number> = new Set([0, 4, 22, 39, 40, 44, 46, 47, 51, 73, 75, 76, 77, 109, 110, 111, 118, 120, 126, 148, 253, 256, 300, 322, 345, 395, 397, 410, 411, 413]);

/**
 * A message unasked for is a stream when its last two gaps agree within this factor (a stream
 * comes at its interval; a lost frame doubles one gap) and neither is longer than STREAM_MAX_GAP_MS
 * (slower than that, a message costs the radio less than the command that would stop it).
 */
const STEADY_FACTOR = 2;
const STREAM_MAX_GAP_MS = 10_000;

export interface StreamKeeperOptions {
  /** What the ground station reads, message id → Hz (0: off); each vehicle's flavour adds and swaps (autopilots/). */
  rates: Readonly<Record<number, number>>;
  /** Position silent this long while HEARTBEATs come: ask again. Default 5 s. */
  staleMs?: number;
  /** Measuring window for the received rates. Default 10 s. */
  windowMs?: number;
  /** A message unasked for, seen this often since the request, is switched off. Default 2. */
  unwantedAfter?: number;
  log?: Logger;
}

export interface StreamStats {
  framesPerS: number;
  bytesPerS: number;
  /** Times the telemetry was asked for (discovery, reboots, stopped telemetry). */
  requests: number;
  /** Message ids it streamed unasked that were switched off. */
  switchedOff: number[];
}

export interface StreamKeeperEvents {
  /** Telemetry was asked for; `failed` message ids were refused. */
  requested: [vehicle: Vehicle, why: string, failed: number[]];
}

interface Watch {
  /** Frames and bytes per second, one bucket a second over the window. */
  frames: number[];
  bytes: number[];
  bucketAt: number;
  asking: boolean;
  /** Ask again once the request under way is done. */
  again: string | undefined;
  askedAt: number;
  /** Stopped telemetry is asked for again after this long, doubling to a minute. */
  backoffMs: number;
  requests: number;
  /** Frames per message id since the last request, with when each was first seen, and whether its last gaps were steady (a stream's). */
  perMessage: Map<number, { n: number; sinceMs: number; lastMs: number; gapMs?: number; steady: boolean }>;
  /**
   * Rates set again since the last request (0: switched off), with when and how often, and the
   * count at that time: a COMMAND_ACK names only the command, so a late ACK of another request can
   * answer this one; what the vehicle then sends says whether it took.
   */
  fixes: Map<number, { hz: number; atMs: number; tries: number; nAt: number }>;
  /** Message ids whose switch-off the firmware refused since the last request: not asked again. */
  refused: Set<number>;
  /** Message ids whose request got no answer: asked again at `retryAt`. */
  unanswered: number[];
  retryAt: number;
}

const MAX_BACKOFF_MS = 60_000;
/** A rate set again is checked this long after, and set at most FIX_TRIES times a request. */
const FIX_CHECK_MS = 3000;
const FIX_TRIES = 3;

export class StreamKeeper extends EventEmitter<StreamKeeperEvents> {
  private readonly watches = new Map<Vehicle, Watch>();
  private readonly staleMs: number;
  private readonly buckets: number;
  private readonly unwantedAfter: number;
  private readonly log: Logger;
  private timer: TimerHandle | undefined;
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly node: MavlinkNode,
    private readonly vehicles: VehicleManager,
    private readonly opts: StreamKeeperOptions,
  ) {
    super();
    this.staleMs = opts.staleMs ?? 5000;
    this.buckets = Math.max(1, Math.round((opts.windowMs ?? 10_000) / 1000));
    this.unwantedAfter = opts.unwantedAfter ?? 2;
    this.log = (opts.log ?? silentLogger).child('streams');
  }

  start(): void {
    const found = (v: Vehicle) => this.ask(v, 'found');
    const heard = (v: Vehicle) => this.ask(v, 'heard again');
    const rebooted = (v: Vehicle) => this.ask(v, 'rebooted');
    this.vehicles.on('vehicle-added', found);
    this.vehicles.on('vehicle-alive', heard);
    this.vehicles.on('vehicle-rebooted', rebooted);
    this.offs.push(() => {
      this.vehicles.off('vehicle-added', found);
      this.vehicles.off('vehicle-alive', heard);
      this.vehicles.off('vehicle-rebooted', rebooted);
    });
    const onFrame = (f: Frame, ch: Channel) => this.count(f, ch);
    this.node.on('frame', onFrame);
    this.offs.push(() => this.node.off('frame', onFrame));
    this.timer = this.node.clock.setInterval(() => this.check(), 1000);
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
    this.node.clock.clearInterval(this.timer);
  }

  /** What the ground station asks of this vehicle (its flavour's version of the rates). */
  ratesFor(v: Vehicle): Record<number, number> {
    return v.flavour.telemetry(this.opts.rates);
  }

  stats(v: Vehicle): StreamStats | undefined {
    const w = this.watches.get(v);
    if (!w) return undefined;
    this.roll(w, this.node.clock.now());
    const seconds = this.buckets;
    return {
      framesPerS: w.frames.reduce((a, b) => a + b, 0) / seconds,
      bytesPerS: w.bytes.reduce((a, b) => a + b, 0) / seconds,
      requests: w.requests,
      switchedOff: [...w.fixes].filter(([, f]) => f.hz === 0).map(([id]) => id).sort((a, b) => a - b),
    };
  }

  private watch(v: Vehicle): Watch {
    let w = this.watches.get(v);
    if (!w) {
      w = { frames: new Array(this.buckets).fill(0), bytes: new Array(this.buckets).fill(0), bucketAt: Math.floor(this.node.clock.now() / 1000), asking: false, again: undefined, askedAt: -Infinity, backoffMs: this.staleMs, requests: 0, perMessage: new Map(), fixes: new Map(), refused: new Set(), unanswered: [], retryAt: Infinity };
      this.watches.set(v, w);
    }
    return w;
  }

  /** Moves the window to now: buckets of seconds that passed are emptied. */
  private roll(w: Watch, now: number): void {
    const second = Math.floor(now / 1000);
    const steps = Math.min(this.buckets, second - w.bucketAt);
    for (let i = 1; i <= steps; i++) {
      const b = (w.bucketAt + i) % this.buckets;
      w.frames[b] = 0;
      w.bytes[b] = 0;
    }
    w.bucketAt = Math.max(w.bucketAt, second);
  }

  private count(f: Frame, ch: Channel): void {
    const v = this.vehicles.bySysid(f.sysid);
    if (!v || v.channel !== ch) return;
    const w = this.watch(v);
    this.roll(w, this.node.clock.now());
    const b = w.bucketAt % this.buckets;
    w.frames[b]!++;
    w.bytes[b]! += f.raw.length;
    if (f.compid !== v.compid || NOT_STREAMS.has(f.msgid)) return;
    const now = this.node.clock.now();
    const seen = w.perMessage.get(f.msgid);
    if (seen) {
      const gap = now - seen.lastMs;
      seen.steady = seen.gapMs !== undefined && Math.max(gap, seen.gapMs) <= STREAM_MAX_GAP_MS && gap <= STEADY_FACTOR * seen.gapMs && seen.gapMs <= STEADY_FACTOR * gap;
      seen.gapMs = gap;
      seen.n++;
      seen.lastMs = now;
    } else w.perMessage.set(f.msgid, { n: 1, sinceMs: now, lastMs: now, steady: false });
  }

  /** Asks for the vehicle's telemetry (once at a time; a second reason waits for the first to end). */
  ask(v: Vehicle, why: string): void {
    const w = this.watch(v);
    if (w.asking) {
      w.again = why;
      return;
    }
    w.asking = true;
    w.askedAt = this.node.clock.now();
    w.requests++;
    // A fresh request sets every rate again; what was switched off, corrected or refused is judged anew.
    w.fixes.clear();
    w.refused.clear();
    void this.request(v, why).finally(() => {
      w.asking = false;
      const again = w.again;
      w.again = undefined;
      if (again) this.ask(v, again);
    });
  }

  private async request(v: Vehicle, why: string): Promise<void> {
    const client = new IntervalClient(v.port, { timeoutMs: 1500, retries: 2 });
    // Saved stream groups first: stopping them also resets the intervals of their messages (ArduPilot).
    if (v.flavour.stopsDataStreams) client.requestDataStream(common.MavDataStream.ALL, 0);
    const failed: number[] = [];
    const unanswered: number[] = [];
    for (const [id, hz] of Object.entries(this.ratesFor(v))) {
      // Falls back to a REQUEST_DATA_STREAM group only where the firmware says it lacks the command.
      const r = await client.setRate(Number(id), hz, { fallback: 'unsupported' });
      if (!r.ok) (r.reason === 'timeout' ? unanswered : failed).push(Number(id));
    }
    const w = this.watch(v);
    // What streams is judged from here on: frames from before the request say nothing of it.
    w.perMessage.clear();
    w.askedAt = this.node.clock.now();
    w.unanswered = unanswered;
    w.retryAt = unanswered.length ? this.node.clock.now() + this.staleMs : Infinity;
    this.log.info(`drone ${v.sysid}: telemetry requested`, { why, refused: failed.length ? failed : undefined, unanswered: unanswered.length ? unanswered : undefined });
    this.emit('requested', v, why, failed);
  }

  private check(): void {
    const now = this.node.clock.now();
    for (const v of this.vehicles.list()) {
      if (!v.alive) continue;
      const w = this.watch(v);
      this.roll(w, now);
      if (w.asking) continue;
      // HEARTBEATs but no position: the telemetry stopped (or never came); ask again, less and less often.
      const since = Math.max(v.lastPositionMs ?? -Infinity, w.askedAt);
      if (now - since > w.backoffMs) {
        this.log.warn(`drone ${v.sysid}: no telemetry for ${Math.round((now - (v.lastPositionMs ?? w.askedAt)) / 1000)} s: asking again`);
        w.backoffMs = Math.min(MAX_BACKOFF_MS, w.backoffMs * 2);
        this.ask(v, 'telemetry stopped');
        continue;
      }
      if (v.lastPositionMs !== undefined && now - v.lastPositionMs < this.staleMs) w.backoffMs = this.staleMs;
      this.correct(v, w, now);
    }
  }

  /**
   * What the vehicle sends against what was asked, since the request: a message nobody asked for
   * (seen `unwantedAfter` times, at a stream's steady pace) is switched off, one at more than twice its rate (and a frame) or
   * missing for three of its intervals (and staleMs) is set again, and requests that got no answer
   * are sent again. A fix that did not take (the
   * message still comes FIX_CHECK_MS later) is sent again, at most FIX_TRIES times a request.
   */
  private correct(v: Vehicle, w: Watch, now: number): void {
    const rates = this.ratesFor(v);
    const fix = new Map<number, number>();
    for (const [id, seen] of w.perMessage) {
      const asked = rates[id] ?? 0;
      const done = w.fixes.get(id);
      if (done) {
        const since = seen.n - done.nAt;
        const wrong = done.hz === 0 ? since >= this.unwantedAfter : since > (2 * done.hz * (now - done.atMs)) / 1000 + 1;
        if (wrong && now - done.atMs >= FIX_CHECK_MS && done.tries < FIX_TRIES) fix.set(id, done.hz);
        continue;
      }
      const spanS = (now - seen.sinceMs) / 1000;
      if (asked <= 0 && seen.n >= this.unwantedAfter && seen.steady && !w.refused.has(id)) fix.set(id, 0);
      else if (asked > 0 && spanS >= this.buckets && seen.n > 2 * asked * spanS + 1) fix.set(id, asked);
    }
    for (const [idText, hz] of Object.entries(rates)) {
      const id = Number(idText);
      if (hz <= 0 || fix.has(id)) continue;
      const last = w.perMessage.get(id)?.lastMs ?? w.askedAt;
      const done = w.fixes.get(id);
      if (now - last > Math.max(3000 / hz, this.staleMs) && (!done || (now - done.atMs >= Math.max(3000 / hz, this.staleMs) && done.tries < FIX_TRIES))) fix.set(id, hz);
    }
    if (now >= w.retryAt) {
      for (const id of w.unanswered) fix.set(id, rates[id] ?? 0);
      w.unanswered = [];
      w.retryAt = Infinity;
    }
    for (const [id, hz] of fix) {
      const was = w.fixes.get(id);
      w.fixes.set(id, { hz, atMs: now, tries: (was?.tries ?? 0) + 1, nAt: w.perMessage.get(id)?.n ?? 0 });
    }
    if (fix.size) void this.setRates(v, fix);
  }

  private async setRates(v: Vehicle, rates: Map<number, number>): Promise<void> {
    const off = [...rates].filter(([, hz]) => hz === 0).map(([id]) => id);
    const set = [...rates].filter(([, hz]) => hz > 0).map(([id]) => id);
    this.log.info(`drone ${v.sysid}: telemetry corrected`, { off: off.length ? off : undefined, set: set.length ? set : undefined });
    const client = new IntervalClient(v.port, { timeoutMs: 1500, retries: 1 });
    const w = this.watch(v);
    // 'never': stopping one message must not stop the others of its REQUEST_DATA_STREAM group.
    for (const [id, hz] of rates) {
      const r = await client.setRate(id, hz, { fallback: 'never' });
      // The firmware cannot stop it (ArduPilot: no ap_message for the id; PX4: a message it always
      // sends): asking again would only draw the same refusal.
      if (!r.ok && r.reason === 'denied' && hz === 0) {
        w.refused.add(id);
        w.fixes.delete(id);
        this.log.info(`drone ${v.sysid}: message ${id} cannot be switched off`, { detail: r.detail });
      }
    }
  }
}
