/**
 * Victron VE.Direct text protocol (Victron's "VE.Direct Protocol" document, text-mode chapter):
 * a device (a charge controller, a battery monitor) sends, once a second at 19200 baud 8N1, a
 * block of fields `\r\n<label>\t<value>`; the last field of a block is `\r\nChecksum\t<byte>`,
 * that byte chosen so the sum of every byte of the block, from its first `\r` to the checksum
 * byte, is 0 modulo 256. The byte need not be printable (it can be `\r`, `\n`, `\t` or `:`).
 * HEX-protocol frames (`:` up to `\n`) may be sent in between and are not part of any block or
 * its checksum.
 *
 * `VeDirectParser` takes bytes as they come and returns only checksum-valid blocks; it never
 * throws, counts what it drops, and finds its way back to block boundaries after garbage.
 * `mpptReading` turns a charge controller's block into typed units, `bmvReading` a battery
 * monitor's; `VeDirectReader` reads a serial URL with one of them.
 */
import { EventEmitter } from 'node:events';
import { SystemClock, type Clock } from '../firmware-bridge/clock.ts';
import { HardwareError } from './errors.ts';
import { createLink } from '../firmware-bridge/links/index.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { parseLinkUrl } from '../firmware-bridge/links/url.ts';

export const VEDIRECT_BAUD = 19200;
/** Longest block the parser accepts, bytes (a full MPPT block is about 200; 22 fields of 33 at most). */
const MAX_BLOCK = 1024;
/** Longest label and value. */
const MAX_LABEL = 16;
const MAX_VALUE = 64;
/** Longest HEX frame (`:` + up to a few dozen hex digits). */
const MAX_HEX = 128;

export interface VeDirectBlock {
  /** Fields in the order sent, the Checksum field excluded. */
  fields: [label: string, value: string][];
  /** The block's bytes as summed (HEX frames removed); they sum to 0 modulo 256. */
  raw: Buffer;
}

export interface VeDirectStats {
  /** Checksum-valid blocks returned. */
  blocks: number;
  /** Blocks that ended in a Checksum field but did not sum to 0, or were malformed. */
  badBlocks: number;
  /** HEX frames skipped. */
  hexFrames: number;
  /** Bytes dropped before the first block boundary (a port opened mid-block). */
  skippedBytes: number;
  /** Runs of bytes longer than any block without a Checksum field (garbage, a wrong baud rate). */
  overruns: number;
}

type State = 'cr' | 'lf' | 'label' | 'value' | 'checksum' | 'hex';

const isHexDigit = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

export class VeDirectParser {
  readonly stats: VeDirectStats = { blocks: 0, badBlocks: 0, hexFrames: 0, skippedBytes: 0, overruns: 0 };
  private state: State = 'cr';
  private hexReturn: State = 'cr';
  private hexLength = 0;
  private raw: number[] = [];
  private sum = 0;
  private label = '';
  private value = '';
  private fields: [string, string][] = [];
  /** Something in this block broke the field grammar: it cannot be returned, whatever it sums to. */
  private malformed = false;
  /** The block being read started at a known boundary (after a checksum byte, or at stream start). */
  private aligned = true;
  private started = false;

  /** Feeds bytes; returns the blocks completed by them. Never throws. */
  push(chunk: Uint8Array): VeDirectBlock[] {
    const out: VeDirectBlock[] = [];
    for (const c of chunk) {
      const block = this.byte(c);
      if (block) out.push(block);
    }
    return out;
  }

  private byte(c: number): VeDirectBlock | undefined {
    if (!this.started) {
      // A stream that does not open with the CR of a field was opened in the middle of a block.
      this.started = true;
      if (c !== 0x0d) this.aligned = false;
    }
    if (this.state === 'hex') {
      if (c === 0x0a) {
        this.stats.hexFrames++;
        this.state = this.hexReturn;
        return undefined;
      }
      if (isHexDigit(c) && ++this.hexLength <= MAX_HEX) return undefined;
      // Not a HEX frame after all: the ':' was noise. The block it interrupted is lost.
      this.malformed = true;
      this.state = this.hexReturn;
    }
    // A ':' starts a HEX frame anywhere but in the checksum byte (Victron's own frame handler).
    if (c === 0x3a && this.state !== 'checksum') {
      this.hexReturn = this.state;
      this.hexLength = 0;
      this.state = 'hex';
      return undefined;
    }
    this.raw.push(c);
    this.sum = (this.sum + c) & 0xff;
    switch (this.state) {
      case 'cr':
        if (c === 0x0d) this.state = 'lf';
        else this.broken(c);
        break;
      case 'lf':
        if (c === 0x0a) {
          this.state = 'label';
          this.label = '';
        } else this.broken(c);
        break;
      case 'label':
        if (c === 0x09) {
          if (this.label === 'Checksum') {
            this.state = 'checksum';
          } else {
            this.state = 'value';
            this.value = '';
          }
        } else if (c < 0x21 || c > 0x7e || this.label.length >= MAX_LABEL) {
          // Labels are printable ASCII: anything else is noise the checksum may not catch (two
          // flips of the same bit cancel in a sum modulo 256).
          this.broken(c);
        } else {
          this.label += String.fromCharCode(c);
        }
        break;
      case 'value':
        if (c === 0x0d) {
          // A label sent twice means two blocks ran together (a Checksum label was hit).
          if (this.fields.some(([l]) => l === this.label)) this.malformed = true;
          this.fields.push([this.label, this.value]);
          this.state = 'lf';
        } else if (c < 0x20 || c > 0x7e || this.value.length >= MAX_VALUE) {
          this.broken(c);
        } else {
          this.value += String.fromCharCode(c);
        }
        break;
      case 'checksum':
        return this.endBlock();
    }
    if (this.raw.length > MAX_BLOCK) {
      // No Checksum field in far more bytes than a block holds: drop them and look for the next
      // block boundary (the end of a Checksum field) before returning anything again.
      this.stats.overruns++;
      this.reset(false);
    }
    return undefined;
  }

  /**
   * The field grammar broke at `c`: the block is lost, and the parser waits for the next field
   * start. A LF starts a label even when its CR was damaged, as in Victron's frame handler (which
   * ends a field at LF): so a damaged CR costs only its own block, not the next one too, whose
   * boundary, the damaged block's Checksum field, follows that LF.
   */
  private broken(c: number): void {
    this.malformed = true;
    if (c === 0x0a) {
      this.state = 'label';
      this.label = '';
    } else this.state = c === 0x0d ? 'lf' : 'cr';
  }

  private endBlock(): VeDirectBlock | undefined {
    const ok = this.sum === 0 && !this.malformed && this.fields.length > 0;
    const aligned = this.aligned;
    const block: VeDirectBlock = { fields: this.fields, raw: Buffer.from(this.raw) };
    if (!aligned) this.stats.skippedBytes += this.raw.length;
    else if (!ok) this.stats.badBlocks++;
    this.reset(true);
    if (!aligned || !ok) return undefined;
    this.stats.blocks++;
    return block;
  }

  private reset(aligned: boolean): void {
    this.raw = [];
    this.sum = 0;
    this.fields = [];
    this.malformed = false;
    this.aligned = aligned;
    this.state = 'cr';
  }
}

/** Builds a block from fields, with the Checksum byte that makes it sum to 0 (the simulator's and tests' encoder). */
export function encodeVeDirectBlock(fields: [string, string][]): Buffer {
  const body = Buffer.from(`${fields.map(([l, v]) => `\r\n${l}\t${v}`).join('')}\r\nChecksum\t`, 'latin1');
  let sum = 0;
  for (const b of body) sum = (sum + b) & 0xff;
  return Buffer.concat([body, Buffer.of((256 - sum) & 0xff)]);
}

/** CS, "state of operation" (VE.Direct Protocol, text-mode field list). */
export const CHARGER_STATES: Readonly<Record<number, string>> = {
  0: 'off',
  1: 'low power',
  2: 'fault',
  3: 'bulk',
  4: 'absorption',
  5: 'float',
  6: 'storage',
  7: 'equalize (manual)',
  9: 'inverting',
  11: 'power supply',
  245: 'starting-up',
  246: 'repeated absorption',
  247: 'auto equalize / recondition',
  248: 'BatterySafe',
  252: 'external control',
};

/** ERR codes of the MPPT chargers. */
export const CHARGER_ERRORS: Readonly<Record<number, string>> = {
  0: 'no error',
  2: 'battery voltage too high',
  17: 'charger temperature too high',
  18: 'charger over current',
  19: 'charger current reversed',
  20: 'bulk time limit exceeded',
  21: 'current sensor issue',
  26: 'terminals overheated',
  28: 'converter issue',
  33: 'input voltage too high (solar panel)',
  34: 'input current too high (solar panel)',
  38: 'input shutdown (excessive battery voltage)',
  39: 'input shutdown (current flow during off mode)',
  65: 'lost communication with one of the devices',
  66: 'synchronised charging device configuration issue',
  67: 'BMS connection lost',
  68: 'network misconfigured',
  116: 'factory calibration data lost',
  117: 'invalid/incompatible firmware',
  119: 'user settings invalid',
};

/** MPPT, "tracker operation mode". */
export const TRACKER_MODES: Readonly<Record<number, string>> = { 0: 'off', 1: 'voltage or current limited', 2: 'MPP tracker active' };

/** An MPPT block in units. Yields are Wh (the device counts 0.01 kWh). */
export interface MpptReading {
  atMs: number;
  /** PID, e.g. 0xA053; SER#; FW. */
  productId?: string;
  serial?: string;
  firmware?: string;
  batteryV: number;
  /** Charger output into the battery, A (negative: the controller draws from it). */
  batteryA: number;
  solarV: number;
  solarW: number;
  /** Panel current, A: the IPV field where a model sends one, PPV / VPV otherwise. */
  solarA: number;
  /** CS code and its name. */
  state: number;
  stateName: string;
  /** MPPT code (absent on older firmware) and its name. */
  tracker?: number;
  trackerName?: string;
  error: number;
  errorName: string;
  loadOn?: boolean;
  loadA?: number;
  yieldTotalWh?: number;
  yieldTodayWh?: number;
  maxPowerTodayW?: number;
  yieldYesterdayWh?: number;
  maxPowerYesterdayW?: number;
  daySequence?: number;
}

function int(v: string | undefined): number | undefined {
  return v !== undefined && /^-?\d+$/.test(v) ? Number(v) : undefined;
}

/** The MPPT reading in a block, or undefined for another device's block (a BMV battery monitor's). */
export function mpptReading(block: VeDirectBlock, atMs: number): MpptReading | undefined {
  const f = new Map(block.fields);
  const mV = int(f.get('V'));
  const mA = int(f.get('I'));
  const pvmV = int(f.get('VPV'));
  const ppv = int(f.get('PPV'));
  const cs = int(f.get('CS'));
  if (mV === undefined || mA === undefined || pvmV === undefined || ppv === undefined || cs === undefined) return undefined;
  const solarV = pvmV / 1000;
  const ipv = int(f.get('IPV'));
  const tracker = int(f.get('MPPT'));
  const err = int(f.get('ERR')) ?? 0;
  const centi = (label: string) => {
    const v = int(f.get(label));
    return v === undefined ? undefined : v * 10;
  };
  const load = f.get('LOAD');
  const il = int(f.get('IL'));
  return {
    atMs,
    productId: f.get('PID'),
    serial: f.get('SER#'),
    firmware: f.get('FW'),
    batteryV: mV / 1000,
    batteryA: mA / 1000,
    solarV,
    solarW: ppv,
    solarA: ipv !== undefined ? ipv / 1000 : solarV > 0 ? ppv / solarV : 0,
    state: cs,
    stateName: CHARGER_STATES[cs] ?? `unknown (${cs})`,
    tracker,
    trackerName: tracker === undefined ? undefined : (TRACKER_MODES[tracker] ?? `unknown (${tracker})`),
    error: err,
    errorName: CHARGER_ERRORS[err] ?? `unknown (${err})`,
    loadOn: load === undefined ? undefined : load === 'ON',
    loadA: il === undefined ? undefined : il / 1000,
    yieldTotalWh: centi('H19'),
    yieldTodayWh: centi('H20'),
    maxPowerTodayW: int(f.get('H21')),
    yieldYesterdayWh: centi('H22'),
    maxPowerYesterdayW: int(f.get('H23')),
    daySequence: int(f.get('HSDS')),
  };
}

/** AR, "alarm reason" (VE.Direct Protocol, text-mode field list): a bit field, one bit per reason. */
export const ALARM_REASONS: Readonly<Record<number, string>> = {
  1: 'low voltage',
  2: 'high voltage',
  4: 'low SOC',
  8: 'low starter voltage',
  16: 'high starter voltage',
  32: 'low temperature',
  64: 'high temperature',
  128: 'mid voltage',
  256: 'overload',
  512: 'DC-ripple',
  1024: 'low V AC out',
  2048: 'high V AC out',
  4096: 'short circuit',
  8192: 'BMS lockout',
};

/** A battery monitor's block (BMV-600/700, SmartShunt) in units. */
export interface BmvReading {
  atMs: number;
  /** PID (a BMV-700 sends 0x203), BMV (its model, deprecated by Victron), FW. */
  productId?: string;
  model?: string;
  firmware?: string;
  /** Main battery voltage, V. */
  batteryV: number;
  /** Battery current, A: positive charging, negative discharging. */
  batteryA: number;
  /** Instantaneous power, W, with the current's sign (V × I where a model sends no P). */
  batteryW: number;
  /** Consumed amp hours, Ah (negative: drawn since the last full charge); undefined while not synchronised. */
  consumedAh?: number;
  /** State of charge, 0..1; undefined while not synchronised or set up as a DC monitor. */
  soc?: number;
  /** Time to go, minutes; null: infinite (the battery is not discharging); undefined while not synchronised. */
  timeToGoMin?: number | null;
  /** Alarm: the monitor's alarm condition is active; its reasons by name (empty without one). */
  alarm: boolean;
  alarmReasons: string[];
  relayOn?: boolean;
}

/**
 * The battery monitor's reading in a block, or undefined for another block: an MPPT's, or the
 * history block (H1…H18) a BMV sends after each main block. Field units per the VE.Direct
 * Protocol's text-mode field list: V mV, I mA, P W, CE mAh, SOC ‰, TTG minutes (−1: infinite,
 * the battery is not discharging); CE, SOC and TTG are "---" while the monitor is not
 * synchronised (SOC and TTG also on a SmartShunt set up as a DC monitor).
 */
export function bmvReading(block: VeDirectBlock, atMs: number): BmvReading | undefined {
  const f = new Map(block.fields);
  const mV = int(f.get('V'));
  const mA = int(f.get('I'));
  // SOC is what tells a monitor's main block from a charger's (which sends V and I too).
  if (mV === undefined || mA === undefined || !f.has('SOC')) return undefined;
  const permille = int(f.get('SOC'));
  const ttg = int(f.get('TTG'));
  const mAh = int(f.get('CE'));
  const ar = int(f.get('AR')) ?? 0;
  const relay = f.get('Relay');
  return {
    atMs,
    productId: f.get('PID'),
    model: f.get('BMV'),
    firmware: f.get('FW'),
    batteryV: mV / 1000,
    batteryA: mA / 1000,
    batteryW: int(f.get('P')) ?? (mV / 1000) * (mA / 1000),
    consumedAh: mAh === undefined ? undefined : mAh / 1000,
    soc: permille === undefined ? undefined : permille / 1000,
    timeToGoMin: ttg === undefined ? undefined : ttg === -1 ? null : ttg,
    alarm: f.get('Alarm') === 'ON',
    alarmReasons: Object.entries(ALARM_REASONS)
      .filter(([bit]) => (ar & Number(bit)) !== 0)
      .map(([, name]) => name),
    relayOn: relay === undefined ? undefined : relay === 'ON',
  };
}

/**
 * A VE.Direct link URL: `serial:/dev/ttyUSB1` gets the protocol's 19200 baud unless the URL names
 * a rate (`serial:///dev/serial/by-id/usb-VictronEnergy_BV_VE_Direct_cable_…`); network bridges
 * (`tcp://host:port`, a ser2net port) pass as they are.
 */
export function vedirectUrl(url: string): string {
  const spec = parseLinkUrl(url);
  if (spec.kind === 'serial' && !/[?&]baud=/.test(url)) return `${url}${url.includes('?') ? '&' : '?'}baud=${VEDIRECT_BAUD}`;
  if (spec.kind === 'udpin' || spec.kind === 'udpout' || spec.kind === 'tcpin') {
    throw new HardwareError('CANOPY_ERR_LINK_URL', `"${url}": a charge controller is read from a serial port (serial:/dev/ttyUSB1) or a TCP serial bridge (tcp://host:port)`);
  }
  return url;
}

/** What a device's block says in units, or undefined for a block of another kind (mpptReading, bmvReading). */
export type VeDirectDecoder<R> = (block: VeDirectBlock, atMs: number) => R | undefined;

export interface VeDirectReaderEvents<R> {
  /** A checksum-valid block (any device). */
  block: [block: VeDirectBlock];
  /** A block of the kind the reader decodes, in units. */
  reading: [reading: R];
  up: [];
  down: [reason: string];
  error: [err: Error];
}

export interface VeDirectReaderOptions {
  clock?: Clock;
  /** Use this link instead of opening the URL (tests). */
  link?: Link;
}

/**
 * Reads a VE.Direct device on a link URL, decoding its blocks with `decode` (mpptReading for a
 * charge controller, bmvReading for a battery monitor). The serial link re-opens the device when
 * it comes back (a USB cable pulled and plugged in again); the parser starts over then, so a
 * block cut in half by the unplug is never returned.
 */
export class VeDirectReader<R> extends EventEmitter<VeDirectReaderEvents<R>> {
  readonly url: string;
  private parser = new VeDirectParser();
  private readonly link: Link;
  private readonly clock: Clock;
  last: R | undefined;
  /** Totals over every parser this reader has had (one per connection). */
  private past: VeDirectStats = { blocks: 0, badBlocks: 0, hexFrames: 0, skippedBytes: 0, overruns: 0 };

  constructor(
    url: string,
    private readonly decode: VeDirectDecoder<R>,
    opts: VeDirectReaderOptions = {},
  ) {
    super();
    this.on('error', () => {});
    this.url = vedirectUrl(url);
    this.clock = opts.clock ?? new SystemClock();
    this.link = opts.link ?? createLink(this.url, { clock: this.clock, waitForDevice: true });
    this.link.on('data', (chunk) => this.onData(chunk));
    this.link.on('up', () => this.emit('up'));
    this.link.on('down', (reason) => {
      this.restartParser();
      this.emit('down', reason);
    });
    this.link.on('error', (e) => this.emit('error', e));
  }

  get stats(): VeDirectStats {
    const s = this.parser.stats;
    const p = this.past;
    return { blocks: p.blocks + s.blocks, badBlocks: p.badBlocks + s.badBlocks, hexFrames: p.hexFrames + s.hexFrames, skippedBytes: p.skippedBytes + s.skippedBytes, overruns: p.overruns + s.overruns };
  }

  get isUp(): boolean {
    return this.link.isUp;
  }

  private restartParser(): void {
    this.past = this.stats;
    this.parser = new VeDirectParser();
  }

  private onData(chunk: Buffer): void {
    for (const block of this.parser.push(chunk)) {
      this.emit('block', block);
      const reading = this.decode(block, this.clock.now());
      if (reading) {
        this.last = reading;
        this.emit('reading', reading);
      }
    }
  }

  async start(): Promise<void> {
    await this.link.start();
  }

  async stop(): Promise<void> {
    await this.link.stop();
  }
}
