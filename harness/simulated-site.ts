/**
 * The harness: the controller's Application (controller/app/) flying a simulated site. A scenario
 * is built into a world (sim/build.ts) and handed to the Application as its environment — the
 * world's shaped radios as the drone links, its clock, the site's profile from the scenario, the
 * satellite link and the cloud broker as the relay's far end. `canopy sim run` drives it as fast as
 * it goes, `canopy start` at 1×, the bench and the determinism test in between. This folder
 * imports both sides; the simulator and the controller import neither each other nor it, and the
 * controller only sees MAVLink on the radios, MQTT on the uplink and the clock.
 */
import type { Clock } from '../firmware-bridge/clock.ts';
import { silentLogger, type Logger } from '../firmware-bridge/log.ts';
import type { TlogSink } from '../firmware-bridge/tlog.ts';
import { Application, type Environment } from '../controller/app/application.ts';
import type { Extension } from '../controller/app/extension.ts';
import { gcsLinks } from '../controller/app/real-environment.ts';
import { defaultConfig, type CanopyConfig } from '../controller/config.ts';
import type { GroundStation } from '../controller/ground-station.ts';
import type { MeshOptions } from '../controller/mesh/mesh.ts';
import type { MeshUser } from '../controller/mesh/users.ts';
import type { PowerBudget } from '../controller/power/budget.ts';
import type { SiteController } from '../controller/site.ts';
import { buildSim, startMs, type BuiltSim, type SimEvent } from '../sim/build.ts';
import { recordedSkyIndex } from '../sim/sun.ts';
import { Upstream } from '../sim/cloud.ts';
import { runFast, runRealTime } from '../sim/runner.ts';
import { isInContact, DISH_PROFILES, SatelliteLink } from '../sim/satellite.ts';
import { WeatherService } from '../sim/weather-service.ts';
import { ContentServer, type ContentItem } from '../sim/content-server.ts';
import type { DownlinkSettings } from '../controller/relay/downlink.ts';
import type { Scenario } from '../sim/scenario.ts';
import type { WorldSample } from '../sim/world.ts';
import { SimMppt } from '../sim/vedirect.ts';
import { createMemoryPair } from '../firmware-bridge/links/memory.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { CanopyError } from '../common/errors.ts';

/** One row of the run's record: the world's truth and the controller's view, every sample. */
export interface SiteSample extends WorldSample {
  stations: number;
  manned: number;
  uplinkGranted: boolean;
  inContact: boolean;
  stationSoc: number;
  cloudCorrection: number;
  expectedGhiWm2: number;
}

export interface SimulatedSiteOptions {
  scenario: Scenario;
  seed: number;
  tlog?: string | TlogSink;
  /** The station's configuration (sysid, mesh, dashboard, links.gcs); default: the defaults without the dashboard and GCS links. */
  config?: CanopyConfig;
  /** The mesh: its users and what to lay over the configuration's listeners (tests: port 0); absent: no mesh. */
  mesh?: Partial<Omit<MeshOptions, 'clock' | 'log'>> & { users?: MeshUser[] };
  /**
   * The station's charge controller simulated on a VE.Direct link (sim/vedirect.ts under the
   * world's sky), read by the controller's own ChargeController as on a Pi; its panel is then the
   * budget's reference cell. Absent: the reference cell reads the world's sky directly (the
   * benches, whose figures were measured so).
   */
  chargeController?: { panelWp: number };
  /**
   * The simulated weather service (sim/weather-service.ts: Open-Meteo's format, the scenario's sky
   * with its `weather.forecast` error) behind the simulated satellite link, and the site fetching
   * its outside forecast there: through the relay's dish when the site has one (withUplink), else
   * through a satellite link powered while the budget grants the uplink. Default off.
   */
  weatherService?: boolean;
  /**
   * The simulator's content server (sim/content-server.ts) with these items, behind the simulated
   * satellite link as the weather service is: reachable only while the dish is up in a window.
   * The downlink's upstream (docs/prefetch.md). Absent: none.
   */
  content?: Record<string, ContentItem>;
  /** The downlink filling the phone's hot cache (needs withUplink: it shares the relay's dish). Absent: none. */
  downlink?: DownlinkSettings;
  log?: Logger;
}

/** The simulated far side of the uplink: the satellite link and the cloud broker behind it. */
export interface SimulatedUplink {
  satellite: SatelliteLink;
  cloud: Upstream;
}

/** Upstream topics of the simulated site's relay. */
export const SIM_UPSTREAM_PREFIX = 'canopy/sim';
/** The relayed items the simulated cloud keeps (the newest): a day's backup chunks would be hundreds of MB. */
export const SIM_CLOUD_KEEP = 32;

export class SimulatedSite {
  readonly sim: BuiltSim;
  readonly app: Application;
  readonly events: (SimEvent & { firedAtMs: number })[] = [];
  private readonly log: Logger;

  private uplink: SimulatedUplink | undefined;
  /** The simulated weather service (weatherService), and the URL the site fetches through the satellite once it runs. */
  readonly weather: WeatherService | undefined;
  private forecastUrl = '';
  /** The simulated content server (content), and its port through the satellite once it runs. */
  readonly content: ContentServer | undefined;
  private contentPort = 0;

  /**
   * The site with the storage relay on: its uplink bridge reaches a simulated cloud broker
   * through the simulated satellite link (loopback TCP, cut outside contact windows, shaped to
   * the scenario's capacity and latency), and the relay powers the dish only when the power
   * budget grants it. Needs `mesh`.
   */
  static async withUplink(opts: SimulatedSiteOptions & { outboxPath: string }): Promise<SimulatedSite> {
    const sim = buildSim(opts.scenario, opts.seed);
    const cloud = await Upstream.start(SIM_UPSTREAM_PREFIX, { keep: SIM_CLOUD_KEEP });
    const dish = DISH_PROFILES[opts.scenario.satellite.dish];
    const satellite = new SatelliteLink({
      clock: sim.clock,
      targetPort: cloud.port,
      capacityBitsPerSec: opts.scenario.satellite.capacityMbps * 1e6,
      latencyMs: opts.scenario.satellite.latencyMs,
      windows: sim.contacts,
      dish: opts.scenario.satellite.dish,
      powered: false,
    });
    try {
      await satellite.start();
    } catch (e) {
      await cloud.stop();
      throw e;
    }
    const site = new SimulatedSite(opts, sim, {
      path: opts.outboxPath,
      origin: 'sim',
      upstream: { url: `mqtt://127.0.0.1:${satellite.port}`, topicPrefix: SIM_UPSTREAM_PREFIX },
      plan: sim.contacts,
      dish: { watts: dish.activeW, power: (on) => void satellite.setPowered(on) },
    });
    site.uplink = { satellite, cloud };
    return site;
  }

  constructor(opts: SimulatedSiteOptions, sim?: BuiltSim, relay?: Environment['relay']) {
    this.log = opts.log ?? silentLogger;
    this.sim = sim ?? buildSim(opts.scenario, opts.seed);
    const config = opts.config ?? defaultConfig({ values: { dashboard: false, links: { gcs: [] } }, source: 'the simulated site' });
    const { users, ...meshOverrides } = opts.mesh ?? {};
    const env = simulatedEnvironment(opts.scenario, this.sim, this.log, () => this.dishOn());
    const around = [this.worldExtension, this.uplinkExtension, this.handsExtension];
    let chargeController: Environment['chargeController'];
    if (opts.chargeController) {
      const mppt = simulatedChargeController(this.sim, opts.chargeController.panelWp);
      chargeController = { url: 'memory:vedirect', panelWp: opts.chargeController.panelWp, link: mppt.link };
      around.push(mppt.extension);
      delete env.site!.referenceGhi;
    }
    if (opts.weatherService) {
      const f = opts.scenario.weather.forecast;
      this.weather = new WeatherService({ clock: this.sim.clock, sky: this.sim.sky, elevationM: opts.scenario.location.elevationM, error: { dailyError: f.dailyError, hourlyError: f.hourlyError, timingMs: f.timing }, seed: opts.seed * 4099 + 3 });
      const weather = this.weather;
      around.push(
        this.throughSatellite('simulated weather service', weather, (port) => {
          const { latitudeDeg, longitudeDeg } = this.sim.scenario.location;
          this.forecastUrl = `http://127.0.0.1:${port}/v1/forecast?latitude=${latitudeDeg}&longitude=${longitudeDeg}&hourly=cloud_cover,shortwave_radiation&timezone=GMT&forecast_days=3`;
        }),
      );
    }
    if (opts.content) {
      this.content = new ContentServer({ items: opts.content });
      around.push(this.throughSatellite('simulated content server', this.content, (port) => (this.contentPort = port)));
    }
    if (opts.downlink && !relay) throw new CanopyError('CANOPY_ERR_CONFIG', 'the simulated downlink shares the relay\'s dish: build the site with SimulatedSite.withUplink');
    this.app = new Application(config, {
      ...env,
      // Forecasts published on the mesh are taken in every simulated site; fetched, with the weather service.
      forecast: { url: opts.weatherService ? () => this.forecastUrl : undefined },
      users: users ?? [],
      gcsLinks: gcsLinks(config, this.sim.clock),
      tlog: opts.tlog,
      relay,
      downlink: opts.downlink,
      chargeController,
      mesh: opts.mesh ? meshOverrides : false,
      around,
    });
  }

  /** The simulated world as the first extension: running before the station's radios open. */
  private readonly worldExtension: Extension = {
    name: 'simulated world',
    start: () => this.sim.world.start(),
    stop: () => this.sim.world.stop(),
  };

  /**
   * The site's hands: an operator marks a drone that landed away from its pad as carried back
   * (drone/carried-back) after carrying it there; in the simulated world nobody carries it, so the
   * drone is put on its pad as the fleet hears that word.
   */
  private readonly handsExtension: Extension = {
    name: 'simulated hands',
    start: async () => {
      this.app.bus.on('simulated hands', 'fleet-transition', (t) => {
        if (t.from === 'away' && t.cause === 'operator') this.sim.world.drone(t.sysid)?.carryToPad();
      });
    },
    stop: async () => {},
  };

  /**
   * A server of the internet behind the satellite (the weather service, the content server) and its
   * way there: a route through the relay's satellite link, or a link of its own that the budget's
   * grant powers (the dish as dishOn() has it). `reached` gets the port the site connects to.
   */
  private throughSatellite(name: string, server: { start(): Promise<void>; stop(): Promise<void>; readonly port: number }, reached: (port: number) => void): Extension {
    let own: SatelliteLink | undefined;
    return {
      name,
      start: async () => {
        await server.start();
        if (this.uplink) reached(await this.uplink.satellite.route(server.port));
        else {
          const s = this.sim.scenario;
          own = new SatelliteLink({ clock: this.sim.clock, targetPort: server.port, capacityBitsPerSec: s.satellite.capacityMbps * 1e6, latencyMs: s.satellite.latencyMs, windows: this.sim.contacts, dish: s.satellite.dish, powered: false });
          await own.start();
          const link = own;
          this.app.bus.on(name, 'power-grant', (granted) => void link.setPowered(granted).catch(() => {}));
          reached(own.port);
        }
      },
      stop: async () => {
        await own?.stop();
        await server.stop();
      },
    };
  }

  /** The URL of a content server's item as the site reaches it, through the satellite (after start()). */
  contentUrl(item: string): string {
    if (!this.content || !this.contentPort) throw new CanopyError('CANOPY_ERR_STATE', 'the simulated content server is not running (content, after start())');
    return this.content.url(item, this.contentPort);
  }

  /** The uplink's far end (satellite and cloud, started by withUplink): stopped after the relay. */
  private readonly uplinkExtension: Extension = {
    name: 'simulated uplink',
    start: async () => {},
    stop: async () => {
      await this.uplink?.satellite.stop();
      await this.uplink?.cloud.stop();
    },
  };

  get gs(): GroundStation {
    return this.app.gs;
  }

  get site(): SiteController {
    return this.app.site!;
  }

  get clock() {
    return this.sim.clock;
  }

  get world() {
    return this.sim.world;
  }

  get budget(): PowerBudget | undefined {
    return this.app.site?.budget;
  }

  get satellite(): SatelliteLink | undefined {
    return this.uplink?.satellite;
  }

  get cloud(): Upstream | undefined {
    return this.uplink?.cloud;
  }

  /** Without the relay: the dish would run when the budget grants it and a satellite is in view. */
  dishOn(): boolean {
    return (this.app.site?.budget?.decisions.uplinkGranted ?? false) && isInContact(this.sim.contacts, this.clock.now());
  }

  /** Starts the world and the application; if a part fails, everything (the uplink's far side too) is stopped again. */
  async start(): Promise<void> {
    try {
      await this.app.start();
    } catch (e) {
      await this.uplinkExtension.stop();
      throw e;
    }
  }

  async stop(): Promise<void> {
    await this.app.stop();
  }

  private beforeStep = (now: number): void => {
    for (const e of this.sim.due(now)) {
      this.events.push({ ...e, firedAtMs: now });
      this.log.info(`scenario: ${e.what}`);
    }
  };

  sample(w: WorldSample): SiteSample {
    const b = this.site.budget;
    const status = this.site.fleet.status();
    return {
      ...w,
      stations: status.stations,
      manned: status.manned,
      uplinkGranted: b?.decisions.uplinkGranted ?? false,
      inContact: isInContact(this.sim.contacts, w.timeMs),
      stationSoc: b?.stationBattery.soc ?? 0,
      cloudCorrection: b?.cloudCorrection ?? 1,
      expectedGhiWm2: b ? b.forecast[0]?.expectedGhiWm2 ?? 0 : 0,
    };
  }

  /** Runs `durationMs` of simulated time as fast as the machine allows. */
  runFast(durationMs: number, opts: { sampleEveryMs?: number; onSample?: (s: SiteSample) => void; onProgress?: (f: number) => void } = {}): Promise<void> {
    return runFast(this.sim.world, {
      durationMs,
      sampleEveryMs: opts.sampleEveryMs,
      onSample: (w) => opts.onSample?.(this.sample(w)),
      onProgress: opts.onProgress,
      beforeStep: this.beforeStep,
    });
  }

  /** Runs paced to the wall clock (speed × real time) until `signal` aborts. */
  runRealTime(opts: { speed?: number; signal: AbortSignal; onSample?: (s: SiteSample) => void; sampleEveryMs?: number }): Promise<number> {
    return runRealTime(this.sim.world, {
      speed: opts.speed,
      signal: opts.signal,
      sampleEveryMs: opts.sampleEveryMs,
      onSample: (w) => opts.onSample?.(this.sample(w)),
      beforeStep: this.beforeStep,
    });
  }
}

/**
 * The scenario as the controller's environment: the world's clock and radios, and the site's
 * profile. The station's own sensors still read the world directly (its anemometer the sustained
 * wind, its reference cell the sky); on a real site they come from the configuration's charge
 * controller and the drones' WIND reports.
 */
function simulatedEnvironment(s: Scenario, sim: BuiltSim, log: Logger, dishOn: () => boolean): Omit<Environment, 'users' | 'gcsLinks'> {
  const clock: Clock = sim.clock;
  const dish = DISH_PROFILES[s.satellite.dish];
  return {
    clock,
    log,
    droneLinks: sim.radios.map((r, i) => ({ link: r.ground, name: `radio${i}`, baud: s.radios.baud })),
    site: {
      origin: { latDeg: s.location.latitudeDeg, lonDeg: s.location.longitudeDeg },
      power: {
        site: { latitudeDeg: s.location.latitudeDeg, longitudeDeg: s.location.longitudeDeg, elevationM: s.location.elevationM, linkeTurbidity: s.weather.linkeTurbidity },
        airframeMassKg: s.airframe.massKg,
        hoverWPerKg: s.airframe.hoverWPerKg,
        netMassKgPerM2: s.net.massKgPerM2,
        netAreaM2PerDrone: s.net.areaM2PerDrone,
        netEfficiency: s.net.efficiency,
        mpptEfficiency: s.net.mpptEfficiency,
        batteryWh: s.battery.capacityWh,
        padChargeW: s.battery.padChargeW,
        dishW: dish,
        spares: Math.max(1, s.swarm.spares),
        radiosW: 2 * s.radios.count,
        ...(s.weather.clouds.recorded ? { climateSkyIndex: recordedClimate(s) } : {}),
      },
      fleet: { altitudeM: s.swarm.altitudeM, spacingM: s.swarm.spacingM, windMs: () => sim.world.wind.meanMs, windLimitMs: 12 },
      referenceGhi: () => sim.world.last.ghiWm2,
      // Without a relay (no uplink): the dish would run when the budget grants it and a satellite is in view.
      dish: () => (dishOn() ? 'active' : 'off'),
    },
  };
}

/**
 * A Victron MPPT under the world's sky on the far end of a memory link: it writes its VE.Direct
 * blocks once a simulated second, and the controller reads them as from a serial port.
 */
function simulatedChargeController(sim: BuiltSim, panelWp: number): { link: Link; extension: Extension } {
  const [near, far] = createMemoryPair('vedirect', 'mppt');
  const mppt = new SimMppt({ clock: sim.clock, irradiance: () => sim.world.last.ghiWm2, panelWp }, (bytes) => far.write(bytes));
  return {
    link: near,
    extension: {
      name: 'simulated charge controller',
      start: async () => {
        await far.start();
        mppt.start();
      },
      stop: async () => {
        mppt.stop();
        await far.stop();
      },
    },
  };
}

/** The sky index a climate record gives the scenario's site (site.climate): its cloud climate in the year before the run, drawn apart from the run's own clouds. */
function recordedClimate(s: Scenario): number {
  const l = s.location;
  const year = 365 * 86_400_000;
  return recordedSkyIndex({ latitudeDeg: l.latitudeDeg, longitudeDeg: l.longitudeDeg, elevationM: l.elevationM, linkeTurbidity: s.weather.linkeTurbidity, meanCover: s.weather.clouds.meanCover, changeHours: s.weather.clouds.change / 3_600_000, seed: 0x5eed_c11, fromMs: startMs(s) - year });
}
