/**
 * The power budget's steps (budget.ts runs them in order every tick): pure functions of the
 * profile, the tick's inputs and the planner's state before the tick, each returning what the
 * next step needs (and any new state, which the planner keeps). The model they share is stated in
 * budget.ts.
 */
import type { ClearSky } from '../../common/solar.ts';
import type { ForecastPoint, PowerInputs, PowerProfile, Shed } from './budget.ts';
import { skyFactorAt, type ForecastSky } from './outside-forecast.ts';

/** A profile with every default filled in. */
export type ResolvedPowerProfile = Required<Omit<PowerProfile, 'site' | 'outsideForecast' | 'climateSkyIndex'>> & Pick<PowerProfile, 'site' | 'outsideForecast' | 'climateSkyIndex'>;

/** The profile's defaults (see PowerProfile). */
export function resolvePowerProfile(profile: PowerProfile): ResolvedPowerProfile {
  return {
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
}

export const FORECAST_STEP_MS = 15 * 60_000;
const FORECAST_POINTS = 24 * 4;
const CLOUD_PERSISTENCE_H = 2;
/** Time constant of the measured cloud factor's smoothing, minutes. */
const CLOUD_SMOOTHING_MIN = 2;
/** The site's climate: the sky's transmittance averaged, weighted by energy, over about a week. */
const CLIMATE_DAYS = 7;
/** A configured climate (site.climate) weighs as much as this many days of measured sky: a week's measurement and the record share the say. */
export const CLIMATE_PRIOR_DAYS = 7;
/** Time constant of the hover correction learnt from the holders' draw, minutes. */
const HOVER_SMOOTHING_MIN = 10;
/** A dip is bridged whole when the holders' lowest battery is above this, until it falls below the next. */
const DIP_BRIDGE_FROM_SOC = 0.6;
const DIP_BRIDGE_UNTIL_SOC = 0.5;
/** A measured transit pace is planned with this much to spare. */
const PACE_MARGIN = 1.15;
/** After the last drone hands the token back it still descends to its pad (≈ 60 m at 1.5 m/s, the last 10 at 0.5). */
const LAST_DESCENT_MS = 60_000;
/** Before the first drone takes the token it takes off and climbs to the staging level (≈ 40 m at 2.5 m/s, and the commands). */
const FIRST_CLIMB_MS = 30_000;
/** A net launched ahead of the sun is held whole until this long after the forecast has the sun pay. */
const AHEAD_GRACE_MS = 15 * 60_000;
/** The net goes up when the sun pays for hover with this margin (5 % to spare) … */
const LAUNCH_MARGIN = 1.05;
/** … and the forecast keeps it paying over its first points (now and the next half hour). */
const PAYING_AHEAD_POINTS = 3;

// ---- The model per drone and the fleet-sizing anchor --------------------------------------------

/**
 * Fleet sizing (the anchor): to keep a station manned with flights of `flightTime` and recharges
 * of `rechargeTime` (any one unit), it takes ⌈R⌉ + 1 drones, R = recharge / flight time; m
 * stations take k = m(⌈R⌉ + 1).
 */
export function fleetPerStation(flightTime: number, rechargeTime: number): number {
  return Math.ceil(rechargeTime / flightTime) + 1;
}

/** Per-drone hover power holding the net by the profile, W: hoverWPerKg × all-up mass + avionics. */
export function modelHoverPerDroneW(p: ResolvedPowerProfile): number {
  return p.hoverWPerKg * (p.airframeMassKg + p.netMassKgPerM2 * p.netAreaM2PerDrone) + p.avionicsW;
}

/** The sun one drone's share of the net turns into power, W. */
export function solarPerDroneW(p: ResolvedPowerProfile, ghiWm2: number): number {
  return ghiWm2 * p.netAreaM2PerDrone * p.netEfficiency * p.mpptEfficiency;
}

/** ⌈R⌉ + 1 of the sizing anchor for flights in deficit (hover `hoverW`, sun `solarW` per drone). */
function dronesPerStation(p: ResolvedPowerProfile, hoverW: number, solarW: number): number {
  const usableWh = p.batteryWh * p.usableFraction;
  return fleetPerStation(usableWh / (hoverW - solarW), usableWh / p.padChargeW);
}

/** The whole net: every available drone but the spares (fewer than three hold no net). */
export function fullStations(p: ResolvedPowerProfile, available: number): number {
  const n = Math.max(0, available - p.spares);
  return n >= 3 ? n : 0;
}

/**
 * Stations `available` drones can hold when each receives `solarW`: all but the spares when the
 * net carries itself, otherwise m = ⌊n / (⌈R⌉ + 1)⌋ (k = m(⌈R⌉+1), R = recharge / flight time).
 * Fewer than three drones hold no net (no area), so that is 0.
 */
export function sustainableStations(p: ResolvedPowerProfile, hoverW: number, available: number, solarW: number): number {
  if (solarW >= hoverW) return fullStations(p, available);
  const m = Math.min(Math.max(0, available - p.spares), Math.floor(available / dronesPerStation(p, hoverW, solarW)));
  return m >= 3 ? m : 0;
}

/** Drones needed to hold `stations` at this per-drone generation (the sizing anchor). */
export function requiredFleet(p: ResolvedPowerProfile, hoverW: number, stations: number, solarW: number): number {
  if (solarW >= hoverW) return stations + p.spares;
  return stations * dronesPerStation(p, hoverW, solarW);
}

/**
 * Time for `drones` to pass the transit token one at a time: at the measured pace with
 * PACE_MARGIN, plus `endMs` off the token (the first climb, the last descent); at the profile's
 * transitPerDroneMs (which includes those) before anything was measured.
 */
export function throughToken(p: ResolvedPowerProfile, drones: number, measuredMs: number | undefined, endMs: number): number {
  return measuredMs === undefined ? drones * p.transitPerDroneMs : drones * (measuredMs * PACE_MARGIN) + endMs;
}

// ---- Step 1: the sources ------------------------------------------------------------------------

/**
 * Measured generation from the holders' batteries: what they would draw without sun (hover)
 * minus what they do draw, W for the whole net; and the sky it shows (measured / modelled sun),
 * when enough drones hold the net to spread it and the sun is up.
 */
export function holdersGeneration(inputs: PowerInputs, hoverW: number, modelSolarW: number): { measuredW: number | null; skyRatio?: number } {
  const m = inputs.measured;
  if (!m || m.holders <= 0) return { measuredW: null };
  const perDrone = Math.max(0, hoverW - m.batteryW / m.holders);
  // Fewer than three holders do not spread the net: nothing to learn about the sky from them.
  const skyRatio = inputs.holding >= 3 && modelSolarW > 50 ? perDrone / modelSolarW : undefined;
  return { measuredW: perDrone * inputs.holding, skyRatio };
}

/**
 * A reference cell on the station (the charge controller's PV reading) sees the sky even when the
 * net is down; without one, a net on its pads would never learn that the cloud has gone. With the
 * sky known, the holders' draw tells what hovering really costs (wind raises it): battery power +
 * their share of the sun, against the model, smoothed into `hoverCorrection` (0.8–1.6).
 */
export function referenceCell(p: ResolvedPowerProfile, inputs: PowerInputs, clearGhiWm2: number, hoverCorrection: number, dtH: number): { skyRatio?: number; hoverCorrection: number } {
  const ghi = inputs.referenceGhiWm2;
  if (ghi === undefined || !(clearGhiWm2 > 50)) return { hoverCorrection };
  const m = inputs.measured;
  if (!m || m.holders < 3 || inputs.holding < 3) return { skyRatio: ghi / clearGhiWm2, hoverCorrection };
  const flownW = m.batteryW / m.holders + solarPerDroneW(p, ghi);
  const c = Math.min(1.6, Math.max(0.8, flownW / modelHoverPerDroneW(p)));
  return { skyRatio: ghi / clearGhiWm2, hoverCorrection: hoverCorrection + (c - hoverCorrection) * Math.min(1, dtH / (HOVER_SMOOTHING_MIN / 60)) };
}

/** What the planner has learnt of the sky. */
export interface SkyState {
  /** Measured / modelled generation, smoothed (1 clear, lower under cloud). */
  cloud: number;
  seenSky: boolean;
  /** When the sky was last measured (the present cloud factor ages from then, not from now). */
  skyAtMs: number;
  /** Decaying sums of measured and clear-sky irradiance × time: their ratio is the site's climate. */
  climate: { measured: number; clear: number };
  /**
   * The site's climate from a record (site.climate: the month's mean sky index, e.g. PVGIS), as sums
   * of the same kind that do not decay: CLIMATE_PRIOR_DAYS of clear sky at that index. Absent: the
   * climate is what was measured alone.
   */
  prior?: { measured: number; clear: number };
}

export const UNSEEN_SKY: Readonly<SkyState> = Object.freeze({ cloud: 1, seenSky: false, skyAtMs: 0, climate: Object.freeze({ measured: 0, clear: 0 }) });

/**
 * The sky learnt from this tick's measured ratio (undefined: nothing measured). Cloud changes over
 * tens of minutes; it is smoothed over a couple of minutes of ticks (over ten, a net on its pads
 * saw a midday clearing several minutes late). The climate (energy-weighted, about a week) is what
 * the forecast falls back to beyond a few hours. The first reading is taken as it is: there is
 * nothing to smooth it against.
 */
export function learnSky(s: Readonly<SkyState>, skyRatio: number | undefined, clearGhiWm2: number, dtH: number, now: number): SkyState {
  const keep = Math.exp(-dtH / (CLIMATE_DAYS * 24));
  const climate = { measured: s.climate.measured * keep, clear: s.climate.clear * keep };
  if (skyRatio === undefined) return { ...s, climate };
  const r = Math.min(1.2, Math.max(0, skyRatio));
  return {
    cloud: s.seenSky ? s.cloud + (r - s.cloud) * Math.min(1, dtH / (CLOUD_SMOOTHING_MIN / 60)) : r,
    seenSky: true,
    skyAtMs: now,
    climate: { measured: climate.measured + r * clearGhiWm2 * dtH, clear: climate.clear + clearGhiWm2 * dtH },
    ...(s.prior ? { prior: s.prior } : {}),
  };
}

/**
 * The site's climate: measured over clear-sky energy in the last week or so, pooled with the
 * configured record's (SkyState.prior) when there is one; 1 (the clear sky) before anything was
 * measured or configured. Without a weather forecast from outside the day-ahead forecast rests on
 * it: nothing local predicts tomorrow's clouds better.
 */
export function climateFactor(s: Readonly<SkyState>): number {
  const measured = s.climate.measured + (s.prior?.measured ?? 0);
  const clear = s.climate.clear + (s.prior?.clear ?? 0);
  return clear > 0 ? measured / clear : 1;
}

/** The sky state with the site's recorded climate (sky index 0–1) weighing as CLIMATE_PRIOR_DAYS of clear days of `clearDayWh` (Wh/m²). */
export function withClimatePrior(s: Readonly<SkyState>, skyIndex: number, clearDayWh: number): SkyState {
  const clear = CLIMATE_PRIOR_DAYS * clearDayWh;
  return { ...s, prior: { measured: skyIndex * clear, clear } };
}

// ---- Step 2: the forecast -----------------------------------------------------------------------

/**
 * The next 24 h from the 15-minute step `now` is in. Persistence for the next hours; beyond, the
 * outside forecast's sky for the hours it covers (outside-forecast.ts), the site's climate for the
 * rest: the weight of the last measured cloud factor halves every CLOUD_PERSISTENCE_H after it was
 * measured (overnight it is gone).
 */
export function forecastPoints(p: ResolvedPowerProfile, sky: ClearSky, s: Readonly<SkyState>, hoverW: number, available: number, now: number, outside?: ForecastSky): ForecastPoint[] {
  const base = Math.floor(now / FORECAST_STEP_MS) * FORECAST_STEP_MS;
  const climate = climateFactor(s);
  const cloudAt = (atMs: number) => {
    const w = s.seenSky ? 0.5 ** (Math.max(0, atMs - s.skyAtMs) / 3600_000 / CLOUD_PERSISTENCE_H) : 0;
    return w * s.cloud + (1 - w) * ((outside && skyFactorAt(outside, atMs)) ?? climate);
  };
  const points: ForecastPoint[] = [];
  for (let i = 0; i < FORECAST_POINTS; i++) {
    const t = base + i * FORECAST_STEP_MS;
    const clear = sky.ghiWm2(t);
    const expected = clear * cloudAt(Math.max(t, now));
    const solar = solarPerDroneW(p, expected);
    points.push({
      atMs: t,
      sunElevationDeg: sky.sunElevationDeg(t),
      clearSkyGhiWm2: clear,
      expectedGhiWm2: expected,
      perDroneSolarW: solar,
      perDroneHoverW: hoverW,
      // The net is flown only while it pays for its own hover (see the sunset plan).
      stations: solar >= hoverW ? sustainableStations(p, hoverW, available, solar) : 0,
    });
  }
  return points;
}

// ---- Step 3: the loads, the station battery as the tick starts, shedding ------------------------

/** The station's own loads this tick, W (the phone's is decided with the bus balance). */
export function stationLoads(p: ResolvedPowerProfile, inputs: PowerInputs): { dishW: number; radiosW: number; padsW: number } {
  const dishW = inputs.dish === 'active' ? p.dishW.activeW : inputs.dish === 'idle' ? p.dishW.idleW : 0;
  return { dishW, radiosW: p.radiosW * (inputs.radios ?? 1), padsW: inputs.charging * p.padChargeW };
}

/** The station battery's energy, and whether a battery monitor measured it. */
export interface StationBattery {
  energyWh: number;
  measured: boolean;
}

/**
 * The station battery as the tick starts: the battery monitor's state of charge when a fresh one
 * is measured (the integrator is re-anchored to it), else what the integrator holds.
 */
export function stationBatteryNow(p: ResolvedPowerProfile, integratedWh: number, measuredSoc: number | undefined): StationBattery {
  if (measuredSoc === undefined) return { energyWh: integratedWh, measured: false };
  return { energyWh: Math.min(1, Math.max(0, measuredSoc)) * p.stationBatteryWh, measured: true };
}

/** Loads shed at this station-battery charge, in order: the uplink, the phone, then the drones land. */
export function shedding(p: ResolvedPowerProfile, socPct: number): Shed[] {
  const shed: Shed[] = [];
  if (socPct < p.shedUplinkPct) shed.push('uplink');
  if (socPct < p.shedPhonePct) shed.push('phone');
  if (socPct < p.shedDronesPct) shed.push('drones');
  return shed;
}

// ---- Step 4: the sunset plan --------------------------------------------------------------------

/**
 * The time to land the whole net: the drones come down one at a time through the fleet's transit
 * token, at the pace the fleet measures (the profile's until it has), and the last one then
 * descends to its pad; never less than the profile's landAllMs.
 */
export function landAllMs(p: ResolvedPowerProfile, stations: number, pace: PowerInputs['transitPace']): number {
  return Math.max(p.landAllMs, throughToken(p, stations, pace?.landMs, LAST_DESCENT_MS));
}

/** Time to launch every available drone but the spares through the transit token (first climb included). */
export function launchAllMs(p: ResolvedPowerProfile, available: number, pace: PowerInputs['transitPace']): number {
  return throughToken(p, Math.max(0, available - p.spares), pace?.launchMs, FIRST_CLIMB_MS);
}

/** The first time ahead at which forecast generation stops covering hover, and when the landing must start for it. */
export function sunsetPlan(forecast: readonly ForecastPoint[], hoverW: number, landAllMs: number): { breakEvenAtMs: number | null; landByMs: number | null } {
  let breakEvenAtMs: number | null = null;
  if (forecast[0] && forecast[0].perDroneSolarW >= hoverW) {
    const fall = forecast.find((f) => f.perDroneSolarW < hoverW);
    breakEvenAtMs = fall ? fall.atMs : null;
  }
  return { breakEvenAtMs, landByMs: breakEvenAtMs === null ? null : breakEvenAtMs - landAllMs };
}

// ---- Step 5: the net's decisions ----------------------------------------------------------------

/** What the net's decisions remember from tick to tick. */
export interface NetState {
  netUp: boolean;
  /** Set while a net launched ahead of the sun waits for it to pay (until then it is held whole). */
  aheadUntilMs: number | null;
  /** Through a dip the net is first held whole on the holders' batteries ('bridge'), then sized for rotation. */
  dip: 'bridge' | 'rotate' | null;
}

export const NET_DOWN: Readonly<NetState> = Object.freeze({ netUp: false, aheadUntilMs: null, dip: null });

export interface NetInputs {
  now: number;
  forecast: readonly ForecastPoint[];
  /** Sun and hover per drone now, W. */
  solarW: number;
  hoverW: number;
  available: number;
  holdersMinSoc?: number;
  /** Time to launch every available drone but the spares, ms. */
  launchAllMs: number;
  landByMs: number | null;
  shed: readonly Shed[];
  socPct: number;
}

/**
 * Hysteresis: the net goes up when the sun pays for hover with 5 % to spare and the forecast keeps
 * it so for the next half hour (a cloudy climate's sunny spells are short, and the drones'
 * batteries carry them home if one ends early); it stays up until the sun covers less than 90 %
 * (the drones' batteries and rotation bridge a passing cloud) or the sunset plan lands it.
 * Launching takes as long as landing, so on a rising sun the net goes up ahead: when the forecast
 * has the sun pay within the time to launch everyone (and for an hour after), the first drones
 * hover a few minutes on a small deficit (under 10 %) and the net is full when the sun pays for it.
 */
export function netHysteresis(s: Pick<NetState, 'netUp' | 'aheadUntilMs'>, x: NetInputs): Pick<NetState, 'netUp' | 'aheadUntilMs'> {
  const { now, forecast, solarW, hoverW } = x;
  let { netUp, aheadUntilMs } = s;
  const paysFrom = firstPaying(forecast, now, hoverW);
  const launchAhead =
    paysFrom >= 0 &&
    forecast[paysFrom]!.atMs - now <= x.launchAllMs &&
    solarW >= 0.9 * hoverW &&
    forecast.slice(paysFrom, paysFrom + 4).every((f) => f.perDroneSolarW >= hoverW) &&
    (x.landByMs === null || now < x.landByMs);
  if (!netUp && solarW >= LAUNCH_MARGIN * hoverW && forecast.slice(0, PAYING_AHEAD_POINTS).every((f) => f.perDroneSolarW >= hoverW)) netUp = true;
  else if (!netUp && launchAhead) {
    netUp = true;
    // If the sun has not caught up by then, the forecast was wrong: size the net as usual.
    aheadUntilMs = forecast[paysFrom]!.atMs + AHEAD_GRACE_MS;
  } else if (netUp && solarW < 0.9 * hoverW) netUp = false;
  if (!netUp || solarW >= hoverW || (aheadUntilMs !== null && now > aheadUntilMs)) aheadUntilMs = null;
  return { netUp, aheadUntilMs };
}

/** The first forecast point after `now` where the sun pays for hover with the launch margin; -1 if none. */
function firstPaying(forecast: readonly ForecastPoint[], now: number, hoverW: number): number {
  return forecast.findIndex((f) => f.atMs > now && f.perDroneSolarW >= LAUNCH_MARGIN * hoverW);
}

/**
 * A passing cloud is bridged on the holders' batteries while the lowest has more than half its
 * charge left (in the 90–100 % band the deficit is at most a tenth of hover: over an hour of
 * flight); after that the net shrinks to what rotation sustains (k = m(⌈R⌉+1)) until the sun pays
 * again. Shrinking and regrowing through the transit token costs more than the bridge.
 */
export function dipStage(dip: NetState['dip'], s: Pick<NetState, 'netUp' | 'aheadUntilMs'>, x: Pick<NetInputs, 'solarW' | 'hoverW' | 'holdersMinSoc'>): NetState['dip'] {
  if (!s.netUp || s.aheadUntilMs !== null || x.solarW >= x.hoverW) return null;
  const lowest = x.holdersMinSoc ?? 0;
  if (dip === null) return lowest >= DIP_BRIDGE_FROM_SOC ? 'bridge' : 'rotate';
  if (dip === 'bridge' && lowest < DIP_BRIDGE_UNTIL_SOC) return 'rotate';
  return dip;
}

const utcTime = (ms: number) => new Date(ms).toISOString().slice(11, 16);

/** Why the net has the stations it has (before the sunset plan and shedding have their say). */
function netReason(s: NetState, x: NetInputs): string {
  const perDrone = `${x.solarW.toFixed(0)} W sun vs ${x.hoverW.toFixed(0)} W hover per drone`;
  if (!s.netUp) {
    if (x.solarW < x.hoverW) return `the sun does not pay for hover (${perDrone})`;
    // Paying, but not yet with the launch margin (dawn, or a thin cloud): say so, and when the forecast has the margin.
    if (x.solarW < LAUNCH_MARGIN * x.hoverW) {
      const margin = `${Math.round((LAUNCH_MARGIN - 1) * 100)} %`;
      const from = firstPaying(x.forecast, x.now, x.hoverW);
      const when = from >= 0 ? `, which the forecast has by ${utcTime(x.forecast[from]!.atMs)} UTC` : '';
      return `generation is within ${margin} of the net's hover power; waiting for a ${margin} margin${when} (${perDrone})`;
    }
    return `the forecast has the sun stop paying for hover within half an hour (${perDrone})`;
  }
  if (s.aheadUntilMs !== null) return `up ahead of the sun: the forecast has it pay for hover by ${utcTime(s.aheadUntilMs - AHEAD_GRACE_MS)} UTC (${perDrone})`;
  if (x.solarW >= x.hoverW) return `the net carries itself (${perDrone})`;
  if (s.dip === 'bridge') return `bridging a dip on the holders' batteries, lowest at ${((x.holdersMinSoc ?? 0) * 100).toFixed(0)} % (${perDrone})`;
  return `held by rotation through a dip (${perDrone})`;
}

/**
 * The stations the net has this tick and why, with the state carried to the next: up or down by
 * the hysteresis, whole (ahead of the sun, bridging a dip) or sized for rotation; the sunset plan
 * lands it at landBy; a station battery shedding the drones lands a net the sun does not pay for
 * (holding it costs the station only then: the pads recharge the rotation; a net that carries
 * itself keeps flying and refills the battery).
 */
export function decideNet(p: ResolvedPowerProfile, state: Readonly<NetState>, x: NetInputs): { state: NetState; stations: number; reason: string } {
  const up = netHysteresis(state, x);
  const s: NetState = { ...up, dip: dipStage(state.dip, up, x) };
  const whole = s.aheadUntilMs !== null || s.dip === 'bridge';
  let stations = !s.netUp ? 0 : whole ? fullStations(p, x.available) : sustainableStations(p, x.hoverW, x.available, x.solarW);
  let reason = netReason(s, x);
  if (stations > 0 && x.landByMs !== null && x.now >= x.landByMs) {
    stations = 0;
    s.netUp = false;
    reason = 'sunset plan: landing before generation stops covering hover';
  }
  if (x.shed.includes('drones') && x.solarW < x.hoverW) {
    stations = 0;
    reason = `station battery at ${x.socPct.toFixed(0)} %: drones land`;
  }
  return { state: s, stations, reason };
}

// ---- Step 6: the station bus and the station battery after the tick ---------------------------

/** From this charge the dish may run on the forecast's promise that the day's surplus refills the station battery. */
const FORECAST_GRANT_FROM_PCT = 75;

/**
 * What the forecast has the net send down to the station bus from now until the sun next sets:
 * each point's surplus over hover for the stations it holds, less the Pi and the radios, Wh.
 */
export function surplusUntilSunsetWh(p: ResolvedPowerProfile, forecast: readonly ForecastPoint[], radiosW: number): number {
  let wh = 0;
  let daylight = false;
  for (const f of forecast) {
    if (f.sunElevationDeg > 0) daylight = true;
    else if (daylight) break;
    wh += (f.stations * Math.max(0, f.perDroneSolarW - f.perDroneHoverW) - p.piW - radiosW) * (FORECAST_STEP_MS / 3600_000);
  }
  return wh;
}

/**
 * The bus balance: the net's surplus reaches the bus (a deficit is the holders' own batteries'
 * business); the Pi, the radios and the pads take it first; the dish runs when the sun pays for
 * it (`uplinkOnSurplus`), when the station battery is nearly full, or from 75 % when the forecast's surplus until
 * sunset (`refillWh`) refills the battery with an hour of the dish on top; the phone charges at
 * full rate above 60 %, else on what is left. The station battery makes up the difference
 * (positive: it discharges).
 */
export function busBalance(
  p: ResolvedPowerProfile,
  x: { netSolarW: number; netHoverW: number; loads: ReturnType<typeof stationLoads>; socPct: number; shed: readonly Shed[]; refillWh?: number },
): { uplinkGranted: boolean; uplinkOnSurplus: boolean; phoneChargeW: number; stationBatteryW: number } {
  const surplusW = Math.max(0, x.netSolarW - x.netHoverW);
  const baseLoadW = p.piW + x.loads.radiosW + x.loads.padsW;
  const spare = surplusW - baseLoadW;
  const emptyWh = (1 - x.socPct / 100) * p.stationBatteryWh;
  const refills = x.socPct >= FORECAST_GRANT_FROM_PCT && (x.refillWh ?? 0) >= emptyWh + p.dishW.activeW;
  // The sun pays for the dish now (midday surplus), not the station battery: the downlink's bulk prefetch waits for this.
  const uplinkOnSurplus = !x.shed.includes('uplink') && spare >= p.dishW.activeW;
  const uplinkGranted = uplinkOnSurplus || (!x.shed.includes('uplink') && (x.socPct >= 90 || refills));
  const phoneChargeW = x.shed.includes('phone') ? 0 : Math.max(0, Math.min(p.phoneMaxW, x.socPct >= 60 ? p.phoneMaxW : spare - (uplinkGranted ? p.dishW.activeW : 0)));
  const loadsW = baseLoadW + x.loads.dishW + phoneChargeW;
  return { uplinkGranted, uplinkOnSurplus, phoneChargeW, stationBatteryW: loadsW - surplusW };
}

/**
 * The station battery after the tick. Measured, it stays as the monitor said (the next tick
 * measures again, or integrates from here); unmeasured, the bus balance is integrated over the
 * tick (open loop), within 0 and the capacity.
 */
export function stationBatteryAfter(p: ResolvedPowerProfile, start: StationBattery, stationBatteryW: number, dtH: number): number {
  if (start.measured) return start.energyWh;
  return Math.min(p.stationBatteryWh, Math.max(0, start.energyWh - stationBatteryW * dtH));
}

// ---- Step 7: the fleet-sizing warning -----------------------------------------------------------

/**
 * The full net is every available drone but the spares. When the sun covers less than hover the
 * net is held by rotation, and holding all of it would take k = m(⌈R⌉ + 1) drones; say so when
 * the fleet is smaller.
 */
export function fleetWarning(p: ResolvedPowerProfile, x: { netUp: boolean; available: number; solarW: number; hoverW: number; stations: number }): string | null {
  const target = Math.max(0, x.available - p.spares);
  const need = x.netUp && x.solarW < x.hoverW && target >= 3 ? requiredFleet(p, x.hoverW, target, x.solarW) : 0;
  if (need <= x.available) return null;
  return `the fleet cannot sustain the full net: ${target} stations at ${x.solarW.toFixed(0)} W of sun per drone need ${need} drones (k = m(⌈R⌉+1)), ${x.available} available; holding ${x.stations}`;
}
