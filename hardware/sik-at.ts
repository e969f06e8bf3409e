/**
 * SiK telemetry radios (3DR, HolyBro, RFD900) configured through their Hayes-style AT command set,
 * as ArduPilot's "SiK Radio - Advanced Configuration" page and RFDesign's "SiK AT Commands"
 * describe it:
 *
 * - `+++` (no CR), with at least 1 s of silence on the serial line before and after it, puts the
 *   radio into command mode; it answers `OK`. Characters the radio reads are echoed (upper-cased)
 *   and every line it prints ends in CR LF.
 * - `ATI` prints the version banner, `ATI5` every EEPROM parameter as `S<n>: <NAME>=<value>`,
 *   `ATS<n>?` one value, `ATS<n>=<X>` sets one (`OK` / `ERROR`), `AT&W` writes the parameters to
 *   EEPROM, `ATZ` reboots the radio (which leaves command mode; unsaved changes are lost), `ATO`
 *   leaves command mode without rebooting.
 * - `RT` instead of `AT` sends the same command to the radio at the other end of the link.
 *
 * `setupSikRadio` is what `canopy radio setup` runs: enter command mode, read the current values,
 * set the requested ones, write them to EEPROM, read them back, reboot.
 */
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import { HardwareError } from './errors.ts';
import type { Link } from '../firmware-bridge/links/link.ts';

/** The S-registers of SiK 1.x/2.x, in order (ATI5 prints them; firmware parameters.c). */
export const SIK_REGISTERS = [
  'FORMAT',
  'SERIAL_SPEED',
  'AIR_SPEED',
  'NETID',
  'TXPOWER',
  'ECC',
  'MAVLINK',
  'OPPRESEND',
  'MIN_FREQ',
  'MAX_FREQ',
  'NUM_CHANNELS',
  'DUTY_CYCLE',
  'LBT_RSSI',
  'MANCHESTER',
  'RTSCTS',
  'MAX_WINDOW',
] as const;
export type SikRegisterName = (typeof SIK_REGISTERS)[number];

/** Register number of a parameter name (S3 is NETID, …). */
export function sikRegister(name: SikRegisterName): number {
  return SIK_REGISTERS.indexOf(name);
}

/**
 * The air data rates the radio can run, kbit/s. The firmware accepts any AIR_SPEED up to 256 and,
 * when it boots, runs at the next supported rate at or above it (250 above that) and reports that
 * rate in AIR_SPEED from then on.
 */
export const SIK_AIR_SPEEDS = [2, 4, 8, 16, 19, 24, 32, 48, 64, 96, 128, 192, 250] as const;

/** The air rate a booting radio picks for an AIR_SPEED setting. */
export function effectiveAirSpeed(setting: number): number {
  return SIK_AIR_SPEEDS.find((s) => s >= setting) ?? SIK_AIR_SPEEDS[SIK_AIR_SPEEDS.length - 1];
}

/** SERIAL_SPEED in the "one-byte form" APM uses: 57 means 57,600 baud. */
export const SIK_SERIAL_SPEEDS: Readonly<Record<number, number>> = { 1: 1200, 2: 2400, 4: 4800, 9: 9600, 19: 19200, 38: 38400, 57: 57600, 115: 115200, 230: 230400 };

/** Parses ATI5 output (`S3: NETID=25` lines) into name → value; lines of other shapes are ignored. */
export function parseSikParameters(lines: string[]): Map<string, { register: number; value: number }> {
  const out = new Map<string, { register: number; value: number }>();
  for (const line of lines) {
    const m = /^S(\d+)\s*:\s*([A-Z0-9_]+)\s*=\s*(-?\d+)\s*$/.exec(line.trim());
    if (m) out.set(m[2]!, { register: Number(m[1]), value: Number(m[3]) });
  }
  return out;
}

export interface SikAtOptions {
  /** Timers for the guard time and reply timeouts (a SystemClock on a real radio). */
  clock: Clock;
  /** Silence before and after `+++`, ms. SiK needs 1 s; tests against the simulator shorten it. */
  guardMs?: number;
  /** How long to wait for a reply from the local radio, ms (default 1000). */
  replyMs?: number;
  /** How long to wait for a reply from the remote radio (RT commands travel over the air), ms (default 3000). */
  remoteReplyMs?: number;
  /** A multi-line reply (ATI5) is complete after this much quiet, ms (default 200; three times that for RT). */
  quietMs?: number;
}

type Prefix = 'AT' | 'RT';

/** An AT-command conversation with a SiK radio on an open link. */
export class SikAtSession {
  private text = '';
  private readonly onData = (chunk: Buffer) => {
    // Keep only the tail: a radio passing MAVLink through before +++ must not grow this forever.
    this.text = (this.text + chunk.toString('latin1')).slice(-8192);
    this.changed?.();
  };
  private changed: (() => void) | undefined;
  readonly guardMs: number;
  inCommandMode = false;

  constructor(
    private readonly link: Link,
    private readonly opts: SikAtOptions,
  ) {
    this.guardMs = opts.guardMs ?? 1000;
    link.on('data', this.onData);
  }

  close(): void {
    this.link.off('data', this.onData);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.opts.clock.setTimeout(resolve, ms));
  }

  /**
   * Waits until `done(text)` returns a result, re-checking on every chunk; undefined after `ms`.
   * `quietMs`: also settle when nothing arrived for that long and `quiet(text)` has a result.
   */
  private waitFor<T>(ms: number, done: (text: string) => T | undefined, quiet?: { ms: number; result: (text: string) => T | undefined }): Promise<T | undefined> {
    return new Promise((resolve) => {
      let quietTimer: TimerHandle | undefined;
      const finish = (v: T | undefined) => {
        this.opts.clock.clearTimeout(deadline);
        this.opts.clock.clearTimeout(quietTimer);
        this.changed = undefined;
        resolve(v);
      };
      const check = () => {
        const v = done(this.text);
        if (v !== undefined) return finish(v);
        if (quiet) {
          this.opts.clock.clearTimeout(quietTimer);
          quietTimer = this.opts.clock.setTimeout(() => {
            const q = quiet.result(this.text);
            if (q !== undefined) finish(q);
          }, quiet.ms);
        }
      };
      const deadline = this.opts.clock.setTimeout(() => finish(undefined), ms);
      this.changed = check;
      check();
    });
  }

  /**
   * `+++` with the guard time either side. Resolves true once the radio said OK. A radio already in
   * command mode treats `+++` as a command line, so a plain `AT` is tried first when asked to.
   */
  async enterCommandMode(): Promise<boolean> {
    // Guard time before: the radio only listens for +++ after 1 s without serial input. Wait a
    // fifth longer, so timer granularity on either side (SiK counts 10 ms ticks) cannot cut it short.
    await this.sleep(Math.ceil(this.guardMs * 1.2));
    this.text = '';
    this.link.write(Buffer.from('+++'));
    // …and it answers only after 1 s without input after the third '+': write nothing meanwhile.
    const ok = await this.waitFor(this.guardMs + (this.opts.replyMs ?? 1000), (t) => (/(^|\n)OK\r?\n/.test(t) ? true : undefined));
    // A radio left in command mode (an earlier setup cut short) took "+++" as the start of a
    // command line: end that line, then a bare AT answers OK.
    this.inCommandMode = ok === true || (await this.command('\rAT', 'ok'))?.includes('OK') === true;
    return this.inCommandMode;
  }

  /**
   * Sends one command line and returns the reply lines (the echo removed). `expect`:
   * `ok` waits for OK/ERROR, `line` for one line, `lines` until the radio falls quiet.
   * Undefined when nothing came in time.
   */
  async command(cmd: string, expect: 'ok' | 'line' | 'lines'): Promise<string[] | undefined> {
    const upper = cmd.toUpperCase();
    const remote = upper.startsWith('RT');
    this.text = '';
    this.link.write(Buffer.from(`${cmd}\r`));
    const linesOf = (t: string): { lines: string[]; partial: string } => {
      const parts = t.split(/\r?\n/);
      const partial = parts.pop() ?? '';
      return { lines: parts.map((l) => l.trim()).filter((l) => l !== '' && l !== upper), partial };
    };
    const timeout = remote ? (this.opts.remoteReplyMs ?? 3000) : (this.opts.replyMs ?? 1000);
    if (expect === 'ok') {
      return this.waitFor(timeout, (t) => {
        const { lines } = linesOf(t);
        return lines.some((l) => l === 'OK' || l === 'ERROR') ? lines : undefined;
      });
    }
    if (expect === 'line') {
      return this.waitFor(timeout, (t) => {
        const { lines } = linesOf(t);
        return lines.length > 0 ? lines.slice(0, 1) : undefined;
      });
    }
    return this.waitFor(timeout, () => undefined, {
      // A remote listing comes over the air in several TDM slots: allow longer gaps in it.
      ms: (this.opts.quietMs ?? 200) * (remote ? 3 : 1),
      result: (t) => {
        const { lines } = linesOf(t);
        return lines.length > 0 ? lines : undefined;
      },
    });
  }

  /** Leaves command mode without rebooting (ATO); the radio passes data again. */
  async leave(): Promise<void> {
    this.link.write(Buffer.from('ATO\r'));
    this.inCommandMode = false;
    // As after ATZ: the line must leave before the port closes.
    await this.sleep(100);
  }

  /** Reboots the radio (ATZ / RTZ); it comes back in data mode with the EEPROM's parameters. */
  async reboot(prefix: Prefix = 'AT'): Promise<void> {
    this.link.write(Buffer.from(`${prefix}Z\r`));
    if (prefix === 'AT') this.inCommandMode = false;
    // Let the line go out before the caller closes the port (the radio answers nothing to ATZ).
    await this.sleep(100);
  }
}

/** What `canopy radio setup` may change. */
export interface SikSetupRequest {
  netid?: number;
  airSpeed?: number;
  ecc?: boolean;
  /** MAVLink framing (and RADIO_STATUS injection): true is MAVLINK=1. */
  mavlink?: boolean;
  txPower?: number;
}

export interface SikSetupOptions extends SikAtOptions {
  /** Names the device in messages ("/dev/ttyUSB0 at 57600 baud"). */
  device: string;
  /** Also set the radio at the other end of the link (RT commands), before this one. */
  remote?: boolean;
  /** One line per step, for the user to watch. */
  progress?: (line: string) => void;
}

export interface SikSetupResult {
  banner: string;
  /** Values before and after, by register name, for every register the request named. */
  changes: { name: SikRegisterName; before: number; after: number }[];
  /** The radio's parameters as read before the change (ATI5). */
  parameters: Record<string, number>;
  rebooted: boolean;
}

/** Checks a request against the documented ranges before anything is sent to the radio. */
export function sikTargets(req: SikSetupRequest): { name: SikRegisterName; value: number }[] {
  const out: { name: SikRegisterName; value: number }[] = [];
  const bad = (what: string) => new HardwareError('CANOPY_ERR_BAD_ARGUMENT', what);
  if (req.netid !== undefined) {
    if (!Number.isInteger(req.netid) || req.netid < 0 || req.netid > 65535) throw bad(`--netid must be a whole number from 0 to 65535 (both radios of a pair need the same), got ${req.netid}`);
    out.push({ name: 'NETID', value: req.netid });
  }
  if (req.airSpeed !== undefined) {
    // The firmware would round an unsupported rate up at its next boot; refuse it instead so what
    // is written is what runs.
    if (!(SIK_AIR_SPEEDS as readonly number[]).includes(req.airSpeed)) throw bad(`--air-speed must be one of ${SIK_AIR_SPEEDS.join(', ')} (kbit/s), got ${req.airSpeed}`);
    out.push({ name: 'AIR_SPEED', value: req.airSpeed });
  }
  if (req.txPower !== undefined) {
    if (!Number.isInteger(req.txPower) || req.txPower < 1 || req.txPower > 30) throw bad(`--tx-power must be 1 to 30 dBm (20 on most 3DR/HolyBro radios, 30 on RFD900), got ${req.txPower}`);
    out.push({ name: 'TXPOWER', value: req.txPower });
  }
  if (req.ecc !== undefined) out.push({ name: 'ECC', value: req.ecc ? 1 : 0 });
  if (req.mavlink !== undefined) out.push({ name: 'MAVLINK', value: req.mavlink ? 1 : 0 });
  return out;
}

function noAnswer(device: string, what: string, fix: string): HardwareError {
  return new HardwareError('CANOPY_ERR_RADIO_NO_ANSWER', `${device}: ${what}. ${fix}`);
}

/** Configures one radio (prefix AT) or the far one (RT) in an open command-mode session. */
async function configure(s: SikAtSession, prefix: Prefix, targets: { name: SikRegisterName; value: number }[], opts: SikSetupOptions, where: string): Promise<Omit<SikSetupResult, 'rebooted'>> {
  const say = opts.progress ?? (() => {});
  const remoteFix = 'Is the drone-side radio powered and linked (its green LED solid)? Run without --remote to set only this radio.';
  const banner = (await s.command(`${prefix}I`, 'line'))?.[0];
  if (banner === undefined) throw noAnswer(opts.device, `the ${where} radio did not answer ${prefix}I`, prefix === 'RT' ? remoteFix : 'Try again; if it persists, power-cycle the radio.');
  say(`${where} radio: ${banner}`);
  const listing = await s.command(`${prefix}I5`, 'lines');
  const params = parseSikParameters(listing ?? []);
  if (params.size === 0) throw noAnswer(opts.device, `the ${where} radio did not list its parameters (${prefix}I5)`, prefix === 'RT' ? remoteFix : 'Is this a SiK radio? Other firmware does not speak this command set.');
  const parameters = Object.fromEntries([...params].map(([k, v]) => [k, v.value]));
  const changes: SikSetupResult['changes'] = [];
  for (const t of targets) {
    const cur = params.get(t.name);
    if (!cur) throw new HardwareError('CANOPY_ERR_RADIO_REFUSED', `${opts.device}: the ${where} radio has no ${t.name} parameter (its firmware lists ${[...params.keys()].join(', ')})`);
    changes.push({ name: t.name, before: cur.value, after: t.value });
  }
  const todo = changes.filter((c) => c.before !== c.after);
  for (const c of changes) say(c.before === c.after ? `  ${c.name} is already ${c.after}` : `  ${c.name} ${c.before} -> ${c.after}`);
  if (todo.length === 0) return { banner, changes, parameters };
  for (const c of todo) {
    const reg = params.get(c.name)!.register;
    const reply = await s.command(`${prefix}S${reg}=${c.after}`, 'ok');
    if (reply === undefined) throw noAnswer(opts.device, `the ${where} radio did not answer ${prefix}S${reg}=${c.after}`, prefix === 'RT' ? remoteFix : 'Nothing was saved; power-cycle the radio and try again.');
    if (!reply.includes('OK')) {
      throw new HardwareError('CANOPY_ERR_RADIO_REFUSED', `${opts.device}: the ${where} radio refused ${c.name}=${c.after} (S${reg}); nothing was saved and it is rebooting with its old settings. Check the value against the radio's limits (TXPOWER, for one, is 20 dBm at most on 3DR/HolyBro radios).`);
    }
  }
  const saved = await s.command(`${prefix}&W`, 'ok');
  if (!saved?.includes('OK')) throw new HardwareError('CANOPY_ERR_RADIO_REFUSED', `${opts.device}: the ${where} radio did not confirm writing its EEPROM (${prefix}&W); it reboots with its old settings`);
  say(`  written to EEPROM`);
  // Read back what the radio now holds: a value it took but altered is a failure, not a success.
  for (const c of todo) {
    const reg = params.get(c.name)!.register;
    const line = (await s.command(`${prefix}S${reg}?`, 'line'))?.[0];
    const read = line !== undefined && /^\d+$/.test(line) ? Number(line) : undefined;
    if (read !== c.after) {
      throw new HardwareError('CANOPY_ERR_RADIO_VERIFY', `${opts.device}: the ${where} radio reads back ${c.name}=${read ?? `"${line ?? 'nothing'}"`} after ${c.after} was written. Its firmware may not support that value; run "canopy radio setup" again, and update the radio's firmware if it persists.`);
    }
  }
  say(`  read back: ${todo.map((c) => `${c.name}=${c.after}`).join(', ')}`);
  return { banner, changes, parameters };
}

/**
 * Sets the requested parameters on a SiK radio whose serial port `link` has open, verifies them
 * and reboots the radio. On any refusal the radio is rebooted without saving, so it keeps the
 * settings it had. With `remote`, the far radio is set first (changing the near one first would
 * cut the link the RT commands travel on).
 */
export async function setupSikRadio(link: Link, req: SikSetupRequest, opts: SikSetupOptions): Promise<SikSetupResult & { remote?: SikSetupResult }> {
  const targets = sikTargets(req);
  const say = opts.progress ?? (() => {});
  const s = new SikAtSession(link, opts);
  try {
    say(`${opts.device}: entering command mode (${s.guardMs} ms of silence, "+++", ${s.guardMs} ms of silence)`);
    if (!(await s.enterCommandMode())) {
      throw noAnswer(
        opts.device,
        'no "OK" after "+++": the radio did not enter AT command mode',
        'Check that this is the radio\'s port ("ls -l /dev/serial/by-id"), that the baud rate matches its SERIAL_SPEED (SiK ships at 57600; try --baud 115200), and that nothing else (canopy start, Mission Planner, MAVProxy) has the port open.',
      );
    }
    say('command mode');
    let remote: SikSetupResult | undefined;
    if (opts.remote) {
      try {
        const r = await configure(s, 'RT', targets, opts, 'remote');
        const changed = r.changes.some((c) => c.before !== c.after);
        if (changed) {
          await s.reboot('RT');
          say('remote radio rebooting with its new settings');
        }
        remote = { ...r, rebooted: changed };
      } catch (e) {
        await s.reboot('RT');
        throw e;
      }
    }
    let local: Omit<SikSetupResult, 'rebooted'>;
    try {
      local = await configure(s, 'AT', targets, opts, 'local');
    } catch (e) {
      // ATZ without AT&W: the radio boots from its EEPROM, as it was.
      await s.reboot('AT');
      throw e;
    }
    const changed = local.changes.some((c) => c.before !== c.after);
    if (changed) {
      await s.reboot('AT');
      say('rebooting the radio with its new settings');
    } else {
      await s.leave();
      say('nothing to change; left command mode');
    }
    return { ...local, rebooted: changed, remote };
  } finally {
    s.close();
  }
}
