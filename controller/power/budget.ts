/**
 * The power budget: every tick, what the site generates and what it spends, a 24-hour forecast,
 * and the decisions that follow from them — how many stations the net has, whether the uplink
 * dish may run, how fast the phone charges, what is shed when the station battery runs low, and
 * when the evening landing must begin. One typed object (`PowerBudget`) that the fleet, the relay,
 * the mesh and the dashboard read.
 *
 * The model: the net's panels feed the drones holding it (each its share) and send what is left
 * down to the station bus; the station battery buffers the bus; pads, the Pi, the radios, the
 * dish and the phone draw from it. A drone holding the net needs
 *   hover = hoverWPerKg × (airframe mass + its share of the net's mass)      (≈ 180 W/kg)
 * and receives
 *   solar = GHI × cloud factor × area per drone × cell efficiency × MPPT efficiency.
 * When solar ≥ hover the net carries itself; below that it is held by rotation (drones come down
 * to recharge on the pads), sized by the fleet-sizing anchor k = m(⌈R⌉ + 1) with
 * R = recharge time / flight time, and only while the station battery can pay for the pads.
 *
 * The forecast uses the site astronomy of solar.ts (NREL SPA + Ineichen–Perez clear sky, which the
 * simulator's sky shares) and
 * learns the sky's cloud factor from measured generation over modelled generation.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { clearSky, type ClearSky, type SiteSky } from '../../common/solar.ts';

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
  stationBattery: { soc: number; energyWh: number; capacityWh: number };
  /** Measured / modelled generation, smoothed (1 clear, lower under cloud). */
  cloudCorrection: number;
  /** Per drone: hover as flown (the model × hoverCorrection) and the sun it gets now, W. */
  perDrone: { hoverW: number; solarW: number; hoverCorrection: number };
  decisions: {
    stations: number;
    /** The dish may run now (the relay's uplink grant). */
    uplinkGranted: boolean;
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
  /** Whether the dish is powered and carrying traffic. */
  dish?: 'off' | 'idle' | 'active';
  /** The fleet's measured transit pace (FleetController.transitPace): token time per launch and per return, ms. */
  transitPace?: { launchMs?: number; landMs?: number };
  radios?: number;
}

/**
 * Fleet sizing (the anchor): to keep a station manned with flights of `flightTime` and recharges
 * of `rechargeTime` (any one unit), it takes ⌈R⌉ + 1 drones, R = recharge / flight time; m
 * stations take k = m(⌈R⌉ + 1).
 */
export function fleetPerStation(flightTime: number, rechargeTime: number): number {
  return Math.ceil(rechargeTime / flightTime) + 1;
}

const FORECAST_STEP_MS = 15 * 60_000;
const CLOUD_PERSISTENCE_H = 2;
/** Time constant of the measured cloud factor's smoothing, minutes. */
const CLOUD_SMOOTHING_MIN = 2;
/** The site's climate: the sky's transmittance averaged, weighted by energy, over about a week. */
const CLIMATE_DAYS = 7;
/** A dip is bridged whole when the holders' lowest battery is above this, until it falls below the next. */
const DIP_BRIDGE_FROM_SOC = 0.6;
const DIP_BRIDGE_UNTIL_SOC = 0.5;
const FORECAST_POINTS = 24 * 4;
/** A measured transit pace is planned with this much to spare. */
const PACE_MARGIN = 1.15;
/** After the last drone hands the token back it still descends to its pad (≈ 60 m at 1.5 m/s, the last 10 at 0.5). */
const LAST_DESCENT_MS = 60_000;
/** Before the first drone takes the token it takes off and climbs to the staging level (≈ 40 m at 2.5 m/s, and the commands). */
const FIRST_CLIMB_MS = 30_000;

export class PowerPlanner {
  private readonly p: Required<Omit<PowerProfile, 'site'>> & { site: SiteProfile };
  private readonly sky: ClearSky;
  private stationWh: number;
  private cloud = 1;
  private seenSky = false;
  /** When the sky was last measured (the present cloud factor ages from then, not from now). */
  private skyAtMs = 0;
  /** Decaying sums of measured and clear-sky irradiance × time: their ratio is the site's climate. */
  private climate = { measured: 0, clear: 0 };
  private hoverCorrection = 1;
  private netUp = false;
  /** Set while a net launched ahead of the sun waits for it to pay (until then it is held whole). */
  private aheadUntilMs: number | null = null;
  /** Through a dip the net is first held whole on the holders' batteries ('bridge'), then sized for rotation. */
  private dip: 'bridge' | 'rotate' | null = null;
  private lastMs: number;
  private forecastCache: { atMs: number; cloud: number; hover: number; available: number; points: ForecastPoint[] } | undefined;
  private current: PowerBudget | undefined;

  constructor(
    private readonly clock: Clock,
    profile: PowerProfile,
  ) {
    this.p = {
      avionicsW: 15,
      usableFraction: 0.65,
      piW: 4,
      radiosW: 2,
      phoneMaxW: 30,
      dishW: { idleW: 50, activeW: 100 },
      stationBatteryWh: 5000,
      stationInitialSoc: 0.8,
      shedUplinkPct: 40,
      shedPhonePct: 25,
      shedDronesPct: 10,
      spares: 1,
      transitPerDroneMs: 30_000,
      landAllMs: 5 * 60_000,
      ...profile,
    };
    this.sky = clearSky(profile.site);
    this.stationWh = this.p.stationBatteryWh * this.p.stationInitialSoc;
    this.lastMs = clock.now();
  }

  get budget(): PowerBudget | undefined {
    return this.current;
  }

  /** Per-drone hover power holding the net by the profile, W: hoverWPerKg × all-up mass + avionics. */
  modelHoverPerDroneW(): number {
    const p = this.p;
    return p.hoverWPerKg * (p.airframeMassKg + p.netMassKgPerM2 * p.netAreaM2PerDrone) + p.avionicsW;
  }

  /** Per-drone hover power as flown: the model corrected by what the holders measure (wind, ageing props). */
  hoverPerDroneW(): number {
    return this.modelHoverPerDroneW() * this.hoverCorrection;
  }

  /**
   * The site's climate: measured over clear-sky energy in the last week or so (1 before anything
   * was measured). The day-ahead forecast rests on it; without a weather forecast from outside,
   * nothing local predicts tomorrow's clouds better.
   */
  climateFactor(): number {
    return this.climate.clear > 0 ? this.climate.measured / this.climate.clear : 1;
  }

  /** Clear-sky GHI at the site (Ineichen–Perez with the site's Linke turbidity), W/m². */
  clearSkyGhiWm2(timeMs: number): number {
    return this.sky.ghiWm2(timeMs);
  }

  solarPerDroneW(ghiWm2: number): number {
    const p = this.p;
    return ghiWm2 * p.netAreaM2PerDrone * p.netEfficiency * p.mpptEfficiency;
  }

  /**
   * Stations `available` drones can hold when each receives `solarW`: all but the spares when the
   * net carries itself, otherwise m = ⌊n / (⌈R⌉ + 1)⌋ (k = m(⌈R⌉+1), R = recharge / flight time).
   * Fewer than three drones hold no net (no area), so that is 0.
   */
  sustainableStations(available: number, solarW: number): number {
    if (solarW >= this.hoverPerDroneW()) return this.fullStations(available);
    const m = Math.min(Math.max(0, available - this.p.spares), Math.floor(available / this.dronesPerStation(solarW)));
    return m >= 3 ? m : 0;
  }

  /** The whole net: every available drone but the spares (fewer than three hold no net). */
  fullStations(available: number): number {
    const n = Math.max(0, available - this.p.spares);
    return n >= 3 ? n : 0;
  }

  /** Drones needed to hold `stations` at this per-drone generation (the sizing anchor). */
  requiredFleet(stations: number, solarW: number): number {
    if (solarW >= this.hoverPerDroneW()) return stations + this.p.spares;
    return stations * this.dronesPerStation(solarW);
  }

  /**
   * Time for `drones` to pass the transit token one at a time: at the measured pace with
   * PACE_MARGIN, plus `endMs` off the token (the first climb, the last descent); at the profile's
   * transitPerDroneMs (which includes those) before anything was measured.
   */
  private throughToken(drones: number, measuredMs: number | undefined, endMs: number): number {
    return measuredMs === undefined ? drones * this.p.transitPerDroneMs : drones * (measuredMs * PACE_MARGIN) + endMs;
  }

  /** ⌈R⌉ + 1 of the sizing anchor at this per-drone generation, for flights in deficit. */
  private dronesPerStation(solarW: number): number {
    const usableWh = this.p.batteryWh * this.p.usableFraction;
    return fleetPerStation(usableWh / (this.hoverPerDroneW() - solarW), usableWh / this.p.padChargeW);
  }

  forecast(available: number): ForecastPoint[] {
    const now = this.clock.now();
    const base = Math.floor(now / FORECAST_STEP_MS) * FORECAST_STEP_MS;
    // Recomputed every 15 minutes, or sooner when what it depends on has moved.
    const c = this.forecastCache;
    if (c && c.atMs === base && Math.abs(c.cloud - this.cloud) < 0.02 && Math.abs(c.hover - this.hoverCorrection) < 0.02 && c.available === available) return c.points;
    // Persistence for the next hours, the site's climate beyond: the weight of the last measured
    // cloud factor halves every CLOUD_PERSISTENCE_H after it was measured (overnight it is gone).
    const climate = this.climateFactor();
    const cloudAt = (atMs: number) => {
      const w = this.seenSky ? 0.5 ** (Math.max(0, atMs - this.skyAtMs) / 3600_000 / CLOUD_PERSISTENCE_H) : 0;
      return w * this.cloud + (1 - w) * climate;
    };
    const hover = this.hoverPerDroneW();
    const points: ForecastPoint[] = [];
    for (let i = 0; i < FORECAST_POINTS; i++) {
      const t = base + i * FORECAST_STEP_MS;
      const clear = this.sky.ghiWm2(t);
      const expected = clear * cloudAt(Math.max(t, now));
      const solar = this.solarPerDroneW(expected);
      points.push({
        atMs: t,
        sunElevationDeg: this.sky.sunElevationDeg(t),
        clearSkyGhiWm2: clear,
        expectedGhiWm2: expected,
        perDroneSolarW: solar,
        perDroneHoverW: hover,
        // The net is flown only while it pays for its own hover (see the sunset plan).
        stations: solar >= hover ? this.sustainableStations(available, solar) : 0,
      });
    }
    this.forecastCache = { atMs: base, cloud: this.cloud, hover: this.hoverCorrection, available, points };
    return points;
  }

  /** Advances the budget to now with the latest measurements; returns the new budget. */
  update(inputs: PowerInputs): PowerBudget {
    const p = this.p;
    const now = this.clock.now();
    const dtH = Math.max(0, now - this.lastMs) / 3600_000;
    this.lastMs = now;
    const clearGhi = this.sky.ghiWm2(now);
    let hoverPer = this.hoverPerDroneW();
    const modelPer = this.solarPerDroneW(clearGhi);
    // Measured generation: what the holders would draw without sun, minus what they do draw.
    let measuredW: number | null = null;
    const m = inputs.measured;
    let ratio: number | undefined;
    if (m && m.holders > 0) {
      const perDrone = Math.max(0, hoverPer - m.batteryW / m.holders);
      measuredW = perDrone * inputs.holding;
      // Fewer than three holders do not spread the net: nothing to learn about the sky from them.
      if (inputs.holding >= 3 && modelPer > 50) ratio = perDrone / modelPer;
    }
    // A reference cell on the station (the charge controller's PV reading) sees the sky even when
    // the net is down; without one, a net on its pads would never learn that the cloud has gone.
    if (inputs.referenceGhiWm2 !== undefined && clearGhi > 50) {
      ratio = inputs.referenceGhiWm2 / clearGhi;
      // With the sky known, the holders' draw tells what hovering really costs (wind raises it):
      // battery power + their share of the sun, against the model.
      if (m && m.holders >= 3 && inputs.holding >= 3) {
        const flownW = m.batteryW / m.holders + this.solarPerDroneW(inputs.referenceGhiWm2);
        const c = Math.min(1.6, Math.max(0.8, flownW / this.modelHoverPerDroneW()));
        this.hoverCorrection += (c - this.hoverCorrection) * Math.min(1, dtH / (10 / 60));
        hoverPer = this.hoverPerDroneW();
      }
    }
    const keep = Math.exp(-dtH / (CLIMATE_DAYS * 24));
    this.climate.measured *= keep;
    this.climate.clear *= keep;
    if (ratio !== undefined) {
      const r = Math.min(1.2, Math.max(0, ratio));
      // Cloud changes over tens of minutes; smooth over a couple of minutes of ticks (over ten, a
      // net on its pads saw a midday clearing several minutes late). The climate
      // (energy-weighted, about a week) is what the forecast falls back to beyond a few hours.
      // The first reading is taken as it is: there is nothing to smooth it against.
      this.cloud = this.seenSky ? this.cloud + (r - this.cloud) * Math.min(1, dtH / (CLOUD_SMOOTHING_MIN / 60)) : r;
      this.seenSky = true;
      this.skyAtMs = now;
      this.climate.measured += r * clearGhi * dtH;
      this.climate.clear += clearGhi * dtH;
    }
    const solarPer = modelPer * this.cloud;
    const forecast = this.forecast(inputs.available);

    const dishW = inputs.dish === 'active' ? p.dishW.activeW : inputs.dish === 'idle' ? p.dishW.idleW : 0;
    const radiosW = p.radiosW * (inputs.radios ?? 1);
    const padsW = inputs.charging * p.padChargeW;
    const soc = this.stationWh / p.stationBatteryWh;
    const socPct = soc * 100;
    const shed: Shed[] = [];
    if (socPct < p.shedUplinkPct) shed.push('uplink');
    if (socPct < p.shedPhonePct) shed.push('phone');
    if (socPct < p.shedDronesPct) shed.push('drones');

    // Sunset plan: the first time ahead at which forecast generation stops covering hover.
    let breakEven: number | null = null;
    if (forecast[0] && forecast[0].perDroneSolarW >= hoverPer) {
      const fall = forecast.find((f) => f.perDroneSolarW < hoverPer);
      breakEven = fall ? fall.atMs : null;
    }
    // Drones come down one at a time through the fleet's transit token, at the pace the fleet
    // measures (the profile's until it has), and the last one then descends to its pad.
    const pace = inputs.transitPace;
    const landAllMs = Math.max(p.landAllMs, this.throughToken(this.current?.decisions.stations ?? 0, pace?.landMs, LAST_DESCENT_MS));
    const landBy = breakEven === null ? null : breakEven - landAllMs;

    // Hysteresis: the net goes up when the sun pays for hover with 5 % to spare and the forecast
    // keeps it so for the next half hour (a cloudy climate's sunny spells are short, and the drones'
    // batteries carry them home if one ends early); it stays up until the sun covers less than 90 % (the drones'
    // batteries and rotation bridge a passing cloud) or the sunset plan lands it.
    // Launching takes as long as landing, so on a rising sun the net goes up ahead: when the
    // forecast has the sun pay within the time to launch everyone (and for an hour after), the
    // first drones hover a few minutes on a small deficit (under 10 %) and the net is full when
    // the sun pays for it.
    const nextHalfHour = forecast.slice(0, 3);
    const launchAllMs = this.throughToken(Math.max(0, inputs.available - p.spares), pace?.launchMs, FIRST_CLIMB_MS);
    const paysFrom = forecast.findIndex((f) => f.atMs > now && f.perDroneSolarW >= 1.05 * hoverPer);
    const launchAhead =
      paysFrom >= 0 &&
      forecast[paysFrom]!.atMs - now <= launchAllMs &&
      solarPer >= 0.9 * hoverPer &&
      forecast.slice(paysFrom, paysFrom + 4).every((f) => f.perDroneSolarW >= hoverPer) &&
      (landBy === null || now < landBy);
    if (!this.netUp && solarPer >= 1.05 * hoverPer && nextHalfHour.every((f) => f.perDroneSolarW >= hoverPer)) this.netUp = true;
    else if (!this.netUp && launchAhead) {
      this.netUp = true;
      // If the sun has not caught up by then, the forecast was wrong: size the net as usual.
      this.aheadUntilMs = forecast[paysFrom]!.atMs + 15 * 60_000;
    } else if (this.netUp && solarPer < 0.9 * hoverPer) this.netUp = false;
    if (!this.netUp || solarPer >= hoverPer || (this.aheadUntilMs !== null && now > this.aheadUntilMs)) this.aheadUntilMs = null;
    const ahead = this.aheadUntilMs !== null;
    // A passing cloud is bridged on the holders' batteries while the lowest has more than half its
    // charge left (in the 90–100 % band the deficit is at most a tenth of hover: over an hour of
    // flight); after that the net shrinks to what rotation sustains (k = m(⌈R⌉+1)) until the sun
    // pays again. Shrinking and regrowing through the transit token costs more than the bridge.
    if (!this.netUp || ahead || solarPer >= hoverPer) this.dip = null;
    else if (this.dip === null) this.dip = (inputs.holdersMinSoc ?? 0) >= DIP_BRIDGE_FROM_SOC ? 'bridge' : 'rotate';
    else if (this.dip === 'bridge' && (inputs.holdersMinSoc ?? 0) < DIP_BRIDGE_UNTIL_SOC) this.dip = 'rotate';
    const whole = ahead || this.dip === 'bridge';
    let stations = !this.netUp ? 0 : whole ? this.fullStations(inputs.available) : this.sustainableStations(inputs.available, solarPer);
    const perDrone = `${solarPer.toFixed(0)} W sun vs ${hoverPer.toFixed(0)} W hover per drone`;
    let reason = this.netUp
      ? ahead
        ? `up ahead of the sun: the forecast has it pay for hover by ${new Date(this.aheadUntilMs! - 15 * 60_000).toISOString().slice(11, 16)} UTC (${perDrone})`
        : solarPer >= hoverPer
        ? `the net carries itself (${perDrone})`
        : this.dip === 'bridge'
        ? `bridging a dip on the holders' batteries, lowest at ${((inputs.holdersMinSoc ?? 0) * 100).toFixed(0)} % (${perDrone})`
        : `held by rotation through a dip (${perDrone})`
      : solarPer >= hoverPer
        ? `the forecast has the sun stop paying for hover within half an hour (${perDrone})`
        : `the sun does not pay for hover (${perDrone})`;
    if (stations > 0 && landBy !== null && now >= landBy) {
      stations = 0;
      this.netUp = false;
      reason = 'sunset plan: landing before generation stops covering hover';
    }
    // Holding the net costs the station only when the sun does not pay for hover (the pads
    // recharge the rotation); a net that carries itself keeps flying and refills the battery.
    if (shed.includes('drones') && solarPer < hoverPer) {
      stations = 0;
      reason = `station battery at ${socPct.toFixed(0)} %: drones land`;
    }

    const solarModelW = modelPer * inputs.holding;
    const solarW = measuredW ?? solarPer * inputs.holding;
    const hoverW = hoverPer * inputs.holding;
    // The net's surplus reaches the bus; a deficit is the holders' own batteries' business.
    const surplusW = Math.max(0, solarW - hoverW);
    const baseLoadW = p.piW + radiosW + padsW;
    const spare = surplusW - baseLoadW;
    // The dish runs only when the sun pays for it, or the station battery is nearly full.
    const uplinkGranted = !shed.includes('uplink') && (spare >= p.dishW.activeW || socPct >= 90);
    const phoneChargeW = shed.includes('phone') ? 0 : Math.max(0, Math.min(p.phoneMaxW, socPct >= 60 ? p.phoneMaxW : spare - (uplinkGranted ? p.dishW.activeW : 0)));
    const loadsW = baseLoadW + dishW + phoneChargeW;
    const stationBatteryW = loadsW - surplusW;
    this.stationWh = Math.min(p.stationBatteryWh, Math.max(0, this.stationWh - stationBatteryW * dtH));

    // Fleet sizing: the full net is every available drone but the spares. When the sun covers
    // less than hover the net is held by rotation, and holding all of it would take
    // k = m(⌈R⌉ + 1) drones; say so when the fleet is smaller.
    const target = Math.max(0, inputs.available - p.spares);
    const need = this.netUp && solarPer < hoverPer && target >= 3 ? this.requiredFleet(target, solarPer) : 0;
    const warning = need > inputs.available ? `the fleet cannot sustain the full net: ${target} stations at ${solarPer.toFixed(0)} W of sun per drone need ${need} drones (k = m(⌈R⌉+1)), ${inputs.available} available; holding ${stations}` : null;

    this.current = {
      atMs: now,
      sources: { solarModelW, solarMeasuredW: measuredW, stationBatteryW },
      loads: { hoverW, padsW, dishW, piW: p.piW, phoneW: phoneChargeW, radiosW },
      stationBattery: { soc: this.stationWh / p.stationBatteryWh, energyWh: this.stationWh, capacityWh: p.stationBatteryWh },
      cloudCorrection: this.cloud,
      perDrone: { hoverW: hoverPer, solarW: solarPer, hoverCorrection: this.hoverCorrection },
      decisions: { stations, uplinkGranted, phoneChargeW, shed, reason },
      sunset: { breakEvenAtMs: breakEven, landByMs: landBy },
      forecast,
      warning,
    };
    return this.current;
  }
}
