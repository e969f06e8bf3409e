/**
 * The composition root (zigbee2mqtt's lib/controller.ts): one Application, built from the
 * validated, frozen configuration and an Environment — what differs between a real site and a
 * simulated one: the links, the clock, the site's sensors, the uplink's far end. It makes the
 * parts (constructors only store), lists them as extensions in the order they must start, and
 * starts and stops that list: a part that fails to start stops every part already started, in
 * reverse. Cross-part inputs travel on its typed bus (bus.ts).
 *
 * Order: the MAVLink sessions, the mesh, the drones' state on it, the relay (it listens for the
 * power grant before the site first grants), the charge controller and the battery monitor, the
 * site, the outside forecast's feed into its budget, the admin actions, the dashboard — and last
 * the radios, so no frame arrives before every listener is in place.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import type { Logger } from '../../firmware-bridge/log.ts';
import type { TlogSink } from '../../firmware-bridge/tlog.ts';
import { meshOptions, type CanopyConfig } from '../config.ts';
import { DroneBridge } from '../drone-bridge.ts';
import { GroundStation, type GroundStationOptions } from '../ground-station.ts';
import { Mesh, type MeshOptions } from '../mesh/mesh.ts';
import type { MeshUser } from '../mesh/users.ts';
import { BatteryMonitor, type BatteryMonitorOptions } from '../power/battery-monitor.ts';
import { ChargeController, type ChargeControllerOptions } from '../power/charge-controller.ts';
import { ForecastFeed, type ForecastFeedSettings, type UplinkAccess } from '../power/forecast-feed.ts';
import { Relay, type RelayOptions } from '../relay/relay.ts';
import { Downlink, type DownlinkSettings } from '../relay/downlink.ts';
import { hotCache, MeshRequester } from '../relay/hot-cache.ts';
import { SiteController, type SiteOptions } from '../site.ts';
import { EventBus } from './bus.ts';
import type { Extension } from './extension.ts';
import { ActionsExtension } from './extensions/actions.ts';
import { BridgeExtension, RadiosExtension } from './extensions/bridge.ts';
import { DashboardExtension } from './extensions/dashboard.ts';
import { PartExtension } from './extensions/part.ts';
import { RelayExtension } from './extensions/relay.ts';

/** What the application runs on: everything a real site and a simulated one do not share. */
export interface Environment {
  clock: Clock;
  log: Logger;
  /** The mesh's users (users.json, and the simulated phone when there is one). */
  users: MeshUser[];
  droneLinks: GroundStationOptions['droneLinks'];
  gcsLinks: NonNullable<GroundStationOptions['gcsLinks']>;
  tlog?: string | TlogSink;
  /** A drone without HEARTBEAT for this long is lost (default: the vehicle manager's). */
  lostAfterMs?: number;
  /** The site the fleet flies, with its sensors; absent: Canopy does not fly a fleet here. */
  site?: Omit<SiteOptions, 'clock' | 'vehicles' | 'mesh' | 'bus' | 'log'>;
  /** Where the power budget's outside weather forecast comes from (docs/forecast.md); absent: it forecasts from the measured sky alone. Needs `site`. */
  forecast?: ForecastFeedSettings;
  /** The uplink relay and its dish; absent: none. */
  relay?: Omit<RelayOptions, 'mesh' | 'clock' | 'log' | 'grant'>;
  /** Prefetch into the phone's hot cache through the relay's dish (docs/prefetch.md); needs `relay`. Absent: none. */
  downlink?: DownlinkSettings;
  /** The station's charge controller; absent: none. */
  chargeController?: Omit<ChargeControllerOptions, 'clock' | 'log'>;
  /** The station battery's monitor; absent: the budget integrates the station battery. */
  batteryMonitor?: Omit<BatteryMonitorOptions, 'clock' | 'log'>;
  /**
   * false: no mesh at all (a bench flying the fleet alone; then no drone state, relay, actions or
   * dashboard either). Otherwise laid over the configuration's listeners (a test's port 0).
   */
  mesh?: false | Partial<Omit<MeshOptions, 'users' | 'clock' | 'log'>>;
  /** The environment's own parts (the simulated world and its far ends): started before the application's, stopped after. */
  around?: Extension[];
}

export class Application {
  readonly bus: EventBus;
  readonly gs: GroundStation;
  readonly mesh: Mesh | undefined;
  readonly drones: DroneBridge | undefined;
  readonly relay: Relay | undefined;
  readonly site: SiteController | undefined;
  readonly chargeController: ChargeController | undefined;
  readonly batteryMonitor: BatteryMonitor | undefined;
  readonly forecastFeed: ForecastFeed | undefined;
  readonly downlink: Downlink | undefined;
  readonly extensions: readonly Extension[];
  private readonly dashboardExtension: DashboardExtension | undefined;
  private readonly log: Logger;
  private started: Extension[] = [];

  constructor(
    readonly config: CanopyConfig,
    readonly env: Environment,
  ) {
    const { clock } = env;
    const log = (this.log = env.log);
    this.bus = new EventBus(log);
    this.gs = new GroundStation({ clock, sysid: config.sysid, droneLinks: env.droneLinks, gcsLinks: env.gcsLinks, tlog: env.tlog, lostAfterMs: env.lostAfterMs, log });
    const mesh = env.mesh === false ? undefined : new Mesh({ ...meshOptions(config), ...env.mesh, users: env.users, clock, log });
    this.mesh = mesh;
    this.chargeController = env.chargeController && new ChargeController({ ...env.chargeController, clock, log });
    const cc = this.chargeController;
    this.batteryMonitor = env.batteryMonitor && new BatteryMonitor({ ...env.batteryMonitor, clock, log });
    const bm = this.batteryMonitor;
    this.site = env.site && new SiteController({ referenceGhi: cc && (() => cc.referenceGhiWm2()), stationSoc: bm?.stateOfCharge, ...env.site, clock, vehicles: this.gs.vehicles, mesh, bus: this.bus, log });
    let relayExtension: RelayExtension | undefined;
    if (mesh && env.relay) {
      const grant = this.site ? () => relayExtension?.granted ?? false : undefined;
      this.relay = new Relay({ ...env.relay, grant, mesh, clock, log });
      relayExtension = new RelayExtension(this.relay, this.bus);
    }
    const site = this.site;
    const relay = this.relay;
    // The forecast's fetch goes out when the relay has the dish up for it (it asks), or, without a relay, while the budget grants the uplink.
    const uplink: UplinkAccess = relay ? { ready: () => relay.linkReady, want: (on) => relay.want('forecast', on) } : { ready: () => site?.grant() ?? false, want: () => {} };
    this.forecastFeed = site && env.forecast && new ForecastFeed({ ...env.forecast, clock, log: log.child('forecast'), offer: (text, arrival) => site.power.offerForecast(text, arrival), uplink, mesh });
    // The downlink shares the relay's dish: it asks for the link as the forecast does, and a bulk item waits for the sun to pay for it.
    let downlinkExtension: Extension | undefined;
    if (mesh && relay && env.downlink) {
      const { agent, ...settings } = env.downlink;
      const requester = new MeshRequester(mesh);
      const downlink = new Downlink({
        ...settings,
        hot: hotCache(agent, requester.request),
        link: { ready: () => relay.linkReady, want: (on) => relay.want('downlink', on) },
        power: { granted: () => (site ? (relayExtension?.granted ?? false) : true), surplus: () => (site ? (site.budget?.decisions.uplinkOnSurplus ?? false) : true) },
        plan: env.relay!.plan,
        dishWatts: env.relay!.dish?.watts,
        mesh,
        clock,
        log,
      });
      this.downlink = downlink;
      downlinkExtension = {
        name: 'downlink',
        start: async () => {
          await requester.start();
          await downlink.start();
        },
        stop: async () => {
          await downlink.stop();
          await requester.stop();
        },
      };
    }
    this.drones = mesh && new DroneBridge({ node: this.gs.node, vehicles: this.gs.vehicles, mesh, bus: this.bus, log: log.child('drones'), streams: this.gs.streams, radioBaud: this.gs.radioBaud, fleetView: site?.fleetView, operatorLand: site?.operatorLand });
    const dashboard = config.dashboard;
    this.dashboardExtension = mesh && dashboard ? new DashboardExtension({ mesh, clock, log, host: dashboard.host, port: dashboard.port, discoveryPrefix: dashboard.homeAssistant }) : undefined;
    this.extensions = [
      ...(env.around ?? []),
      new BridgeExtension(this.gs, this.bus),
      ...(mesh ? [new PartExtension('mesh', mesh), new PartExtension('drone-state', this.drones!)] : []),
      ...(relayExtension ? [relayExtension] : []),
      ...(cc ? [new PartExtension('charge-controller', cc)] : []),
      ...(bm ? [new PartExtension('battery-monitor', bm)] : []),
      ...(site ? [new PartExtension('site', site)] : []),
      ...(this.forecastFeed ? [this.forecastFeed] : []),
      ...(downlinkExtension ? [downlinkExtension] : []),
      ...(mesh ? [new ActionsExtension({ mesh, clock, site, relay: this.relay, drones: this.drones, downlink: this.downlink })] : []),
      ...(this.dashboardExtension ? [this.dashboardExtension] : []),
      new RadiosExtension(this.gs),
    ];
  }

  get dashboard() {
    return this.dashboardExtension?.dashboard;
  }

  /** Starts every extension in order; if one fails, those started are stopped again (in reverse) and the error is thrown. */
  async start(): Promise<void> {
    if (this.started.length) throw new CanopyError('CANOPY_ERR_STATE', 'the application is already running');
    for (const ext of this.extensions) {
      try {
        await ext.start();
        this.started.push(ext);
      } catch (e) {
        this.log.error(`${ext.name} did not start: ${e instanceof Error ? e.message : String(e)}`);
        await ext.stop().catch(() => {});
        await this.stop();
        throw e;
      }
    }
  }

  /** Stops what started, last first; a part that fails to stop is logged and the others still stop. */
  async stop(): Promise<void> {
    for (const ext of this.started.splice(0).reverse()) {
      try {
        await ext.stop();
      } catch (e) {
        this.log.error(`${ext.name} did not stop cleanly: ${e instanceof Error ? e.message : String(e)}`);
      }
      this.bus.removeOwner(ext.name);
    }
  }
}
