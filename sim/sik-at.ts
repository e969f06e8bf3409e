/**
 * The AT command mode of a simulated SiK radio, as ArduPilot's "SiK Radio - Advanced
 * Configuration" page documents it (behaviour details from the SiK firmware, at.c / parameters.c):
 *
 * - In data mode every byte from the host goes to the air. `+++` puts the radio into command mode
 *   only when the line was silent for the guard time (1 s) before the first '+', and again for the
 *   guard time after the third; any byte inside that second second cancels it. Then the radio says
 *   `OK` and stops passing data from the other radio.
 * - In command mode the radio echoes printable characters upper-cased, runs a line on CR (printing
 *   CR LF), treats backspace/DEL as deletes, and drops back to data mode when a line grows past 16
 *   characters (an accidental +++ in a data stream must not lock the link).
 * - `ATS<n>=X` checks X as the firmware does (SERIAL_SPEED one of the one-byte rates, AIR_SPEED up
 *   to 256, ECC/OPPRESEND 0 or 1, MAVLINK 0..2, TXPOWER up to the board's maximum, MAX_WINDOW up to
 *   131; S0 FORMAT cannot be set) and answers OK or ERROR. TXPOWER snaps up to the next power step
 *   at once; DUTY_CYCLE and LBT_RSSI are clamped.
 * - `AT&W` saves to EEPROM, `AT&F` restores defaults (in RAM), `ATZ` reboots: the radio leaves
 *   command mode, reloads the EEPROM and runs the next supported air rate at or above AIR_SPEED,
 *   which AIR_SPEED then reports (an unsupported rate is rounded up, not refused).
 * - `RT…` runs the command on the remote radio when one is linked (`link(remote)`); its reply lines
 *   come back to this radio's host. With no remote there is no reply.
 *
 * The registers map onto the link model in radio.ts with `radioOptions()`.
 */
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import { SIK_REGISTERS, SIK_SERIAL_SPEEDS, effectiveAirSpeed } from '../hardware/sik-at.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import type { SikRadioOptions } from './radio.ts';

/** Factory defaults of SiK 2.x (parameters.c); FORMAT is the EEPROM layout version. */
export const SIK_DEFAULTS: readonly number[] = [25, 57, 64, 25, 20, 0, 1, 0, 433050, 434790, 10, 100, 0, 0, 0, 131];

/** Transmit power steps, dBm; a setting snaps up to the next one (radio.c). */
const POWER_LEVELS = [1, 2, 5, 8, 11, 14, 17, 20, 27, 30];
/** SiK's AT_CMD_MAXLEN. */
const MAX_LINE = 16;

export interface SimSikAtOptions {
  clock: Clock;
  /** Bytes the radio prints to its host. */
  output: (data: Buffer) => void;
  /** Data-mode bytes from the host, which the radio would send over the air. */
  air?: (data: Buffer) => void;
  /** Silence needed before and after +++, ms (1000 on the real radio). */
  guardMs?: number;
  banner?: string;
  /** EEPROM contents at power-on, by register name (the rest are factory defaults). */
  eeprom?: Partial<Record<(typeof SIK_REGISTERS)[number], number>>;
  /** Highest TXPOWER the board takes, dBm (20 for HM-TRP boards, 30 for RFD900). */
  maxTxPower?: number;
  /** A radio that ignores +++ (wrong baud rate, other firmware). */
  deaf?: boolean;
  /** Registers whose set is answered OK but not stored (a firmware bug, for read-back tests). */
  ignoreSets?: number[];
  /** How long a reboot takes, ms (default 100). */
  bootMs?: number;
}

export class SimSikAt {
  readonly eeprom: number[];
  /** The parameters in RAM (what ATS reads and sets). */
  ram: number[];
  commandMode = false;
  booting = false;
  reboots = 0;
  /** Every command line run, in order (tests check what a client sent). */
  readonly log: string[] = [];
  private readonly guardMs: number;
  private lastInputAt = -Infinity;
  private pluses = 0;
  private enableTimer: TimerHandle | undefined;
  private line = '';
  private remote: SimSikAt | undefined;

  constructor(private readonly opts: SimSikAtOptions) {
    this.guardMs = opts.guardMs ?? 1000;
    this.eeprom = [...SIK_DEFAULTS];
    for (const [name, v] of Object.entries(opts.eeprom ?? {})) this.eeprom[SIK_REGISTERS.indexOf(name as (typeof SIK_REGISTERS)[number])] = v;
    this.ram = [...this.eeprom];
    this.applyBoot();
  }

  /** Pairs two radios so RT commands on one run on the other. */
  link(remote: SimSikAt): void {
    this.remote = remote;
    remote.remote = this;
  }

  get(name: (typeof SIK_REGISTERS)[number]): number {
    return this.ram[SIK_REGISTERS.indexOf(name)]!;
  }

  /** The link model's parameters for what the radio runs now (radio.ts `SikRadioOptions`). */
  radioOptions(): Pick<SikRadioOptions, 'baud' | 'radioStatus'> {
    const serial = SIK_SERIAL_SPEEDS[this.get('SERIAL_SPEED')] ?? 57600;
    // The air carries AIR_SPEED kbit/s; Golay ECC sends every byte twice (12 bits per 24).
    const air = effectiveAirSpeed(this.get('AIR_SPEED')) * 1000 * (this.get('ECC') ? 0.5 : 1);
    return { baud: Math.min(serial, air), radioStatus: this.get('MAVLINK') !== 0 };
  }

  private print(text: string): void {
    this.opts.output(Buffer.from(text, 'latin1'));
  }

  /** Bytes from the host's serial port. */
  input(data: Buffer): void {
    if (this.booting) return;
    for (let i = 0; i < data.length; i++) {
      if (this.commandMode) {
        this.commandByte(data[i]!);
        continue;
      }
      // Data mode: the rest of the chunk goes over the air as it is (command mode only starts
      // after a second of silence, never inside a chunk); the +++ detector still sees every byte.
      const rest = data.subarray(i);
      this.opts.air?.(rest);
      for (const c of rest) this.detect(c);
      return;
    }
  }

  /** Bytes heard from the other radio: shown to the host in data mode only. */
  fromAir(data: Buffer): void {
    if (!this.commandMode && !this.booting) this.opts.output(data);
  }

  // --- +++ detection (at_plus_detector) ----------------------------------------------------------

  private detect(c: number): void {
    const now = this.opts.clock.now();
    const quietBefore = now - this.lastInputAt >= this.guardMs;
    this.lastInputAt = now;
    if (this.opts.deaf) return;
    // Any byte, '+' or not, inside the silence after the third '+' cancels the escape.
    this.opts.clock.clearTimeout(this.enableTimer);
    this.enableTimer = undefined;
    if (c !== 0x2b) {
      this.pluses = 0;
      return;
    }
    if (this.pluses === 0 && !quietBefore) return;
    if (this.pluses >= 3) {
      this.pluses = 0;
      return;
    }
    this.pluses++;
    if (this.pluses === 3) {
      this.enableTimer = this.opts.clock.setTimeout(() => {
        this.enableTimer = undefined;
        this.pluses = 0;
        this.commandMode = true;
        this.line = '';
        this.print('OK\r\n');
      }, this.guardMs);
    }
  }

  // --- command line (at_input) -------------------------------------------------------------------

  private commandByte(c: number): void {
    if (c === 0x0d) {
      this.print('\r\n');
      const cmd = this.line;
      this.line = '';
      this.run(cmd);
      return;
    }
    if (c === 0x08 || c === 0x7f) {
      if (this.line.length > 0) {
        this.line = this.line.slice(0, -1);
        this.print('\b \b');
      }
      return;
    }
    if (c < 0x20 || c > 0x7e) return;
    if (this.line.length >= MAX_LINE) {
      // Overflow: back to data mode (SiK does this so stray data cannot wedge command mode).
      this.commandMode = false;
      this.line = '';
      return;
    }
    const ch = String.fromCharCode(c).toUpperCase();
    this.line += ch;
    this.print(ch);
  }

  private run(cmd: string): void {
    this.log.push(cmd);
    if (cmd.startsWith('RT')) {
      const remote = this.remote;
      if (!remote || remote.booting) return;
      const reply = remote.execute(`AT${cmd.slice(2)}`, true);
      if (reply) this.print(reply);
      return;
    }
    if (cmd.startsWith('AT')) {
      const reply = this.execute(cmd, false);
      if (reply) this.print(reply);
    }
    // Anything else is ignored, as the firmware does.
  }

  /** Runs an AT command and returns what the radio prints. `remote`: it arrived over the air. */
  execute(cmd: string, remote: boolean): string {
    const OK = 'OK\r\n';
    const ERROR = 'ERROR\r\n';
    const rest = cmd.slice(2);
    if (rest === '') return OK;
    if (rest === 'O') {
      if (!remote) this.commandMode = false;
      return '';
    }
    if (rest === 'Z') {
      this.reboot();
      return '';
    }
    if (rest === '&W') {
      this.eeprom.splice(0, this.eeprom.length, ...this.ram);
      this.eeprom[0] = SIK_DEFAULTS[0]!;
      return OK;
    }
    if (rest === '&F') {
      this.ram = [...SIK_DEFAULTS];
      return OK;
    }
    const info = /^I(\d?)$/.exec(rest);
    if (info) {
      switch (info[1]) {
        case '':
        case '0':
          return `${this.opts.banner ?? 'SiK 2.2 on HM-TRP'}\r\n`;
        case '1':
          return '2.2\r\n';
        case '2':
          return '78\r\n';
        case '3':
          return '67\r\n';
        case '4':
          return '31\r\n';
        case '5':
          return SIK_REGISTERS.map((name, i) => `S${i}: ${name}=${this.ram[i]}\r\n`).join('');
        default:
          return ERROR;
      }
    }
    const s = /^S(\d+)([?=])(\d*)$/.exec(rest);
    if (s) {
      const reg = Number(s[1]);
      if (reg >= SIK_REGISTERS.length) return ERROR;
      if (s[2] === '?') return s[3] === '' ? `${this.ram[reg]}\r\n` : ERROR;
      if (reg === 0 || s[3] === '') return ERROR;
      const value = this.check(reg, Number(s[3]));
      if (value === undefined) return ERROR;
      if (!this.opts.ignoreSets?.includes(reg)) this.ram[reg] = value;
      return OK;
    }
    return ERROR;
  }

  /** param_s_check + param_s_set: the stored value, or undefined when refused. */
  private check(reg: number, v: number): number | undefined {
    switch (SIK_REGISTERS[reg]) {
      case 'SERIAL_SPEED':
        return SIK_SERIAL_SPEEDS[v] !== undefined ? v : undefined;
      case 'AIR_SPEED':
        return v <= 256 ? v : undefined;
      case 'TXPOWER':
        return v <= (this.opts.maxTxPower ?? 20) ? (POWER_LEVELS.find((p) => p >= v) ?? v) : undefined;
      case 'ECC':
      case 'OPPRESEND':
        return v <= 1 ? v : undefined;
      case 'MAVLINK':
        return v <= 2 ? v : undefined;
      case 'MAX_WINDOW':
        return v <= 131 ? v : undefined;
      case 'DUTY_CYCLE':
        return Math.min(100, v);
      case 'LBT_RSSI':
        return v === 0 ? 0 : Math.max(25, Math.min(220, v));
      case 'RTSCTS':
        return v ? 1 : 0;
      default:
        return v;
    }
  }

  /** ATZ: out of command mode, silent for the boot time, then running the EEPROM's parameters. */
  reboot(): void {
    this.commandMode = false;
    this.booting = true;
    this.line = '';
    this.pluses = 0;
    this.opts.clock.clearTimeout(this.enableTimer);
    this.opts.clock.setTimeout(() => {
      this.ram = [...this.eeprom];
      this.applyBoot();
      this.booting = false;
      this.reboots++;
      this.lastInputAt = this.opts.clock.now();
    }, this.opts.bootMs ?? 100);
  }

  /** What a booting radio does to its parameters: it reports the air rate it really runs. */
  private applyBoot(): void {
    const air = SIK_REGISTERS.indexOf('AIR_SPEED');
    this.ram[air] = effectiveAirSpeed(this.ram[air]!);
  }
}

/** The EEPROM a radio of the link model (radio.ts options) would hold: the reverse of `radioOptions()`. */
export function sikRegistersFor(o: Pick<SikRadioOptions, 'baud' | 'radioStatus'>): SimSikAtOptions['eeprom'] {
  const serial = Object.entries(SIK_SERIAL_SPEEDS).find(([, baud]) => baud === (o.baud ?? 57600));
  return { SERIAL_SPEED: serial ? Number(serial[0]) : 57, MAVLINK: o.radioStatus === false ? 0 : 1 };
}

/** A simulated SiK radio answering on `link` (a pseudo-terminal end in tests, like a USB radio). */
export function serveSikAt(link: Link, opts: Omit<SimSikAtOptions, 'output'>): SimSikAt {
  const radio = new SimSikAt({ ...opts, output: (d) => link.write(d) });
  link.on('data', (chunk) => radio.input(chunk));
  return radio;
}
