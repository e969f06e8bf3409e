import { access, constants } from 'node:fs/promises';
import { SerialPort } from 'serialport';
import type { Clock, TimerHandle } from '../clock.ts';
import { CanopyError } from '../errors.ts';
import { Backoff, BaseLink } from './link.ts';

/** Turns an open() failure into the error a Pi owner can act on. */
async function openError(path: string, err: Error): Promise<Error> {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const text = `${code} ${err.message}`;
  if (/ENOENT|No such file/i.test(text)) {
    return new CanopyError('CANOPY_ERR_SERIAL_NOT_FOUND', `serial device ${path} does not exist: is the radio plugged in? "ls /dev/serial/by-id" lists what is attached`, { cause: err });
  }
  if (/EACCES|Permission denied/i.test(text)) {
    return new CanopyError('CANOPY_ERR_SERIAL_PERMISSION', `no permission to open ${path}: add your user to the dialout group ("sudo usermod -aG dialout $USER", then log in again)`, { cause: err });
  }
  return err;
}

export interface SerialLinkOptions {
  /** Keep retrying when the device is absent at start instead of failing (a radio plugged in later). */
  waitForDevice?: boolean;
}

/**
 * `serial:/dev/ttyUSB0?baud=57600`. When the device disappears (USB radio unplugged, pseudo-
 * terminal closed) the link goes down and re-opens with backoff until the device is back.
 */
export class SerialLink extends BaseLink {
  private port: SerialPort | undefined;
  private running = false;
  private retry: TimerHandle | undefined;
  private readonly backoff = new Backoff(250, 2000);

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
    try {
      await this.open();
    } catch (err) {
      if (!this.opts.waitForDevice) {
        this.running = false;
        throw await openError(this.path, err as Error);
      }
      this.scheduleReopen();
    }
  }

  private open(): Promise<void> {
    return new Promise((resolve, reject) => {
      const port = new SerialPort({ path: this.path, baudRate: this.baud, autoOpen: false });
      port.open((err) => {
        if (err) return reject(err);
        if (!this.running) {
          port.close();
          return resolve();
        }
        this.port = port;
        this.backoff.reset();
        port.on('data', (chunk: Buffer) => this.received(chunk, this.path));
        port.on('error', (e) => this.emit('error', e));
        port.on('close', () => this.onClosed(port));
        this.setUp();
        resolve();
      });
    });
  }

  private onClosed(port: SerialPort): void {
    if (this.port !== port) return;
    this.port = undefined;
    this.setDown('device closed');
    if (this.running) {
      this.stats.reconnects++;
      this.scheduleReopen();
    }
  }

  private scheduleReopen(): void {
    this.retry = this.clock.setTimeout(() => {
      if (!this.running) return;
      this.open().catch(async (err) => {
        this.emit('error', await openError(this.path, err as Error));
        if (this.running) this.scheduleReopen();
      });
    }, this.backoff.next());
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.retry);
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

/** Whether the current user may open `path` (for `canopy doctor` and clearer errors). */
export async function canOpen(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
