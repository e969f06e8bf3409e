import { stat } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import type { Clock, TimerHandle } from '../clock.ts';
import { MavlinkError, isCodedError } from '../errors.ts';
import { Backoff, BaseLink } from './link.ts';

/**
 * Turns an open() failure into the error a Pi owner can act on. The native binding reports errno
 * only as text ("Error: <strerror>, cannot open <path>", @serialport/bindings-cpp
 * serialport_unix.cpp), so the message is matched.
 */
export function serialOpenError(path: string, err: Error): Error {
  const text = `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`;
  if (/ENOENT|No such file/i.test(text)) {
    return new MavlinkError('CANOPY_ERR_SERIAL_NOT_FOUND', `serial device ${path} does not exist: is the radio plugged in? "ls /dev/serial/by-id" lists what is attached`, { cause: err });
  }
  if (/EACCES|Permission denied/i.test(text)) {
    return new MavlinkError('CANOPY_ERR_SERIAL_PERMISSION', `no permission to open ${path}: add your user to the dialout group ("sudo usermod -aG dialout $USER", then log in again)`, { cause: err });
  }
  return err;
}

export interface SerialLinkOptions {
  /** Keep retrying when the device is absent at start instead of failing (a radio plugged in later). */
  waitForDevice?: boolean;
  /** How often the open device's path is checked for removal or replacement, in ms (default 500). */
  checkIntervalMs?: number;
  /** How often an absent device's path is looked for, in ms (default 250). */
  absentPollMs?: number;
}

/** Which device node a path names; a re-plugged radio gets a new node at the same path. */
async function deviceIdentity(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.dev}:${s.ino}:${s.rdev}`;
}

/**
 * `serial:/dev/ttyUSB0?baud=57600`. When the device disappears (USB radio unplugged, pseudo-
 * terminal closed) the link goes down and re-opens with backoff until the device is back.
 *
 * serialport does not report an unplug itself: a hung-up tty reads 0 bytes and its binding
 * retries that read without end (serialport/bindings-cpp#162). So while open, the link checks on
 * the clock that its path still names the node it opened, and closes the port when it does not.
 */
export class SerialLink extends BaseLink {
  private port: SerialPort | undefined;
  private running = false;
  private retry: TimerHandle | undefined;
  private check: TimerHandle | undefined;
  private readonly backoff = new Backoff(250, 2000);
  /** Set on the first open after start(); later opens count as reconnects. */
  private openedBefore = false;
  /** The device's absence has been reported once in this outage. */
  private reportedAbsent = false;

  constructor(
    url: string,
    private readonly path: string,
    private readonly baud: number,
    private readonly clock: Clock,
    private readonly opts: SerialLinkOptions = {},
  ) {
    super(url);
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.openedBefore = false;
    try {
      await this.open();
    } catch (err) {
      if (!this.opts.waitForDevice) {
        this.running = false;
        throw serialOpenError(this.path, err as Error);
      }
      this.scheduleReopen();
    }
  }

  private async open(): Promise<void> {
    const identity = await deviceIdentity(this.path);
    await new Promise<void>((resolve, reject) => {
      const port = new SerialPort({ path: this.path, baudRate: this.baud, autoOpen: false });
      port.open((err) => {
        if (err) return reject(err);
        if (!this.running) {
          port.close();
          return resolve();
        }
        this.port = port;
        this.backoff.reset();
        this.reportedAbsent = false;
        if (this.openedBefore) this.stats.reconnects++;
        this.openedBefore = true;
        port.on('data', (chunk: Buffer) => this.received(chunk, this.path));
        port.on('error', (e) => this.emit('error', e));
        port.on('close', () => this.onClosed(port, 'device closed'));
        this.check = this.clock.setInterval(() => this.checkDevice(port, identity), this.opts.checkIntervalMs ?? 500);
        this.setUp();
        resolve();
      });
    });
  }

  private checkDevice(port: SerialPort, identity: string): void {
    deviceIdentity(this.path)
      .then((now) => now === identity)
      .catch(() => false)
      .then((same) => {
        if (same || this.port !== port) return;
        this.onClosed(port, 'device gone');
        port.close();
      });
  }

  private onClosed(port: SerialPort, reason: string): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.clock.clearInterval(this.check);
    this.setDown(reason);
    if (this.running) this.scheduleReopen();
  }

  /**
   * While the device is absent its path is looked for every `absentPollMs` (a stat, cheap), so a
   * radio plugged back in is open within that time however long it was gone, and the absence is
   * reported once per outage. A device that is there but fails to open (permissions, busy) is
   * retried with backoff (250 ms doubling to 2 s) and each failure is reported.
   */
  private scheduleReopen(delayMs = this.backoff.next()): void {
    this.retry = this.clock.setTimeout(() => {
      if (!this.running) return;
      this.open().catch((err) => {
        if (!this.running) return;
        const e = serialOpenError(this.path, err as Error);
        const absent = isCodedError(e, 'CANOPY_ERR_SERIAL_NOT_FOUND');
        if (!absent || !this.reportedAbsent) this.emit('error', e);
        this.reportedAbsent ||= absent;
        this.scheduleReopen(absent ? (this.opts.absentPollMs ?? 250) : undefined);
      });
    }, delayMs);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.retry);
    this.clock.clearInterval(this.check);
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    if (!this.port?.isOpen) {
      this.stats.dropsOut++;
      return;
    }
    this.port.write(data);
    this.sent(data.length);
  }
}
