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
 *   interval (-1), so the ground station ends up receiving only what it asked for;
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
 * HEARTBEAT, PARAM_VALUE, MISSION_*, COMMAND_*, STATUSTEXT, TIMESYNC, AUTOPILOT_VERSION, FTP, LOG_*,
 * PX4's events (EVENT, CURRENT_EVENT_SEQUENCE, RESPONSE_EVENT_ERROR), PROTOCOL_VERSION, SERIAL_CONTROL.
 */
const NOT_STREAMS: ReadonlySet<number> = new Set([0, 4, 22, 39, 40, 44, 46, 47, 51, 73, 75, 76, 77, 109, 110, 111, 118, 120, 126, 148, 253, 256, 300, 322, 395, 397, 410, 411, 413]);

export interface StreamKeeperOptions {
  /** What the ground station reads, message id → Hz (0: off); each vehicle's flavour adds and swaps (autopilots/). */
  rates: Readonly<Record<number, number>>;
  /** Position silent this long while HEARTBEATs come: ask again. Default 5 s. */
  staleMs?: number;
  /** Measuring window for the received rates. Default 10 s. */
  windowMs?: number;
  /** A message unasked for this often in the window is switched off. Default 3. */
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
  /** Unasked message ids: count in the window, and those already switched off. */
  unasked: Map<number, number>;
  switchedOff: Set<number>;
}

const MAX_BACKOFF_MS = 60_000;

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
    this.unwantedAfter = opts.unwantedAfter ?? 3;
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
      switchedOff: [...w.switchedOff].sort((a, b) => a - b),
    };
  }

  private watch(v: Vehicle): Watch {
    let w = this.watches.get(v);
    if (!w) {
      w = { frames: new Array(this.buckets).fill(0), bytes: new Array(this.buckets).fill(0), bucketAt: Math.floor(this.node.clock.now() / 1000), asking: false, again: undefined, askedAt: -Infinity, backoffMs: this.staleMs, requests: 0, unasked: new Map(), switchedOff: new Set() };
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
    if (second - w.bucketAt >= this.buckets) w.unasked.clear();
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
    if (f.compid !== v.compid || NOT_STREAMS.has(f.msgid) || w.switchedOff.has(f.msgid)) return;
    const asked = this.ratesFor(v)[f.msgid];
    if (asked !== undefined && asked > 0) return;
    w.unasked.set(f.msgid, (w.unasked.get(f.msgid) ?? 0) + 1);
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
    // A reboot forgets what was switched off as well.
    if (why === 'rebooted' || why === 'heard again') w.switchedOff.clear();
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
    for (const [id, hz] of Object.entries(this.ratesFor(v))) {
      const r = await client.setRate(Number(id), hz);
      if (!r.ok) failed.push(Number(id));
    }
    this.log.info(`drone ${v.sysid}: telemetry requested`, { why, refused: failed.length ? failed : undefined });
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
      const unwanted = [...w.unasked].filter(([, n]) => n >= this.unwantedAfter).map(([id]) => id);
      if (unwanted.length) void this.switchOff(v, w, unwanted);
    }
  }

  private async switchOff(v: Vehicle, w: Watch, ids: number[]): Promise<void> {
    for (const id of ids) {
      w.switchedOff.add(id);
      w.unasked.delete(id);
    }
    this.log.info(`drone ${v.sysid}: switching off telemetry nobody asked for`, { messages: ids });
    const client = new IntervalClient(v.port, { timeoutMs: 1500, retries: 1 });
    for (const id of ids) await client.setRate(id, 0, { fallback: false });
  }
}
