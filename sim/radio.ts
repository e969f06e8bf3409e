/**
 * A SiK (3DR / HolyBro / RFD900-style) telemetry radio channel for the simulator: one ground radio
 * and several drone radios sharing a single air link, with the things a ground station actually
 * suffers from on such a link:
 *
 * - a serial rate cap: SiK moves roughly `baud / 10` bytes per second (8N1 framing) and its TDM
 *   scheme shares that air time between both directions, so the model has ONE byte budget for
 *   everything on the air, served round-robin between the ground queue and each drone's queue;
 * - finite serial buffers: bytes the host writes wait in the radio's buffer; once it is full, the
 *   radio drops what does not fit (SiK silently discards serial input it has no room for);
 * - bursty loss per air packet (a Gilbert–Elliott two-state chain per drone link), extra loss that
 *   rises smoothly as a drone approaches and passes the radio's range, and rare bit flips on the
 *   bytes that are delivered (serial noise; SiK's packet CRC does not cover the UART);
 * - RADIO_STATUS: with MAVLink framing on (SiK `MAVLINK=1`), the ground radio injects a MAVLink
 *   RADIO_STATUS (#109) from sysid 51 / compid 68 (MAV_COMP_ID_TELEMETRY_RADIO) into the stream it
 *   hands the ground station, about once a second (SiK radio/mavlink.c);
 * - a blackout fault: the air keeps running but nobody hears anything.
 *
 * Every delivery is a `clock.setTimeout`, and every random draw comes from one seeded stream in
 * timer order, so a ManualClock run is byte-identical for the same seed and the same writes.
 */
import { common } from 'mavlink-mappings';
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import { BaseLink, type Link } from '../firmware-bridge/links/link.ts';
import { encodeFrame } from '../firmware-bridge/protocol/frame.ts';
import { randomInt, seededRandom, type Random } from '../firmware-bridge/random.ts';
import type { RadioMedium } from './world.ts';

/** The system / component id SiK firmware uses for the RADIO_STATUS it injects. */
export const SIK_SYSID = 51;
/** MAV_COMP_ID_TELEMETRY_RADIO. */
export const SIK_COMPID = 68;

/**
 * Two-state bursty loss (Gilbert–Elliott) on each drone link. The chain steps once per slot of
 * air time (one full-size packet's air time, ≈44 ms at 57,600 baud), whether or not anything is
 * sent, so a fade lasts a time, not a number of packets: the long-run fraction of time in the bad
 * state is pGoodToBad / (pGoodToBad + pBadToGood) and a bad spell lasts 1 / pBadToGood slots on
 * average. On a saturated channel (one packet per slot) this is the per-packet chain.
 */
export interface GilbertElliott {
  pGoodToBad: number;
  pBadToGood: number;
  /** Loss probability of a packet sent in the good state. */
  lossGood: number;
  /** Loss probability of a packet sent in the bad state (a fade). */
  lossBad: number;
}

/** ≈1 % packet loss, in bursts of about five packets (bad ≈2 % of the time, half lost then). */
export const DEFAULT_LOSS: GilbertElliott = { pGoodToBad: 0.004, pBadToGood: 0.2, lossGood: 0.001, lossBad: 0.5 };

export interface SikRadioOptions {
  clock: Clock;
  seed: number;
  name?: string;
  /** Serial rate; the air carries at most baud / 10 bytes per second, both directions together. Default 57600. */
  baud?: number;
  /** Fixed delay from the end of a packet's air time to its delivery, ms. Default 30. */
  latencyMs?: number;
  /** Bursty per-packet loss. Default DEFAULT_LOSS (≈1 %). */
  loss?: Partial<GilbertElliott>;
  /** Probability that a delivered byte has a bit flipped. Default 1e-5. */
  byteErrorRate?: number;
  /** Distance from the ground radio to a drone's radio, m. Default: 100 m for every drone. */
  distanceM?: (sysid: number) => number;
  /** Distance at which half of the packets are lost to path loss, m. Default 2000. */
  rangeM?: number;
  /** Inject RADIO_STATUS into the ground's stream at 1 Hz. Default true. */
  radioStatus?: boolean;
  /** Serial buffer per radio, bytes (SiK has ≈2 kB each way; default 4096). */
  bufferBytes?: number;
  /** Largest air packet, bytes: queued writes are packed whole up to this (SiK: 252). */
  packetBytes?: number;
}

export interface RadioStats {
  /** Bytes written by any end while it was running. */
  bytesOffered: number;
  /** Bytes handed to receiving ends (a ground write heard by three drones counts three times). */
  bytesDelivered: number;
  /** Bytes that went on the air (each air packet once). */
  bytesOnAir: number;
  /** Air packets sent. */
  packetsSent: number;
  /** Packets lost to the Gilbert–Elliott chain, per receiver. */
  framesLostBurst: number;
  /** Packets lost to distance (path loss beyond the link margin), per receiver. */
  framesLostRange: number;
  /** Delivered bytes with a flipped bit. */
  bytesCorrupted: number;
  /** Written bytes dropped because the sending radio's buffer was full. */
  bytesDroppedOverflow: number;
  /** Bytes lost to a blackout, per receiver. */
  bytesDroppedBlackout: number;
  radioStatusSent: number;
}

/*
 * Link budget. SiK reports RSSI in raw Si1000 units: dBm ≈ raw / 1.9 − 127 (radio/radio.c; see
 * sikToDbm in firmware-bridge/vehicles/link-quality.ts). The model puts the receiver's 50 % point
 * at `rangeM` (sensitivity), free-space path loss (20 dB/decade) either side of it, and a noise
 * floor 10 dB below the sensitivity. Close in (50 m of a 2 km radio) that reads ≈ −76 dBm, raw ≈ 97,
 * which is where real SiK pairs sit at short range.
 */
const SENSITIVITY_DBM = -108;
const NOISE_FLOOR_DBM = -118;
/** Width of the loss transition around the sensitivity, dB (logistic). */
const MARGIN_SPREAD_DB = 1.5;
/** How deep a Gilbert–Elliott bad spell fades the signal, dB (shows in RSSI). */
const FADE_DB = 10;
const DEFAULT_DISTANCE_M = 100;

function dbmToSik(dbm: number): number {
  return Math.max(0, Math.min(255, Math.round((dbm + 127) * 1.9)));
}

/** A radio's serial buffer: whole writes, in order. */
class Queue {
  readonly items: Buffer[] = [];
  bytes = 0;
  push(data: Buffer): void {
    this.items.push(data);
    this.bytes += data.length;
  }
  /** Whole writes up to `max` bytes (at least one write, however long). */
  take(max: number): Buffer {
    const parts: Buffer[] = [];
    let n = 0;
    while (this.items.length > 0) {
      const next = this.items[0]!;
      if (parts.length > 0 && n + next.length > max) break;
      parts.push(next);
      n += next.length;
      this.items.shift();
    }
    this.bytes -= n;
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }
}

/** What the channel knows about one drone's link. */
interface DroneLink {
  sysid: number;
  end: RadioEnd;
  queue: Queue;
  /** Gilbert–Elliott state, and the time it was last drawn. */
  bad: boolean;
  stateAtMs: number;
  /** Clean bytes to deliver (either way) before the next bit flip. */
  cleanBytes: number;
}

/** One end of a radio: a Link whose writes go to the medium and which receives what the medium delivers. */
export class RadioEnd extends BaseLink {
  running = false;
  constructor(
    url: string,
    private readonly onWrite: (data: Buffer) => void,
  ) {
    super(url);
  }
  async start(): Promise<void> {
    this.running = true;
    this.setUp();
  }
  async stop(): Promise<void> {
    this.running = false;
    this.setDown('stopped');
  }
  write(data: Buffer): void {
    if (!this.running) return void this.stats.dropsOut++;
    this.sent(data.length);
    this.onWrite(Buffer.from(data));
  }
  receive(data: Buffer, from: string): boolean {
    if (!this.running) return false;
    this.received(data, from);
    return true;
  }
}

class GroundEnd extends RadioEnd {
  constructor(
    url: string,
    onWrite: (data: Buffer) => void,
    private readonly onRunning: (running: boolean) => void,
  ) {
    super(url, onWrite);
  }
  override async start(): Promise<void> {
    await super.start();
    this.onRunning(true);
  }
  override async stop(): Promise<void> {
    this.onRunning(false);
    await super.stop();
  }
}

export class SikRadio implements RadioMedium {
  readonly ground: Link;
  readonly drones = new Map<number, Link>();
  readonly stats: RadioStats = {
    bytesOffered: 0,
    bytesDelivered: 0,
    bytesOnAir: 0,
    packetsSent: 0,
    framesLostBurst: 0,
    framesLostRange: 0,
    bytesCorrupted: 0,
    bytesDroppedOverflow: 0,
    bytesDroppedBlackout: 0,
    radioStatusSent: 0,
  };

  readonly name: string;
  readonly bytesPerSecond: number;
  private readonly clock: Clock;
  private readonly random: Random;
  private readonly latencyMs: number;
  private readonly loss: GilbertElliott;
  private readonly byteErrorRate: number;
  private readonly distanceM: (sysid: number) => number;
  private readonly rangeM: number;
  private readonly radioStatus: boolean;
  private readonly bufferBytes: number;
  private readonly packetBytes: number;
  /** One full-size packet's air time: the Gilbert–Elliott step. */
  private readonly slotMs: number;

  private readonly groundEnd: GroundEnd;
  private readonly groundQueue = new Queue();
  private readonly links: DroneLink[] = [];
  /** Round-robin position over [ground, ...links]: the TDM share of the air. */
  private turn = 0;
  /** When the air is next free, ms on the clock's time line. */
  private airFreeAt = -Infinity;
  private pump: TimerHandle | undefined;
  private statusTimer: TimerHandle | undefined;
  private blackout = false;
  private statusSeq = 0;
  /** RSSI sums over the current RADIO_STATUS period (raw units). */
  private heardByGround = { sum: 0, n: 0 };
  private heardByDrones = { sum: 0, n: 0 };
  /** SiK's rxerrors counter (uint16, wraps): packets the ground radio failed to receive. */
  private rxErrors = 0;

  constructor(opts: SikRadioOptions) {
    this.clock = opts.clock;
    this.random = seededRandom(opts.seed);
    this.name = opts.name ?? 'radio';
    this.bytesPerSecond = (opts.baud ?? 57600) / 10;
    this.latencyMs = opts.latencyMs ?? 30;
    this.loss = { ...DEFAULT_LOSS, ...opts.loss };
    this.byteErrorRate = opts.byteErrorRate ?? 1e-5;
    this.distanceM = opts.distanceM ?? (() => DEFAULT_DISTANCE_M);
    this.rangeM = opts.rangeM ?? 2000;
    this.radioStatus = opts.radioStatus ?? true;
    this.bufferBytes = opts.bufferBytes ?? 4096;
    this.packetBytes = opts.packetBytes ?? 252;
    this.slotMs = (this.packetBytes * 1000) / this.bytesPerSecond;
    this.groundEnd = new GroundEnd(
      `sik:${this.name}-ground`,
      (data) => this.offer(this.groundQueue, data),
      (running) => this.groundRunning(running),
    );
    this.ground = this.groundEnd;
  }

  attach(sysid: number): Link {
    const existing = this.links.findIndex((l) => l.sysid === sysid);
    const queue = new Queue();
    const end = new RadioEnd(`sik:${this.name}-${sysid}`, (data) => this.offer(queue, data));
    const link: DroneLink = { sysid, end, queue, bad: false, stateAtMs: this.clock.now(), cleanBytes: this.nextCleanRun() };
    if (existing >= 0) this.links[existing] = link;
    else this.links.push(link);
    this.drones.set(sysid, end);
    return end;
  }

  /** Radio blackout fault: while on, packets still use the air but nobody receives them. */
  setBlackout(on: boolean): void {
    this.blackout = on;
  }

  get blackedOut(): boolean {
    return this.blackout;
  }

  /** Bytes waiting in the ground radio's serial buffer. */
  get groundQueued(): number {
    return this.groundQueue.bytes;
  }

  /** The received signal for a drone at its current distance, dBm (before fades). */
  signalDbm(sysid: number): number {
    const d = Math.max(1, this.distanceM(sysid));
    return SENSITIVITY_DBM + 20 * Math.log10(this.rangeM / d);
  }

  /** Probability that a packet is lost to path loss alone at this drone's distance. */
  rangeLoss(sysid: number): number {
    const margin = this.signalDbm(sysid) - SENSITIVITY_DBM;
    return 1 / (1 + Math.exp(margin / MARGIN_SPREAD_DB));
  }

  // --- serial side -------------------------------------------------------------------------

  private offer(queue: Queue, data: Buffer): void {
    this.stats.bytesOffered += data.length;
    if (queue.bytes + data.length > this.bufferBytes) {
      // SiK discards serial input it has no buffer space for.
      this.stats.bytesDroppedOverflow += data.length;
      return;
    }
    queue.push(data);
    this.kick();
  }

  /** Makes sure a transmission is scheduled for when the air is next free. */
  private kick(): void {
    if (this.pump) return;
    const wait = Math.max(0, this.airFreeAt - this.clock.now());
    this.pump = this.clock.setTimeout(() => {
      this.pump = undefined;
      this.transmit();
    }, wait);
  }

  // --- air side ----------------------------------------------------------------------------

  /** Next queue in TDM order with something to send: 0 is the ground, i + 1 is links[i]. */
  private nextSender(): number | undefined {
    const slots = this.links.length + 1;
    for (let k = 0; k < slots; k++) {
      const slot = (this.turn + k) % slots;
      const q = slot === 0 ? this.groundQueue : this.links[slot - 1]!.queue;
      if (q.bytes > 0) {
        this.turn = (slot + 1) % slots;
        return slot;
      }
    }
    return undefined;
  }

  private transmit(): void {
    const slot = this.nextSender();
    if (slot === undefined) return;
    const fromGround = slot === 0;
    const sender = fromGround ? undefined : this.links[slot - 1]!;
    const packet = fromGround ? this.groundQueue.take(this.packetBytes) : sender!.queue.take(this.packetBytes);
    const now = this.clock.now();
    const start = Math.max(now, this.airFreeAt);
    this.airFreeAt = start + (packet.length * 1000) / this.bytesPerSecond;
    this.stats.packetsSent++;
    this.stats.bytesOnAir += packet.length;
    const deliverIn = this.airFreeAt - now + this.latencyMs;

    if (fromGround) {
      // One transmitter, every drone radio listening: each hears (or misses) it on its own.
      for (const link of this.links) {
        if (!link.end.running) continue;
        const rssi = this.hear(link, packet.length, false);
        if (rssi === undefined) continue;
        this.heardByDrones.sum += rssi;
        this.heardByDrones.n++;
        const copy = Buffer.from(packet);
        this.clock.setTimeout(() => this.deliver(link, link.end, copy, 'ground'), deliverIn);
      }
    } else {
      const link = sender!;
      const rssi = this.hear(link, packet.length, true);
      if (rssi !== undefined) {
        this.heardByGround.sum += rssi;
        this.heardByGround.n++;
        const copy = Buffer.from(packet);
        this.clock.setTimeout(() => this.deliver(link, this.groundEnd, copy, this.groundPeer), deliverIn);
      }
    }
    if (this.groundQueue.bytes > 0 || this.links.some((l) => l.queue.bytes > 0)) this.kick();
  }

  /**
   * Decides whether one receiver hears a packet: steps the link's Gilbert–Elliott chain, then
   * draws path loss. Returns the packet's RSSI (raw SiK units) or undefined when it is lost.
   */
  private hear(link: DroneLink, bytes: number, atGround: boolean): number | undefined {
    if (this.blackout) {
      this.stats.bytesDroppedBlackout += bytes;
      if (atGround) this.rxErrors++;
      return undefined;
    }
    const ge = this.loss;
    // The chain after n slots (closed form of the 2×2 transition matrix to the n-th power):
    // P(bad) = π + (P0(bad) − π)·(1 − pGB − pBG)^n, π = pGB / (pGB + pBG).
    const now = this.clock.now();
    const slots = (now - link.stateAtMs) / this.slotMs;
    link.stateAtMs = now;
    const pi = ge.pGoodToBad / (ge.pGoodToBad + ge.pBadToGood || 1);
    const memory = Math.max(0, 1 - ge.pGoodToBad - ge.pBadToGood) ** Math.max(slots, 1);
    link.bad = this.random() < pi + ((link.bad ? 1 : 0) - pi) * memory;
    const inBad = link.bad;
    const lostBurst = this.random() < (inBad ? ge.lossBad : ge.lossGood);
    const lostRange = this.random() < this.rangeLoss(link.sysid);
    const jitterDb = (this.random() - 0.5) * 3;
    if (lostBurst || lostRange) {
      if (lostBurst) this.stats.framesLostBurst++;
      else this.stats.framesLostRange++;
      if (atGround) this.rxErrors++;
      return undefined;
    }
    return dbmToSik(this.signalDbm(link.sysid) - (inBad ? FADE_DB : 0) + jitterDb);
  }

  private deliver(link: DroneLink, to: RadioEnd, data: Buffer, from: string): void {
    if (this.blackout) {
      this.stats.bytesDroppedBlackout += data.length;
      return;
    }
    this.corrupt(link, data);
    if (to.receive(data, from)) this.stats.bytesDelivered += data.length;
  }

  /** Flips one bit in each byte chosen by a geometric run length (one draw per error, not per byte). */
  private corrupt(link: DroneLink, data: Buffer): void {
    let i = 0;
    for (;;) {
      const left = data.length - i;
      if (link.cleanBytes >= left) {
        link.cleanBytes -= left;
        return;
      }
      i += link.cleanBytes;
      data[i] = data[i]! ^ (1 << randomInt(this.random, 8));
      this.stats.bytesCorrupted++;
      i++;
      link.cleanBytes = this.nextCleanRun();
    }
  }

  private nextCleanRun(): number {
    const p = this.byteErrorRate;
    if (p <= 0) return Infinity;
    if (p >= 1) return 0;
    return Math.floor(Math.log(1 - this.random()) / Math.log(1 - p));
  }

  // --- RADIO_STATUS ------------------------------------------------------------------------

  /** The ground radio's serial port is one byte stream, so everything it hands over has one peer. */
  private get groundPeer(): string {
    return `sik:${this.name}`;
  }

  private groundRunning(running: boolean): void {
    if (running && this.radioStatus && !this.statusTimer) {
      this.statusTimer = this.clock.setInterval(() => this.sendStatus(), 1000);
    } else if (!running && this.statusTimer) {
      this.clock.clearInterval(this.statusTimer);
      this.statusTimer = undefined;
    }
  }

  /**
   * What SiK's radio/mavlink.c reports: rssi / noise are the local radio's averaged packet RSSI and
   * noise floor, remrssi / remnoise the remote radio's (carried back in-band; with several drone
   * radios, their average), txbuf the percentage of the local serial buffer still free (GCSs use it
   * for flow control), rxerrors the count of packets that failed to arrive, fixed the count of
   * packets repaired by ECC (0: SiK ships with ECC off and the model has none).
   */
  private sendStatus(): void {
    const noise = () => dbmToSik(NOISE_FLOOR_DBM + (this.random() - 0.5) * 2);
    const m = new common.RadioStatus();
    m.noise = noise();
    m.remnoise = this.heardByDrones.n > 0 ? noise() : 0;
    // Nothing heard this period: the local receiver reads only the noise floor.
    m.rssi = this.heardByGround.n > 0 ? Math.round(this.heardByGround.sum / this.heardByGround.n) : m.noise;
    m.remrssi = this.heardByDrones.n > 0 ? Math.round(this.heardByDrones.sum / this.heardByDrones.n) : 0;
    m.txbuf = Math.max(0, Math.min(100, Math.round(100 * (1 - this.groundQueue.bytes / this.bufferBytes))));
    m.rxerrors = this.rxErrors & 0xffff;
    m.fixed = 0;
    this.heardByGround = { sum: 0, n: 0 };
    this.heardByDrones = { sum: 0, n: 0 };
    const frame = encodeFrame(m, { sysid: SIK_SYSID, compid: SIK_COMPID, seq: this.statusSeq++ & 0xff });
    // The local radio talks to its own serial port: no air, no loss, even in a blackout.
    if (this.groundEnd.receive(frame, this.groundPeer)) this.stats.radioStatusSent++;
  }
}

export function sikRadio(opts: SikRadioOptions): SikRadio {
  return new SikRadio(opts);
}
