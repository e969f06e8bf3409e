/**
 * The power budget: every tick, what the site generates and what it spends, a 24-hour forecast,
 * and the decisions that follow from them — how many stations the net has, whether the uplink
 * dish may run, how fast the phone charges, what is shed when the station battery runs low, and
 * when the evening landing must begin. One typed object (`PowerBudget`) that the fleet, the relay,
 * the mesh and the dashboard read.
 *
 * The model: the net's panels feed the drones holding it (each its share) and send what is left
 * down to the station bus; the station battery buffers the bus; pads, the Pi, the radios, the
 * dish and the phone draw from it. The station battery's charge is what its monitor measures
 * (battery-monitor.ts) while a fresh reading exists, else the bus balance integrated from the
 * last state known. A drone holding the net needs
 *   hover = hoverWPerKg × (airframe mass + its share of the net's mass)      (≈ 180 W/kg)
 * and receives
 *   solar = GHI × cloud factor × area per drone × cell efficiency × MPPT efficiency.
 * When solar ≥ hover the net carries itself; below that it is held by rotation (drones come down
 * to recharge on the pads), sized by the fleet-sizing anchor k = m(⌈R⌉ + 1) with
 * R = recharge time / flight time, and only while the station battery can pay for the pads.
 *
 * The forecast uses the site astronomy of solar.ts (NREL SPA + Ineichen–Perez clear sky, which the
 * simulator's sky shares) and
 * learns the sky's cloud factor from measured generation over modelled generation. An hourly
 * weather forecast from outside (outside-forecast.ts: fetched over the uplink or published on the
 * mesh, forecast-feed.ts) shapes the hours it covers once it has passed its checks; without one,
 * or once it is stale, the forecast falls back to the measured sky's persistence and climate.
 */
import { CanopyError } from '../../common/errors.ts';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { clearSky, type ClearSky, type SiteSky } from '../../common/solar.ts';
import type { ForecastRoute, ForecastSource } from '../../common/topics.ts';
import { forecastRefusal, forecastSky, readForecast, type ForecastArrival, type ForecastLimits, type ForecastSky, type OutsideForecast } from './outside-forecast.ts';
import {
  FORECAST_STEP_MS,
  NET_DOWN,
  UNSEEN_SKY,
  busBalance,
  climateFactor,
  decideNet,
  fleetWarning,
  forecastPoints,
  fullStations,
  holdersGeneration,
  landAllMs,
  launchAllMs,
  learnSky,
  withClimatePrior,
  modelHoverPerDroneW,
  referenceCell,
  requiredFleet,
  resolvePowerProfile,
  shedding,
  solarPerDroneW,
  stationBatteryAfter,
  stationBatteryNow,
  stationLoads,
  sunsetPlan,
  surplusUntilSunsetWh,
  sustainableStations,
  type NetState,
  type ResolvedPowerProfile,
  type SkyState,
} from './budget-steps.ts';

/** Where the site is (the sky over it comes from solar.ts). */
export type SiteProfile = SiteSky;

export interface PowerProfile {
  site: SiteProfile;
  /** Drones in the fleet (the budget is told how many are available each tick). */
  airframeMassKg: number;
  hoverWPerKg: number;
  /** Avionics, radio, cameras on each drone, W. Default 15. */
  avionicsW?: number;
  netMassKgPerM2: number;
  netAreaM2PerDrone: number;
  netEfficiency: number;
  mpptEfficiency: number;
  batteryWh: number;
  padChargeW: number;
  /** Usable share of a drone battery between ready and the return reserve. Default 0.65. */
  usableFraction?: number;
  /** Station loads, W. Defaults: Pi 4, radios 2 each, phone up to 30, dish per profile. */
  piW?: number;
  radiosW?: number;
  phoneMaxW?: number;
  dishW?: { idleW: number; activeW: number };
  /** Station battery. Default 5 kWh, starting 80 %. */
  stationBatteryWh?: number;
  stationInitialSoc?: number;
  /** Shedding thresholds (% of the station battery): uplink below `shedUplinkPct`, phone below `shedPhonePct`, drones land below `shedDronesPct`. */
  shedUplinkPct?: number;
  shedPhonePct?: number;
  shedDronesPct?: number;
  /** Drones kept on the pads beyond what the net needs (for faults and relief). Default 1. */
  spares?: number;
  /**
   * How long the fleet takes per drone to launch or land the net through its transit token, until
   * the fleet has measured its own pace (PowerInputs.transitPace). Default 30 s (the simulator's
   * airframe: 24 drones land in about 10 minutes).
   */
  transitPerDroneMs?: number;
  /** The least time allowed for landing the whole net, for the sunset plan. Default 5 min. */
  landAllMs?: number;
  /** What an outside weather forecast must meet to be taken (outside-forecast.ts ForecastLimits). */
  outsideForecast?: ForecastLimits;
  /**
   * The site's recorded climate (site.climate): the mean sky index, measured over clear-sky GHI,
   * one figure or one per month (January first, by the UTC month). The climate the forecast
   * falls back to pools it with what the site measures (budget-steps.ts climateFactor).
   */
  climateSkyIndex?: number | readonly number[];
}

export interface ForecastPoint {
  atMs: number;
  sunElevationDeg: number;
  clearSkyGhiWm2: number;
  /** Clear sky × the learnt cloud factor. */
  expectedGhiWm2: number;
  perDroneSolarW: number;
  perDroneHoverW: number;
  /** Stations the fleet could hold at that time. */
  stations: number;
}

export type Shed = 'uplink' | 'phone' | 'drones';

export interface PowerBudget {
  atMs: number;
  sources: {
    /** Net generation the model expects for the drones now holding it, W. */
    solarModelW: number;
    /** Net generation inferred from the holders' battery telemetry, W (null before there is any). */
    solarMeasuredW: number | null;
    /** Positive while the station battery discharges into the bus, W. */
    stationBatteryW: number;
  };
  loads: { hoverW: number; padsW: number; dishW: number; piW: number; phoneW: number; radiosW: number };
  /** `measured`: the state of charge is the battery monitor's (fresh); otherwise the budget's own integration of the bus. */
  stationBattery: { soc: number; energyWh: number; capacityWh: number; measured: boolean };
  /** Measured / modelled generation, smoothed (1 clear, lower under cloud). */
  cloudCorrection: number;
  /** Per drone: hover as flown (the model × hoverCorrection) and the sun it gets now, W. */
  perDrone: { hoverW: number; solarW: number; hoverCorrection: number };
  decisions: {
    stations: number;
    /** The dish may run now (the relay's uplink grant). */
    uplinkGranted: boolean;
    /** The sun pays for the dish now (midday surplus), not the station battery (the downlink's bulk prefetch waits for it). */
    uplinkOnSurplus: boolean;
    phoneChargeW: number;
    shed: Shed[];
    reason: string;
  };
  sunset: {
    /** When, today, forecast generation stops covering hover (null: it does not, or never did). */
    breakEvenAtMs: number | null;
    /** When the evening landing starts (break-even minus the time to land everyone). */
    landByMs: number | null;
  };
  /** The next 24 h at 15-minute steps. */
  forecast: ForecastPoint[];
  /** What the forecast rests on: an outside forecast, or the measured sky alone. */
  forecastSource: ForecastSource;
  /** A fleet-sizing warning when the fleet cannot sustain the net it should hold. */
  warning: string | null;
}

export interface PowerInputs {
  /** Drones that can fly (not faulted, not lost). */
  available: number;
  /** Drones on station holding the net now (those whose telemetry `holdersBatteryW` sums). */
  holding: number;
  /** Drones on their pads drawing charge now (full ones draw nothing). */
  charging: number;
  /**
   * Battery telemetry of the holders whose batteries can still take charge (a full battery
   * refuses the surplus, which would read as no sun): how many, and their V × A summed, W.
   */
  measured?: { holders: number; batteryW: number };
  /** The lowest state of charge (0..1) among the drones on station, when any report one. */
  holdersMinSoc?: number;
  /** Global horizontal irradiance from a reference cell at the station, W/m² (when there is one). */
  referenceGhiWm2?: number;
  /** The station battery's state of charge (0..1) as a battery monitor measures it, when a fresh reading has one. */
  stationSoc?: number;
  /** Whether the dish is powered and carrying traffic. */
  dish?: 'off' | 'idle' | 'active';
  /** The fleet's measured transit pace (FleetController.transitPace): token time per launch and per return, ms. */
  transitPace?: { launchMs?: number; landMs?: number };
  radios?: number;
}

export { fleetPerStation } from './budget-steps.ts';

/**
 * The planner keeps the state between ticks (the station battery's integrator, the sky learnt,
 * the hover correction, the net's hysteresis, the forecast's cache) and runs the steps of
 * budget-steps.ts in order.
 */
export class PowerPlanner {
  private readonly p: ResolvedPowerProfile;
  private readonly sky: ClearSky;
  private stationWh: number;
  private learnt: Readonly<SkyState> = UNSEEN_SKY;
  private hoverCorrection = 1;
  private net: Readonly<NetState> = NET_DOWN;
  private lastMs: number;
  private forecastCache: { atMs: number; cloud: number; hover: number; available: number; outside: ForecastSky | undefined; points: ForecastPoint[] } | undefined;
  private current: PowerBudget | undefined;
  /** The outside forecast taken, and its sky per hour; undefined: none, or it went stale. */
  private outside: { forecast: OutsideForecast; sky: ForecastSky } | undefined;
  private refused: ForecastSource['refused'] = null;
  /** The UTC month whose recorded climate is in `learnt.prior` (-1: none yet). */
  private climateMonth = -1;

  constructor(
    private readonly clock: Clock,
    profile: PowerProfile,
  ) {
    this.p = resolvePowerProfile(profile);
    const index = profile.climateSkyIndex;
    const indices = index === undefined ? [] : typeof index === 'number' ? [index] : index;
    if ((typeof index !== 'number' && index !== undefined && indices.length !== 12) || indices.some((x) => !(x > 0 && x <= 1))) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `climateSkyIndex must be one sky index in (0, 1], or twelve (January first), got ${JSON.stringify(index)}`);
    }
    this.sky = clearSky(profile.site);
    this.stationWh = this.p.stationBatteryWh * this.p.stationInitialSoc;
    this.lastMs = clock.now();
    this.recordedClimate(this.lastMs);
  }

  /** Puts the month's recorded climate (PowerProfile.climateSkyIndex) into the sky learnt, when the month changes. */
  private recordedClimate(now: number): void {
    const index = this.p.climateSkyIndex;
    if (index === undefined) return;
    const month = new Date(now).getUTCMonth();
    if (month === this.climateMonth) return;
    this.climateMonth = month;
    const dayStart = now - (now % 86_400_000);
    let clearDayWh = 0;
    for (let t = dayStart; t < dayStart + 86_400_000; t += 900_000) clearDayWh += this.sky.ghiWm2(t + 450_000) * 0.25;
    this.learnt = withClimatePrior(this.learnt, typeof index === 'number' ? index : index[month]!, clearDayWh);
  }

  get budget(): PowerBudget | undefined {
    return this.current;
  }

  /** Per-drone hover power holding the net by the profile, W: hoverWPerKg × all-up mass + avionics. */
  modelHoverPerDroneW(): number {
    return modelHoverPerDroneW(this.p);
  }

  /** Per-drone hover power as flown: the model corrected by what the holders measure (wind, ageing props). */
  hoverPerDroneW(): number {
    return this.modelHoverPerDroneW() * this.hoverCorrection;
  }

  /** The site's climate (budget-steps.ts climateFactor): measured over clear-sky energy in the last week or so. */
  climateFactor(): number {
    return climateFactor(this.learnt);
  }

  /** Clear-sky GHI at the site (Ineichen–Perez with the site's Linke turbidity), W/m². */
  clearSkyGhiWm2(timeMs: number): number {
    return this.sky.ghiWm2(timeMs);
  }

  solarPerDroneW(ghiWm2: number): number {
    return solarPerDroneW(this.p, ghiWm2);
  }

  /** Stations `available` drones can hold when each receives `solarW` (budget-steps.ts sustainableStations). */
  sustainableStations(available: number, solarW: number): number {
    return sustainableStations(this.p, this.hoverPerDroneW(), available, solarW);
  }

  /** The whole net: every available drone but the spares (fewer than three hold no net). */
  fullStations(available: number): number {
    return fullStations(this.p, available);
  }

  /** Drones needed to hold `stations` at this per-drone generation (the sizing anchor). */
  requiredFleet(stations: number, solarW: number): number {
    return requiredFleet(this.p, this.hoverPerDroneW(), stations, solarW);
  }

  /** The next 24 h at 15-minute steps; recomputed every 15 minutes, or sooner when what it depends on has moved. */
  forecast(available: number): ForecastPoint[] {
    const now = this.clock.now();
    const base = Math.floor(now / FORECAST_STEP_MS) * FORECAST_STEP_MS;
    const c = this.forecastCache;
    const outside = this.outside?.sky;
    if (c && c.atMs === base && Math.abs(c.cloud - this.learnt.cloud) < 0.02 && Math.abs(c.hover - this.hoverCorrection) < 0.02 && c.available === available && c.outside === outside) return c.points;
    const points = forecastPoints(this.p, this.sky, this.learnt, this.hoverPerDroneW(), available, now, outside);
    this.forecastCache = { atMs: base, cloud: this.learnt.cloud, hover: this.hoverCorrection, available, outside, points };
    return points;
  }

  /** The outside forecast the budget uses now (undefined: none; the forecast rests on the measured sky). */
  get outsideForecast(): OutsideForecast | undefined {
    return this.outside?.forecast;
  }

  /**
   * Offers an outside forecast (Open-Meteo's JSON, as fetched or published): taken when it reads,
   * is for this site and is fresh — and not older than the one held; otherwise refused with the
   * reason, which the budget's forecastSource shows until a forecast is next taken. A refusal
   * changes nothing else: the budget keeps a forecast it holds while that stays valid, else it
   * forecasts from the measured sky. Returns null when taken, else the reason.
   */
  offerForecast(text: string, arrival: ForecastArrival): string | null {
    const reading = readForecast(text, arrival);
    const now = this.clock.now();
    const reason = reading.ok ? this.refusalOf(reading.forecast, now) : reading.reason;
    if (reason !== null) {
      this.refuse(arrival.route, reason, now);
      return reason;
    }
    const forecast = (reading as { forecast: OutsideForecast }).forecast;
    this.outside = { forecast, sky: forecastSky(forecast, this.sky) };
    this.refused = null;
    return null;
  }

  private refusalOf(f: OutsideForecast, now: number): string | null {
    const site = { latDeg: this.p.site.latitudeDeg, lonDeg: this.p.site.longitudeDeg };
    const held = this.outside?.forecast;
    const refusal = forecastRefusal(f, site, now, this.p.outsideForecast);
    if (refusal === null && held && f.issuedAtMs < held.issuedAtMs) return `older than the forecast in use (issued ${new Date(f.issuedAtMs).toISOString()}, the one in use ${new Date(held.issuedAtMs).toISOString()})`;
    return refusal;
  }

  private refuse(route: ForecastRoute, reason: string, now: number): void {
    this.refused = { route, reason, atMs: now };
  }

  /** A held forecast that has gone stale is dropped (the measured sky takes over), saying why. */
  private dropStaleForecast(now: number): void {
    const f = this.outside?.forecast;
    if (!f) return;
    const site = { latDeg: this.p.site.latitudeDeg, lonDeg: this.p.site.longitudeDeg };
    const reason = forecastRefusal(f, site, now, this.p.outsideForecast);
    if (reason === null) return;
    this.outside = undefined;
    this.refuse(f.route, `dropped the forecast in use: ${reason}`, now);
  }

  private forecastSource(): ForecastSource {
    const f = this.outside?.forecast;
    return {
      kind: f ? 'outside' : 'measured',
      outside: f ? { route: f.route, issuedAtMs: f.issuedAtMs, latDeg: f.latDeg, lonDeg: f.lonDeg, untilMs: f.hours.at(-1)!.atMs } : null,
      refused: this.refused,
    };
  }

  /** Advances the budget to now with the latest measurements; returns the new budget. */
  update(inputs: PowerInputs): PowerBudget {
    const p = this.p;
    const now = this.clock.now();
    const dtH = Math.max(0, now - this.lastMs) / 3600_000;
    this.lastMs = now;
    this.recordedClimate(now);
    // 1. Sources: the holders' batteries and the reference cell measure the sky (and hover).
    const clearGhi = this.sky.ghiWm2(now);
    const modelPer = this.solarPerDroneW(clearGhi);
    const holders = holdersGeneration(inputs, this.hoverPerDroneW(), modelPer);
    const reference = referenceCell(p, inputs, clearGhi, this.hoverCorrection, dtH);
    this.hoverCorrection = reference.hoverCorrection;
    this.learnt = learnSky(this.learnt, reference.skyRatio ?? holders.skyRatio, clearGhi, dtH, now);
    const hoverPer = this.hoverPerDroneW();
    const solarPer = modelPer * this.learnt.cloud;
    // 2. The forecast (an outside forecast gone stale is dropped first).
    this.dropStaleForecast(now);
    const forecast = this.forecast(inputs.available);
    // 3. The station's loads; the station battery, measured or integrated; what its charge sheds.
    const loads = stationLoads(p, inputs);
    const battery = stationBatteryNow(p, this.stationWh, inputs.stationSoc);
    const socPct = (battery.energyWh / p.stationBatteryWh) * 100;
    const shed = shedding(p, socPct);
    // 4. The sunset plan, at the pace of the net flown now.
    const sunset = sunsetPlan(forecast, hoverPer, landAllMs(p, this.current?.decisions.stations ?? 0, inputs.transitPace));
    // 5. The net: up or down, whole or sized for rotation, landed by the sunset plan or shedding.
    const decision = decideNet(p, this.net, {
      now,
      forecast,
      solarW: solarPer,
      hoverW: hoverPer,
      available: inputs.available,
      holdersMinSoc: inputs.holdersMinSoc,
      launchAllMs: launchAllMs(p, inputs.available, inputs.transitPace),
      landByMs: sunset.landByMs,
      shed,
      socPct,
    });
    this.net = decision.state;
    // 6. The station bus: the uplink grant, the phone; the station battery after the tick.
    const hoverW = hoverPer * inputs.holding;
    const refillWh = surplusUntilSunsetWh(p, forecast, loads.radiosW);
    const bus = busBalance(p, { netSolarW: holders.measuredW ?? solarPer * inputs.holding, netHoverW: hoverW, loads, socPct, shed, refillWh });
    this.stationWh = stationBatteryAfter(p, battery, bus.stationBatteryW, dtH);
    // 7. The fleet-sizing warning.
    const warning = fleetWarning(p, { netUp: this.net.netUp, available: inputs.available, solarW: solarPer, hoverW: hoverPer, stations: decision.stations });

    this.current = {
      atMs: now,
      sources: { solarModelW: modelPer * inputs.holding, solarMeasuredW: holders.measuredW, stationBatteryW: bus.stationBatteryW },
      loads: { hoverW, padsW: loads.padsW, dishW: loads.dishW, piW: p.piW, phoneW: bus.phoneChargeW, radiosW: loads.radiosW },
      stationBattery: { soc: this.stationWh / p.stationBatteryWh, energyWh: this.stationWh, capacityWh: p.stationBatteryWh, measured: battery.measured },
      cloudCorrection: this.learnt.cloud,
      perDrone: { hoverW: hoverPer, solarW: solarPer, hoverCorrection: this.hoverCorrection },
      decisions: { stations: decision.stations, uplinkGranted: bus.uplinkGranted, uplinkOnSurplus: bus.uplinkOnSurplus, phoneChargeW: bus.phoneChargeW, shed, reason: decision.reason },
      sunset: { breakEvenAtMs: sunset.breakEvenAtMs, landByMs: sunset.landByMs },
      forecast,
      forecastSource: this.forecastSource(),
      warning,
    };
    return this.current;
  }
}
