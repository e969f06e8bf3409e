/**
 * A simulated Victron MPPT charge controller (SmartSolar 100/20 class) on a VE.Direct port: once a
 * second it writes a text-protocol block (hardware/vedirect.ts encodes it) computed from a small
 * model of a panel and a 12 V battery:
 *
 * - the panel gives `irradiance / 1000 × panelWp × performance` watts at its maximum power point
 *   (Vmp scales with the cell count, a little lower in weak light; Voc when nothing is drawn);
 * - the charger is off below 1 W of panel power (CS 0, VPV the open-circuit voltage), in bulk (CS 3,
 *   MPPT 2) taking all the panel gives up to its current limit, in absorption (CS 4) at the
 *   absorption voltage taking what the battery accepts, then in float (CS 5, MPPT 1);
 * - the battery is charged by the controller and discharged by a constant station load, its
 *   voltage following state of charge and current;
 * - yields count in 0.01 kWh as the device does (H19 total, H20 today, H21 max power today, H22/H23
 *   yesterday) and roll over at midnight UTC (HSDS counts days).
 *
 * Options corrupt bytes (a noisy cable) and interleave HEX-protocol frames, so the reader's
 * checksum and resynchronisation are exercised over a real serial path. SimBmv below is the
 * station battery's monitor (a BMV-700).
 */
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { seededRandom, type Random } from '../firmware-bridge/random.ts';
import { encodeVeDirectBlock } from '../hardware/vedirect.ts';

export interface SimMpptOptions {
  clock: Clock;
  /** Irradiance on the panel now, W/m². */
  irradiance: () => number;
  /** Rated panel power at 1000 W/m², W. Default 400. */
  panelWp?: number;
  /** Share of the rated power delivered (heat, wiring, soiling). Default 0.85. */
  performance?: number;
  /** Battery capacity, Wh (12 V). Default 1200. */
  batteryWh?: number;
  initialSoc?: number;
  /** Station load on the battery, W. Default 8. */
  loadW?: () => number;
  /** Charger output limit, A. Default 20. */
  maxChargeA?: number;
  /** Probability that a written byte has one bit flipped. Default 0. */
  byteErrorRate?: number;
  /** Write a HEX-protocol frame after every n-th block (0: never). Default 0. */
  hexEvery?: number;
  seed?: number;
  /** Block interval, ms. Default 1000 (the protocol's). */
  intervalMs?: number;
  productId?: string;
  serial?: string;
  firmware?: string;
}

const ABSORPTION_V = 14.4;
const FLOAT_V = 13.8;
const VMP_STC = 36.5;
const VOC = 44;

export class SimMppt {
  soc: number;
  state = 0;
  /** Energy into the battery: today and in total, Wh (the H fields floor these to 10 Wh). */
  todayWh = 0;
  totalWh = 0;
  yesterdayWh = 0;
  maxTodayW = 0;
  maxYesterdayW = 0;
  day = 0;
  blocksSent = 0;
  /** What the last block carried. */
  last = { batteryV: 12.8, batteryA: 0, solarV: 0, solarW: 0 };
  private timer: TimerHandle | undefined;
  private lastMs: number;
  private readonly random: Random;
  private absorptionS = 0;

  constructor(
    private readonly opts: SimMpptOptions,
    private readonly write: (data: Buffer) => void,
  ) {
    this.soc = opts.initialSoc ?? 0.6;
    this.lastMs = opts.clock.now();
    this.random = seededRandom(opts.seed ?? 1);
    this.day = Math.floor(this.lastMs / 86_400_000);
  }

  start(): void {
    this.timer = this.opts.clock.setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
  }

  stop(): void {
    this.opts.clock.clearInterval(this.timer);
  }

  /** Advances the model to now and writes one block. */
  tick(): void {
    const now = this.opts.clock.now();
    const dtS = Math.max(0, now - this.lastMs) / 1000;
    this.lastMs = now;
    this.step(dtS, now);
    let bytes = encodeVeDirectBlock(this.fields());
    this.blocksSent++;
    const hexEvery = this.opts.hexEvery ?? 0;
    // An asynchronous HEX frame right after the checksum byte, as SmartSolars send them.
    if (hexEvery > 0 && this.blocksSent % hexEvery === 0) bytes = Buffer.concat([bytes, Buffer.from(':A0102000543\n', 'latin1')]);
    this.write(corrupt(bytes, this.opts.byteErrorRate ?? 0, this.random));
  }

  private step(dtS: number, now: number): void {
    const o = this.opts;
    const day = Math.floor(now / 86_400_000);
    if (day !== this.day) {
      this.day = day;
      this.yesterdayWh = this.todayWh;
      this.maxYesterdayW = this.maxTodayW;
      this.todayWh = 0;
      this.maxTodayW = 0;
    }
    const g = Math.max(0, o.irradiance());
    const availableW = (g / 1000) * (o.panelWp ?? 400) * (o.performance ?? 0.85);
    const capacityWh = o.batteryWh ?? 1200;
    const restV = restVoltage(this.soc);
    let chargeW = 0;
    if (availableW < 1) {
      this.state = 0;
      this.absorptionS = 0;
    } else {
      const limitW = (o.maxChargeA ?? 20) * ABSORPTION_V;
      if (this.soc < 0.9) {
        this.state = 3;
        chargeW = Math.min(availableW, limitW);
      } else if (this.state !== 5 && this.soc < 0.995 && this.absorptionS < 2 * 3600) {
        // Absorption: the battery takes less as it fills.
        this.state = 4;
        this.absorptionS += dtS;
        chargeW = Math.min(availableW, limitW, capacityWh * (1 - this.soc) * 4);
      } else {
        this.state = 5;
        chargeW = Math.min(availableW, (o.loadW?.() ?? 8) + capacityWh * Math.max(0, 0.98 - this.soc));
      }
    }
    const loadW = o.loadW?.() ?? 8;
    this.soc = Math.min(1, Math.max(0, this.soc + ((chargeW - loadW) * dtS) / 3600 / capacityWh));
    const batteryV = this.state === 4 ? ABSORPTION_V : this.state === 5 ? FLOAT_V : restV + chargeW / 12.8 / 100;
    const wh = (chargeW * dtS) / 3600;
    this.todayWh += wh;
    this.totalWh += wh;
    this.maxTodayW = Math.max(this.maxTodayW, chargeW);
    const tracking = this.state === 3;
    const solarV = availableW < 1 ? (g > 0 ? VOC * Math.min(1, g / 20) : 0) : tracking ? VMP_STC * (0.92 + 0.08 * Math.min(1, g / 1000)) : VOC * 0.95;
    this.last = { batteryV, batteryA: chargeW / batteryV, solarV, solarW: chargeW };
  }

  private fields(): [string, string][] {
    const o = this.opts;
    const l = this.last;
    const round = (x: number) => String(Math.round(x));
    return [
      ['PID', o.productId ?? '0xA060'],
      ['FW', o.firmware ?? '161'],
      ['SER#', o.serial ?? 'HQ2250SIM01'],
      ['V', round(l.batteryV * 1000)],
      ['I', round(l.batteryA * 1000)],
      ['VPV', round(l.solarV * 1000)],
      ['PPV', round(l.solarW)],
      ['CS', String(this.state)],
      ['MPPT', String(this.state === 0 ? 0 : this.state === 3 ? 2 : 1)],
      ['OR', this.state === 0 ? '0x00000001' : '0x00000000'],
      ['ERR', '0'],
      ['LOAD', 'ON'],
      ['IL', round(((o.loadW?.() ?? 8) / l.batteryV) * 1000)],
      ['H19', String(Math.floor(this.totalWh / 10))],
      ['H20', String(Math.floor(this.todayWh / 10))],
      ['H21', round(this.maxTodayW)],
      ['H22', String(Math.floor(this.yesterdayWh / 10))],
      ['H23', round(this.maxYesterdayW)],
      ['HSDS', String(this.day % 365)],
    ];
  }

}

/** The simulated 12 V battery's resting voltage at a state of charge (both devices read the same battery model). */
function restVoltage(soc: number): number {
  return 11.8 + 1.4 * soc;
}

/** A noisy cable: each byte has one bit flipped with probability `rate`. */
function corrupt(bytes: Buffer, rate: number, random: Random): Buffer {
  if (rate <= 0) return bytes;
  const out = Buffer.from(bytes);
  for (let i = 0; i < out.length; i++) if (random() < rate) out[i]! ^= 1 << Math.floor(random() * 8);
  return out;
}

export interface SimBmvOptions {
  clock: Clock;
  /** Battery current now, A: positive charging, negative discharging. */
  currentA: () => number;
  /** Battery capacity, Ah. Default 100. */
  capacityAh?: number;
  initialSoc?: number;
  /** Time to go counts down to this state of charge (Victron's default discharge floor, 50 %). */
  dischargeFloor?: number;
  /** Low-SOC alarm below this state of charge. Default 0.5. */
  lowSocAlarm?: number;
  /** Low-voltage alarm below this battery voltage, V. Default 11.5. */
  lowVoltageAlarmV?: number;
  /** false: not synchronised since it was fitted (CE, SOC and TTG sent as "---"). Default true. */
  synchronised?: boolean;
  /** Probability that a written byte has one bit flipped. Default 0. */
  byteErrorRate?: number;
  seed?: number;
  /** Interval of the block pair, ms. Default 1000 (the protocol's). */
  intervalMs?: number;
  productId?: string;
  firmware?: string;
}

/** Internal resistance of the simulated battery, Ω (its voltage sags under load). */
const BATTERY_OHMS = 0.01;

/**
 * A simulated Victron BMV-700 battery monitor on a VE.Direct port: once a second the main block
 * (V mV, I mA, P W, CE mAh, SOC ‰, TTG min, Alarm, Relay, AR, BMV, FW) followed by the history
 * block (H1…H12, H17, H18), as a BMV sends them, from a coulomb count of `currentA` on a 12 V
 * battery.
 */
export class SimBmv {
  soc: number;
  blocksSent = 0;
  private timer: TimerHandle | undefined;
  private lastMs: number;
  private readonly random: Random;
  private readonly capacityAh: number;
  private batteryV = 12.8;
  private batteryA = 0;
  private deepestMah = 0;
  private lastDischargeMah = 0;
  private cyclesCount = 0;
  private drawnMah = 0;
  private minMv = Infinity;
  private maxMv = 0;
  private fullAtMs: number;
  private lowVoltageAlarms = 0;
  private lowVoltage = false;
  private dischargedWh = 0;
  private chargedWh = 0;

  constructor(
    private readonly opts: SimBmvOptions,
    private readonly write: (data: Buffer) => void,
  ) {
    this.soc = opts.initialSoc ?? 0.8;
    this.capacityAh = opts.capacityAh ?? 100;
    this.lastMs = opts.clock.now();
    this.fullAtMs = this.lastMs;
    this.random = seededRandom(opts.seed ?? 1);
  }

  start(): void {
    this.timer = this.opts.clock.setInterval(() => this.tick(), this.opts.intervalMs ?? 1000);
  }

  stop(): void {
    this.opts.clock.clearInterval(this.timer);
  }

  /** Advances the coulomb count to now and writes the main block and the history block. */
  tick(): void {
    const now = this.opts.clock.now();
    const dtH = Math.max(0, now - this.lastMs) / 3_600_000;
    this.lastMs = now;
    const amps = this.opts.currentA();
    const wasFull = this.soc >= 1;
    this.soc = Math.min(1, Math.max(0, this.soc + (amps * dtH) / this.capacityAh));
    if (this.soc >= 1 && !wasFull) {
      this.cyclesCount++;
      this.fullAtMs = now;
      this.lastDischargeMah = 0;
    }
    this.batteryA = amps;
    this.batteryV = restVoltage(this.soc) + amps * BATTERY_OHMS;
    const mV = Math.round(this.batteryV * 1000);
    this.minMv = Math.min(this.minMv, mV);
    this.maxMv = Math.max(this.maxMv, mV);
    const consumedMah = this.consumedMah();
    this.deepestMah = Math.min(this.deepestMah, consumedMah);
    this.lastDischargeMah = Math.min(this.lastDischargeMah, consumedMah);
    if (amps < 0) {
      this.drawnMah += amps * dtH * 1000;
      this.dischargedWh += -amps * this.batteryV * dtH;
    } else this.chargedWh += amps * this.batteryV * dtH;
    const low = this.batteryV < (this.opts.lowVoltageAlarmV ?? 11.5);
    if (low && !this.lowVoltage) this.lowVoltageAlarms++;
    this.lowVoltage = low;
    this.blocksSent += 2;
    this.write(corrupt(Buffer.concat([encodeVeDirectBlock(this.mainFields()), encodeVeDirectBlock(this.historyFields(now))]), this.opts.byteErrorRate ?? 0, this.random));
  }

  /** Consumed charge since the last full charge, mAh (≤ 0). */
  private consumedMah(): number {
    return Math.round((this.soc - 1) * this.capacityAh * 1000);
  }

  private mainFields(): [string, string][] {
    const o = this.opts;
    const synced = o.synchronised ?? true;
    const floor = o.dischargeFloor ?? 0.5;
    // TTG -1: infinite, the battery is not discharging.
    const ttg = this.batteryA >= 0 ? -1 : Math.round((Math.max(0, this.soc - floor) * this.capacityAh * 60) / -this.batteryA);
    // AR bits (hardware/vedirect.ts ALARM_REASONS): 1 low voltage, 4 low SOC.
    const reasons = (this.lowVoltage ? 1 : 0) | (synced && this.soc < (o.lowSocAlarm ?? 0.5) ? 4 : 0);
    return [
      ['PID', o.productId ?? '0x203'],
      ['V', String(Math.round(this.batteryV * 1000))],
      ['I', String(Math.round(this.batteryA * 1000))],
      ['P', String(Math.round(this.batteryV * this.batteryA))],
      ['CE', synced ? String(this.consumedMah()) : '---'],
      ['SOC', synced ? String(Math.round(this.soc * 1000)) : '---'],
      ['TTG', synced ? String(ttg) : '---'],
      ['Alarm', reasons ? 'ON' : 'OFF'],
      ['Relay', reasons ? 'ON' : 'OFF'],
      ['AR', String(reasons)],
      ['BMV', '700'],
      ['FW', o.firmware ?? '0308'],
    ];
  }

  private historyFields(now: number): [string, string][] {
    return [
      ['H1', String(this.deepestMah)],
      ['H2', String(this.lastDischargeMah)],
      ['H3', '0'],
      ['H4', String(this.cyclesCount)],
      ['H5', '0'],
      ['H6', String(Math.round(this.drawnMah))],
      ['H7', String(this.minMv)],
      ['H8', String(this.maxMv)],
      ['H9', String(Math.floor((now - this.fullAtMs) / 1000))],
      ['H10', '0'],
      ['H11', String(this.lowVoltageAlarms)],
      ['H12', '0'],
      // Energy in 0.01 kWh.
      ['H17', String(Math.floor(this.dischargedWh / 10))],
      ['H18', String(Math.floor(this.chargedWh / 10))],
    ];
  }
}

/** A simulated charge controller writing to `link` (a pseudo-terminal end in tests). */
export function serveMppt(link: Link, opts: SimMpptOptions): SimMppt {
  const mppt = new SimMppt(opts, (d) => link.write(d));
  mppt.start();
  return mppt;
}
