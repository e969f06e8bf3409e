/**
 * A station device read over VE.Direct (the charge controller, the battery monitor): its reader
 * on the configured URL, its connection and outages logged, and its latest reading while fresh.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import { VeDirectReader, type VeDirectDecoder, type VeDirectReaderOptions } from '../../hardware/vedirect.ts';

/** A reading older than this is not used, ms. */
export const VEDIRECT_STALE_MS = 10_000;

export interface VeDirectDeviceOptions {
  /** VE.Direct link URL (serial:/dev/ttyUSB1; 19200 baud unless the URL says otherwise). */
  url: string;
  /** A reading older than this is not used, ms. Default VEDIRECT_STALE_MS (10 s). */
  staleMs?: number;
  clock: Clock;
  log?: Logger;
  /** For tests: read from this link instead of opening the URL. */
  link?: VeDirectReaderOptions['link'];
}

export class VeDirectDevice<R extends { atMs: number }> {
  readonly reader: VeDirectReader<R>;
  protected readonly log: Logger;
  protected readonly clock: Clock;
  protected readonly staleMs: number;

  /** `what` names the device in log lines ("charge controller"). */
  constructor(what: string, decode: VeDirectDecoder<R>, opts: VeDirectDeviceOptions) {
    this.log = (opts.log ?? silentLogger).child(what.replace(/ /g, '-'));
    this.clock = opts.clock;
    this.staleMs = opts.staleMs ?? VEDIRECT_STALE_MS;
    this.reader = new VeDirectReader(opts.url, decode, { clock: opts.clock, link: opts.link });
    this.reader.on('up', () => this.log.info(`${what} connected`, { url: this.reader.url }));
    // Its own stop takes the link down too: that is no outage to warn of.
    this.reader.on('down', (reason) => !this.stopping && this.log.warn(`${what} disconnected; reconnecting`, { url: this.reader.url, reason }));
    // The serial link says an absent device once per outage: pass it on, with where to look.
    this.reader.on('error', (e: Error) => this.log.warn(`${what}: ${e.message}`, { url: this.reader.url, hint: 'canopy doctor lists the serial devices present' }));
  }

  async start(): Promise<void> {
    await this.reader.start();
  }

  private stopping = false;

  async stop(): Promise<void> {
    this.stopping = true;
    await this.reader.stop();
  }

  /** The latest reading, unless it is older than `staleMs`. */
  get reading(): R | undefined {
    const r = this.reader.last;
    if (!r || this.clock.now() - r.atMs > this.staleMs) return undefined;
    return r;
  }

  /** For a status line when there is no fresh reading: why. */
  get whyNoReading(): string {
    return this.reader.isUp ? `no valid block in the last ${this.staleMs / 1000} s` : 'not connected (reconnecting)';
  }
}
