/**
 * The controller's brain assembled around a ground station: the power planner decides how many
 * stations the net has and whether the dish may run, the fleet flies that net, and both report on
 * the mesh (retained `<base>/power`, fleet transitions on `<base>/bridge/event`). The same class
 * runs a real site and a simulated one; only the clock and the links differ.
 */
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import { silentLogger, type Logger } from '../firmware-bridge/log.ts';
import { FleetController, isOutOfPlan, type FleetAlert, type FleetOptions, type FleetRole, type Transition } from './fleet/fleet.ts';
import type { VehicleManager } from '../firmware-bridge/vehicles/index.ts';
import type { EventBus } from './app/bus.ts';
import type { Mesh } from './mesh/mesh.ts';
import type { CommandResult } from '../firmware-bridge/microservices/command/command.ts';
import { tenths, type BridgeEvent, type FleetState, type PowerState } from '../common/topics.ts';
import { PowerPlanner, type PowerBudget, type PowerProfile } from './power/budget.ts';
import { EnergyMeter, solarOffsetMs } from './power/energy.ts';

export interface SiteOptions {
  clock: Clock;
  vehicles: VehicleManager;
  /** Where power, fleet and events are published; none: they are not. */
  mesh?: Mesh;
  /** Transitions, budgets and the uplink grant go out on it; the relay's dish state comes in. */
  bus?: EventBus;
  origin: { latDeg: number; lonDeg: number };
  power: PowerProfile;
  fleet?: Partial<Omit<FleetOptions, 'clock' | 'vehicles' | 'origin' | 'batteryWh' | 'stations' | 'log'>>;
  /** How often the budget is recomputed. Default 1 s. */
  tickMs?: number;
  /** GHI from a reference cell at the station, W/m² (a charge controller's PV input; the simulator's sky). */
  referenceGhi?: () => number | undefined;
  /** The station battery's state of charge (0..1) from its monitor while a fresh reading has one (battery-monitor.ts); absent or undefined: the budget integrates. */
  stationSoc?: () => number | undefined;
  /** Start recalled: no stations until an admin launches (a real site's default). */
  held?: boolean;
  /** Whether the dish is passing traffic when no relay says so on the bus (the simulator's dish); default off. */
  dish?: () => 'off' | 'idle' | 'active';
  log?: Logger;
}

export class SiteController {
  readonly fleet: FleetController;
  readonly power: PowerPlanner;
  private timer: TimerHandle | undefined;
  private lastPublished = 0;
  private lastWarning: string | null = null;
  /** The forecast's source and its latest refusal as last logged, so each is said once. */
  private lastSource: { kind: string; refusal: string | null } = { kind: 'measured', refusal: null };
  private readonly log: Logger;
  private readonly energy: EnergyMeter;
  /** An admin recalled the net (dashboard "recall all"): no stations until launched again. */
  private held = false;
  /** The relay's dish as it last said on the bus; undefined: no relay has spoken. */
  private dishOn: boolean | undefined;
  private granted: boolean | undefined;

  constructor(private readonly opts: SiteOptions) {
    this.log = opts.log ?? silentLogger;
    this.held = opts.held ?? false;
    this.power = new PowerPlanner(opts.clock, opts.power);
    this.fleet = new FleetController({
      ...opts.fleet,
      clock: opts.clock,
      vehicles: opts.vehicles,
      origin: opts.origin,
      batteryWh: opts.power.batteryWh,
      stations: () => this.plannedStations(),
      log: this.log,
    });
    this.energy = new EnergyMeter(solarOffsetMs(opts.origin.lonDeg));
  }

  /** What the fleet says of one drone (for its published state). */
  /** An admin's land of a drone the fleet flies goes through the fleet (an operator action, not a failsafe). */
  readonly operatorLand = (sysid: number): Promise<CommandResult> | undefined => (this.fleet.role(sysid) === undefined ? undefined : this.fleet.land(sysid));
  readonly fleetView = (sysid: number) => ({ role: this.fleet.role(sysid), waiting: this.fleet.waitingFor(sysid) });

  get hold(): boolean {
    return this.held;
  }

  /** The stations the net has now: the power plan's, none while an admin holds the net down (the fleet flies this, the power state says it). */
  plannedStations(): number {
    return this.held ? 0 : (this.power.budget?.decisions.stations ?? 0);
  }

  /** Why: the power plan's reason, or the hold with what the plan would have. */
  private plannedReason(b: PowerBudget): string {
    if (!this.held) return b.decisions.reason;
    return `held down until an admin launches (the power plan has ${b.decisions.stations} stations: ${b.decisions.reason})`;
  }

  /** Recall all: the net shrinks to nothing, every drone comes home through the transit token. */
  recall(): void {
    this.held = true;
    this.lastPublished = 0;
  }

  /** Launch: the net follows the power plan again (it goes up when the sun pays for hover). */
  launch(): void {
    this.held = false;
    this.lastPublished = 0;
  }

  get budget(): PowerBudget | undefined {
    return this.power.budget;
  }

  /** The relay's uplink grant: the dish runs when the budget says the sun pays for it. */
  readonly grant = (): boolean => this.power.budget?.decisions.uplinkGranted ?? false;

  start(): void {
    this.fleet.on('transition', this.onTransition);
    this.fleet.on('alert', this.onAlert);
    this.opts.bus?.on('site', 'uplink', ({ dishOn }) => (this.dishOn = dishOn));
    this.tick();
    this.fleet.start();
    this.timer = this.opts.clock.setInterval(() => this.tick(), this.opts.tickMs ?? 1000);
  }

  stop(): void {
    this.opts.clock.clearInterval(this.timer);
    this.fleet.stop();
    this.fleet.off('transition', this.onTransition);
    this.fleet.off('alert', this.onAlert);
    this.opts.bus?.removeOwner('site');
  }

  private readonly onTransition = (t: Transition) => {
    this.opts.bus?.emit('fleet-transition', t);
    this.publishEvent({ type: 'fleet-transition', data: t });
  };

  private readonly onAlert = (a: FleetAlert) => this.publishEvent({ type: 'alert', data: a });

  tick(): PowerBudget {
    const status = this.fleet.status();
    let holdersW = 0;
    let measuredHolders = 0;
    let charging = 0;
    let holdersMinSoc: number | undefined;
    for (const v of this.opts.vehicles.list()) {
      const role = this.fleet.role(v.sysid);
      const { voltageV, currentA } = v.telemetry;
      // A pad charger shows as negative battery current on a landed drone.
      if ((role === 'charging' || role === 'ready') && currentA !== undefined && currentA < -0.5) charging++;
      if (role !== 'on-station') continue;
      if (v.telemetry.remainingPct !== undefined) holdersMinSoc = Math.min(holdersMinSoc ?? 1, v.telemetry.remainingPct / 100);
      if (voltageV !== undefined && currentA !== undefined && (v.telemetry.remainingPct ?? 0) < 97) {
        holdersW += voltageV * currentA;
        measuredHolders++;
      }
    }
    const outOfPlan = Object.entries(status.roles).reduce((a, [role, n]) => a + (isOutOfPlan(role as FleetRole) ? n : 0), 0);
    const known = Object.values(status.roles).reduce((a, b) => a + b, 0);
    const budget = this.power.update({
      available: known - outOfPlan,
      holding: status.roles['on-station'],
      charging,
      measured: measuredHolders > 0 ? { holders: measuredHolders, batteryW: holdersW } : undefined,
      holdersMinSoc,
      dish: this.dishOn !== undefined ? (this.dishOn ? 'active' : 'off') : (this.opts.dish?.() ?? 'off'),
      referenceGhiWm2: this.opts.referenceGhi?.(),
      stationSoc: this.opts.stationSoc?.(),
      transitPace: this.fleet.transitPace(),
    });
    this.energy.add(budget.atMs, generationW(budget), loadW(budget));
    if (budget.warning !== this.lastWarning) {
      if (budget.warning) this.log.warn(budget.warning);
      this.lastWarning = budget.warning;
    }
    this.logForecastSource(budget);
    this.publishPower(budget);
    this.opts.bus?.emit('budget', budget);
    if (budget.decisions.uplinkGranted !== this.granted) {
      this.granted = budget.decisions.uplinkGranted;
      this.opts.bus?.emit('power-grant', this.granted);
    }
    return budget;
  }

  private logForecastSource(b: PowerBudget): void {
    const { kind, outside, refused } = b.forecastSource;
    const refusal = refused?.reason ?? null;
    if (refusal !== null && refusal !== this.lastSource.refusal) this.log.warn(`outside forecast refused (${refused!.route}): ${refusal}`);
    if (kind !== this.lastSource.kind) {
      if (outside) this.log.info(`the power budget forecasts with an outside forecast (${outside.route}, issued ${new Date(outside.issuedAtMs).toISOString()}, for ${outside.latDeg}°, ${outside.lonDeg}°)`);
      else this.log.info('the power budget forecasts from the measured sky alone');
    }
    this.lastSource = { kind, refusal };
  }

  private publishPower(b: PowerBudget): void {
    const mesh = this.opts.mesh;
    if (!mesh || b.atMs - this.lastPublished < 5000) return;
    this.lastPublished = b.atMs;
    const state: PowerState = {
      solarW: tenths(generationW(b)),
      loadW: tenths(loadW(b)),
      batteryPct: tenths(b.stationBattery.soc * 100),
      batteryMeasured: b.stationBattery.measured,
      dishW: tenths(b.loads.dishW),
      uplinkGranted: b.decisions.uplinkGranted,
      stations: this.plannedStations(),
      reason: this.plannedReason(b),
      landByMs: b.sunset.landByMs,
      warning: b.warning,
      forecast: b.forecast.map((f) => ({ atMs: f.atMs, ghiWm2: tenths(f.expectedGhiWm2), stations: f.stations })),
      ghiWm2: maybe(this.opts.referenceGhi?.(), tenths),
      energyToday: maybe(this.energy.value, (e) => ({ ...e, generatedWh: tenths(e.generatedWh), consumedWh: tenths(e.consumedWh) })),
      forecastSource: b.forecastSource,
      updatedAt: b.atMs,
    };
    void mesh.publish(mesh.topics.power, JSON.stringify(state), { retain: true }).catch((e: Error) => this.log.warn('power state not published', { error: e.message }));
    const status = this.fleet.status();
    const fleet: FleetState = {
      origin: { lat: this.opts.origin.latDeg, lon: this.opts.origin.lonDeg },
      altitudeM: status.altitudeM,
      windMs: status.windMs ?? null,
      windStage: status.windStage,
      stations: this.fleet.stationPoints().map((p) => ({ n: p.n, e: p.e })),
      manned: status.manned,
      roles: status.roles,
      hold: this.held,
      updatedAt: b.atMs,
    };
    void mesh.publish(mesh.topics.fleet, JSON.stringify(fleet), { retain: true }).catch((e: Error) => this.log.warn('fleet state not published', { error: e.message }));
  }

  private publishEvent(event: BridgeEvent): void {
    const mesh = this.opts.mesh;
    if (!mesh) return;
    void mesh.publish(mesh.topics.event, JSON.stringify(event)).catch(() => {});
  }

}

function maybe<T, U>(v: T | undefined, f: (v: T) => U): U | undefined {
  return v === undefined ? undefined : f(v);
}

function generationW(b: PowerBudget): number {
  return b.sources.solarMeasuredW ?? b.sources.solarModelW;
}

function loadW(b: PowerBudget): number {
  return b.loads.hoverW + b.loads.padsW + b.loads.dishW + b.loads.piW + b.loads.phoneW + b.loads.radiosW;
}
