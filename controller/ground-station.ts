/**
 * The MAVLink side of the station: Canopy's node on the drone radios and the pilots' GCS
 * endpoints, vehicle sessions, the stream keeper, the router and the tlog. The application
 * (app/application.ts) runs it as two extensions, "bridge" (everything but the links) first and
 * "radios" (the links and the node's heartbeat) last, so every other part listens before the
 * first frame arrives; tests build one around in-memory links and start() it whole.
 */
import type { ChannelSigning } from '../firmware-bridge/channel.ts';
import type { Clock } from '../firmware-bridge/clock.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { silentLogger, type Logger } from '../firmware-bridge/log.ts';
import { MavlinkNode } from '../firmware-bridge/node.ts';
import { Router } from '../firmware-bridge/router.ts';
import { TlogWriter, type TlogSink } from '../firmware-bridge/tlog.ts';
import { StreamKeeper, VehicleManager } from '../firmware-bridge/vehicles/index.ts';
import { DEFAULT_RADIO_BAUD } from './drone-bridge.ts';
import { STREAM_RATES } from './telemetry.ts';

export interface GroundStationOptions {
  clock: Clock;
  sysid?: number;
  /** Links to the drones' radios (started and stopped by the ground station); `baud`: the radio's air rate for the drones' shares (default 57,600). */
  droneLinks: { link: Link; name: string; baud?: number; signing?: ChannelSigning }[];
  /** Pilots' tools (QGroundControl, MAVProxy); `signing`: the link must sign (absent: trusted). */
  gcsLinks?: { link: Link; name: string; readOnly?: boolean; signing?: ChannelSigning }[];
  /** A vehicle without HEARTBEAT for this long is lost. */
  lostAfterMs?: number;
  tlog?: string | TlogSink;
  /** Telemetry asked of every drone, message id → Hz (0 off). Default: what the fleet and the budget read (fleet.ts STREAM_RATES). */
  streamRates?: Record<number, number>;
  log?: Logger;
}

export class GroundStation {
  readonly node: MavlinkNode;
  readonly vehicles: VehicleManager;
  /** Asks every drone for its telemetry and measures what it sends. */
  readonly streams: StreamKeeper;
  readonly router: Router;
  readonly tlog: TlogWriter | undefined;
  private readonly links: Link[];
  private readonly bauds: Map<string, number>;
  private readonly linkOffs: (() => void)[] = [];
  private readonly log: Logger;

  constructor(opts: GroundStationOptions) {
    this.log = opts.log ?? silentLogger;
    this.node = new MavlinkNode({ clock: opts.clock, sysid: opts.sysid ?? 255, logger: this.log.child('bridge') });
    // Each link has its own signing link id (the spec's replay streams are per link).
    let linkId = 0;
    for (const { link, name, signing } of opts.droneLinks) this.node.addLink(link, { name, kind: 'vehicles', signing, linkId: linkId++ });
    for (const { link, name, readOnly, signing } of opts.gcsLinks ?? []) this.node.addLink(link, { name, readOnly, signing, linkId: linkId++ });
    this.links = [...opts.droneLinks, ...(opts.gcsLinks ?? [])].map((l) => l.link);
    // Drones are what the drone radios carry: a GCS link cannot add one to the fleet.
    this.vehicles = new VehicleManager(this.node, { lostAfterMs: opts.lostAfterMs, vehicleChannelsOnly: true });
    this.streams = new StreamKeeper(this.node, this.vehicles, { rates: opts.streamRates ?? STREAM_RATES, log: this.log });
    this.router = new Router(this.node);
    this.tlog = opts.tlog ? new TlogWriter(this.node, opts.tlog) : undefined;
    this.bauds = new Map(opts.droneLinks.map((l) => [l.name, l.baud ?? DEFAULT_RADIO_BAUD]));
  }

  /** A drone channel's air rate (by channel name), baud. */
  readonly radioBaud = (channel: string): number => this.bauds.get(channel) ?? DEFAULT_RADIO_BAUD;

  /** Starts everything; if a part fails (a port in use, say), what already started is stopped again. */
  async start(): Promise<void> {
    await this.startSessions();
    try {
      await this.startLinks();
    } catch (e) {
      await this.stopSessions();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.stopLinks();
    await this.stopSessions();
  }

  /** The tlog, vehicle sessions, stream keeper and router: ready for frames, none arriving yet. */
  async startSessions(): Promise<void> {
    this.tlog?.start();
    this.vehicles.start();
    this.streams.start();
    this.router.start();
  }

  async stopSessions(): Promise<void> {
    this.router.stop();
    this.streams.stop();
    this.vehicles.stop();
    await this.tlog?.stop();
  }

  /** Opens the links and starts the node's heartbeat; a link that fails closes the others again. */
  async startLinks(): Promise<void> {
    try {
      for (const link of this.links) {
        const down = (reason: string) => this.log.warn('link down', { link: link.url, reason });
        const up = () => this.log.info('link up', { link: link.url });
        const peer = (peer: string, known: string[]) => this.log.warn(`${link.url}: a new peer ${peer} (heard before: ${known.join(', ')}); pin the link with ?peer=host:port to take only one`);
        link.on('down', down).on('up', up).on('peer-new', peer);
        this.linkOffs.push(() => link.off('down', down).off('up', up).off('peer-new', peer));
        await link.start();
      }
      this.node.start();
    } catch (e) {
      await this.stopLinks().catch((stopError: unknown) => this.log.error('closing the links after a failed start failed', { error: String(stopError) }));
      throw e;
    }
  }

  async stopLinks(): Promise<void> {
    this.node.stop();
    for (const off of this.linkOffs.splice(0)) off();
    for (const link of this.links) await link.stop();
  }
}
