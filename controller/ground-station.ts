/**
 * The ground station assembled: Canopy's MAVLink node on the drone radios and the pilots' GCS
 * endpoints, vehicle sessions, the router, the tlog, and — when configured — the MQTT mesh with
 * the drones on it and the uplink relay. `canopy start` builds one of these around real links or
 * the simulator's; tests build one around in-memory links.
 */
import type { ChannelSigning } from '../firmware-bridge/channel.ts';
import type { Clock } from '../firmware-bridge/clock.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { silentLogger, type Logger } from '../firmware-bridge/log.ts';
import { MavlinkNode } from '../firmware-bridge/node.ts';
import { Router } from '../firmware-bridge/router.ts';
import { TlogWriter, type TlogSink } from '../firmware-bridge/tlog.ts';
import { StreamKeeper, VehicleManager } from '../firmware-bridge/vehicles/index.ts';
import { DEFAULT_RADIO_BAUD, DroneBridge } from './drone-bridge.ts';
import { STREAM_RATES } from './telemetry.ts';
import { Mesh, type MeshOptions } from './mesh/mesh.ts';
import { Relay, type RelayOptions } from './relay/relay.ts';

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
  mesh?: MeshOptions;
  relay?: Omit<RelayOptions, 'mesh' | 'clock' | 'log'>;
  log?: Logger;
}

export class GroundStation {
  readonly node: MavlinkNode;
  readonly vehicles: VehicleManager;
  /** Asks every drone for its telemetry and measures what it sends. */
  readonly streams: StreamKeeper;
  readonly router: Router;
  readonly tlog: TlogWriter | undefined;
  readonly mesh: Mesh | undefined;
  readonly relay: Relay | undefined;
  readonly drones: DroneBridge | undefined;
  private readonly links: Link[];
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
    if (opts.mesh) {
      this.mesh = new Mesh({ clock: opts.clock, log: this.log.child('mesh'), ...opts.mesh });
      const bauds = new Map(opts.droneLinks.map((l) => [l.name, l.baud ?? DEFAULT_RADIO_BAUD]));
      this.drones = new DroneBridge(this.node, this.vehicles, this.mesh, this.log.child('drones'), this.streams, (name) => bauds.get(name) ?? DEFAULT_RADIO_BAUD);
      if (opts.relay) this.relay = new Relay({ ...opts.relay, mesh: this.mesh, clock: opts.clock, log: this.log });
    }
  }

  /** Starts everything; if a part fails (a port in use, say), what already started is stopped again. */
  async start(): Promise<void> {
    try {
      this.tlog?.start();
      this.vehicles.start();
      this.streams.start();
      this.router.start();
      if (this.mesh) {
        await this.mesh.start();
        this.drones!.start();
        await this.relay?.start();
      }
      for (const link of this.links) {
        link.on('down', (reason) => this.log.warn('link down', { link: link.url, reason }));
        link.on('up', () => this.log.info('link up', { link: link.url }));
        link.on('peer-new', (peer, known) => this.log.warn(`${link.url}: a new peer ${peer} (heard before: ${known.join(', ')}); pin the link with ?peer=host:port to take only one`));
        await link.start();
      }
      this.node.start();
    } catch (e) {
      await this.stop().catch((stopError: unknown) => this.log.error('stopping after a failed start failed', { error: String(stopError) }));
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.node.stop();
    for (const link of this.links) await link.stop();
    await this.relay?.stop();
    this.drones?.stop();
    await this.mesh?.stop();
    this.router.stop();
    this.streams.stop();
    this.vehicles.stop();
    await this.tlog?.stop();
  }
}
