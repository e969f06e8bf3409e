/**
 * The controller flying a simulated site: a scenario built into a world (sim/build.ts), Canopy's
 * ground station on the world's shaped radios, and the site controller (power budget + fleet) on
 * the same simulated clock. `canopy sim run` drives it as fast as it goes, `canopy start` at 1×,
 * the bench and the determinism test in between. The simulator stays a peer: the controller only
 * sees MAVLink on the radios and the clock.
 */
import { silentLogger, type Logger } from '../firmware-bridge/log.ts';
import type { TlogSink } from '../firmware-bridge/tlog.ts';
import { createLink } from '../firmware-bridge/links/index.ts';
import { buildSim, type BuiltSim, type SimEvent } from '../sim/build.ts';
import { Upstream } from '../sim/cloud.ts';
import { runFast, runRealTime } from '../sim/runner.ts';
import { isInContact, DISH_PROFILES, SatelliteLink } from '../sim/satellite.ts';
import type { Scenario } from '../sim/scenario.ts';
import type { WorldSample } from '../sim/world.ts';
import { GroundStation, type GroundStationOptions } from './ground-station.ts';
import type { PowerBudget } from './power/budget.ts';
import { SiteController } from './site.ts';

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
  /** Pilots' tools by link URL (e.g. udpout://127.0.0.1:14550 for QGroundControl). */
  gcs?: string[];
  mesh?: GroundStationOptions['mesh'];
  log?: Logger;
}

/** The simulated far side of the uplink: the satellite link and the cloud broker behind it. */
export interface SimulatedUplink {
  satellite: SatelliteLink;
  cloud: Upstream;
}

/** Upstream topics of the simulated site's relay. */
export const SIM_UPSTREAM_PREFIX = 'canopy/sim';

export class SimulatedSite {
  readonly sim: BuiltSim;
  readonly gs: GroundStation;
  readonly site: SiteController;
  readonly events: (SimEvent & { firedAtMs: number })[] = [];
  private readonly log: Logger;

  private uplink: SimulatedUplink | undefined;

  /**
   * The site with the storage relay on: its uplink bridge reaches a simulated cloud broker
   * through the simulated satellite link (loopback TCP, cut outside contact windows, shaped to
   * the scenario's capacity and latency), and the relay powers the dish only when the power
   * budget grants it. Needs `mesh`.
   */
  static async withUplink(opts: SimulatedSiteOptions & { outboxPath: string }): Promise<SimulatedSite> {
    const sim = buildSim(opts.scenario, opts.seed);
    const cloud = await Upstream.start(SIM_UPSTREAM_PREFIX);
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
    const uplink = { satellite, cloud };
    const site: SimulatedSite = new SimulatedSite(opts, sim, {
      path: opts.outboxPath,
      origin: 'sim',
      upstream: { url: `mqtt://127.0.0.1:${satellite.port}`, topicPrefix: SIM_UPSTREAM_PREFIX },
      plan: sim.contacts,
      grant: () => site.site.grant(),
      dish: { watts: dish.activeW, power: (on) => void satellite.setPowered(on) },
    });
    site.uplink = uplink;
    return site;
  }

  constructor(opts: SimulatedSiteOptions, sim?: BuiltSim, relay?: GroundStationOptions['relay']) {
    this.log = opts.log ?? silentLogger;
    const s = opts.scenario;
    this.sim = sim ?? buildSim(s, opts.seed);
    const clock = this.sim.clock;
    this.gs = new GroundStation({
      clock,
      droneLinks: this.sim.radios.map((r, i) => ({ link: r.ground, name: `radio${i}`, baud: s.radios.baud })),
      gcsLinks: (opts.gcs ?? []).map((url) => ({ link: createLink(url, { clock }), name: url })),
      tlog: opts.tlog,
      mesh: opts.mesh,
      relay,
      log: this.log,
    });
    const dish = DISH_PROFILES[s.satellite.dish];
    this.site = new SiteController({
      clock,
      gs: this.gs,
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
      },
      // The simulated station's anemometer reads the scenario's sustained wind (the drones' autopilots report theirs, gusts and all).
      fleet: { altitudeM: s.swarm.altitudeM, spacingM: s.swarm.spacingM, windMs: () => this.sim.world.wind.meanMs, windLimitMs: 12 },
      // The station's reference cell sees the same sky as the net.
      referenceGhi: () => this.sim.world.last.ghiWm2,
      dish: () => (this.uplink ? (this.uplink.satellite.powered ? 'active' : 'off') : this.dishOn() ? 'active' : 'off'),
      log: this.log,
    });
  }

  get clock() {
    return this.sim.clock;
  }

  get world() {
    return this.sim.world;
  }

  get budget(): PowerBudget | undefined {
    return this.site.budget;
  }

  get satellite(): SatelliteLink | undefined {
    return this.uplink?.satellite;
  }

  get cloud(): Upstream | undefined {
    return this.uplink?.cloud;
  }

  /** Without the relay: the dish would run when the budget grants it and a satellite is in view. */
  dishOn(): boolean {
    return (this.site.budget?.decisions.uplinkGranted ?? false) && isInContact(this.sim.contacts, this.clock.now());
  }

  /** Starts the simulator and the site; if a part fails, everything (the uplink's far side too) is stopped again. */
  async start(): Promise<void> {
    try {
      await this.sim.world.start();
      await this.gs.start();
      this.site.start();
    } catch (e) {
      await this.stop().catch((stopError: unknown) => this.log.error('stopping after a failed start failed', { error: String(stopError) }));
      throw e;
    }
  }

  async stop(): Promise<void> {
    this.site.stop();
    await this.gs.stop();
    await this.sim.world.stop();
    await this.uplink?.satellite.stop();
    await this.uplink?.cloud.stop();
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
