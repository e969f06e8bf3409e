/**
 * Bench suite `fleet`: the whole controller flying the cloudy scenario headless for 30 simulated
 * days (--quick: 2; --days N), 25 drones.
 *   coverage_vs_bound_30d  share of daylight with the full net deployed ÷ the upper bound the
 *                          energy balance allows (goal ≥ 0.95). The bound is the share of daylight
 *                          in which the sun that actually fell on the net (the simulator's truth,
 *                          clouds included) paid for hover: GHI × area × efficiency × MPPT ≥
 *                          180 W/kg × (airframe + net share) + avionics, per drone. Outside it the
 *                          full net can only be held by rotation, which a 25-drone fleet cannot
 *                          sustain (k = m(⌈R⌉+1)). The bound leaves out the drones' batteries,
 *                          so the ratio can pass 1: the net is launched ahead of a rising sun and
 *                          bridges passing clouds on them.
 *   coverage_bound         that bound itself
 *   min_soc_pct            the lowest state of charge any drone reached (goal ≥ 15)
 *   min_separation_m       the closest two airborne drones came (goal ≥ 5)
 *   forecast_error_pct     the 24-hour energy forecast made at each midnight against the energy
 *                          that then fell (mean absolute error over the days; goal ≤ 5)
 *   forecast_error_floor_pct  the same for a forecast that knows the run's true mean cloudiness
 *                          (clear-sky energy × the whole run's measured/clear ratio) but, like the
 *                          site, nothing of the day's own clouds: what any forecast from local
 *                          measurement alone can hope for
 *   forecast_bias_pct      the forecasts' sum against the truth's sum over the run
 *   …the same scenario and seed flown a second time, with the simulated weather service behind the
 *   satellite link (sim/weather-service.ts, the scenario's default error), its forecast fetched
 *   when a window is open and the budget grants the uplink:
 *   forecast_error_outside_pct  the budget's 24-hour energy forecast at each midnight against the
 *                          truth, over the days whose midnight forecast rested on an outside one
 *                          (goal ≤ outside_forecast_input_error_pct + 2: the budget adds at most 2)
 *   outside_forecast_input_error_pct  the outside forecast's own error on those days: its hourly
 *                          GHI summed over the same 24 hours against the truth (e)
 *   outside_forecast_days  how many days that is (the first midnight comes before any window)
 *   coverage_vs_bound_outside  coverage_vs_bound of that flight
 *   command_denials        COMMAND_ACKs that refused (goal 0)
 *   launch_pace_s, return_pace_s  how long one launch and one return held the transit token at the
 *                          end (the fleet's smoothed measurement; the sunset plan is timed by it)
 *   …and the firmware scenarios' figures (firmware-scenarios.ts): cold_start_net_full_s,
 *   saved_streams_radio_util, mixed_fleet_coverage and their company
 *   strong_wind_min        minutes the fleet spent in a strong-wind stage (lowered and halved, or
 *                          landed): the scenario's 6 m/s westerly with 2 m/s gusts passes 9 m/s as
 *                          a ten-minute mean now and then
 */
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { SimulatedSite } from '../simulated-site.ts';
import { loadScenario } from '../../sim/scenario.ts';
import { firmwareFigures } from './firmware-scenarios.ts';

const DAY_MS = 24 * 3600_000;

/** What one flight of the cloudy scenario measured. */
interface Flight {
  coverage: number;
  bound: number;
  daylightMin: number;
  fullMin: number;
  payingMin: number;
  minSoc: number;
  windyMin: number;
  wallS: number;
  truthWh: number[];
  clearWh: number[];
  /** The budget's 24-hour forecast made at each midnight, Wh/m² (NaN: none made). */
  forecastWh: number[];
  /** Whether that forecast rested on an outside forecast. */
  outsideAtMidnight: boolean[];
  /** The outside forecast's own GHI for the same 24 hours, Wh/m² (NaN: none held, or it did not cover the day). */
  outsideWh: number[];
  site: SimulatedSite;
}

/** Flies `days` of the cloudy scenario; with `outside`, the site fetches the simulated weather service's forecast through the satellite link. */
async function fly(days: number, outside: boolean, progress: (m: string) => void): Promise<Flight> {
  const base = loadScenario('cloudy-week');
  const scenario = { ...base, duration: days * DAY_MS, faults: [] };
  const site = new SimulatedSite({ scenario, seed: 11, weatherService: outside });
  const t0 = Date.parse(scenario.start);
  const f: Flight = {
    coverage: 0,
    bound: 0,
    daylightMin: 0,
    fullMin: 0,
    payingMin: 0,
    minSoc: 1,
    windyMin: 0,
    wallS: 0,
    truthWh: Array(days).fill(0),
    clearWh: Array(days).fill(0),
    forecastWh: Array(days).fill(NaN),
    outsideAtMidnight: Array(days).fill(false),
    outsideWh: Array(days).fill(NaN),
    site,
  };
  const label = outside ? 'with the outside forecast' : 'on the measured sky';
  await site.start();
  const wall0 = performance.now();
  await site.runFast(scenario.duration, {
    sampleEveryMs: 60_000,
    onSample: (x) => {
      const day = Math.floor((x.timeMs - t0) / DAY_MS);
      const b = site.budget;
      if (b && Number.isNaN(f.forecastWh[day]!) && x.timeMs - t0 - day * DAY_MS < 60_000) {
        // The forecast made at midnight for the next 24 hours (GHI × 15 min per point).
        f.forecastWh[day] = b.forecast.reduce((s, p) => s + p.expectedGhiWm2 * 0.25, 0);
        f.outsideAtMidnight[day] = b.forecastSource.kind === 'outside';
        // The outside forecast's own: its hours (GHI over the hour before each) ending in the next 24 h.
        const held = site.site.power.outsideForecast;
        const hours = held?.hours.filter((h) => h.atMs > x.timeMs && h.atMs <= x.timeMs + DAY_MS) ?? [];
        if (hours.length === 24 && hours.every((h) => h.ghiWm2 !== undefined)) f.outsideWh[day] = hours.reduce((s, h) => s + h.ghiWm2!, 0);
      }
      if (day < days) {
        f.truthWh[day]! += x.ghiWm2 / 60;
        f.clearWh[day]! += site.sim.sky.ghiWm2(x.timeMs) / 60;
      }
      f.minSoc = Math.min(f.minSoc, x.minSoc);
      const target = site.site.fleet.status();
      if (target.windStage !== 'calm') f.windyMin++;
      if (site.sim.sky.sunElevationDeg(x.timeMs) <= 0 || !b) return;
      f.daylightMin++;
      const available = Object.values(target.roles).reduce((a, n) => a + n, 0) - target.roles.away - target.roles.fault - target.roles.lost;
      if (x.manned >= available - 1 && x.manned > 0) f.fullMin++;
      if (site.site.power.solarPerDroneW(x.ghiWm2) >= b.perDrone.hoverW) f.payingMin++;
    },
    onProgress: (fr) => progress(`${label}: day ${(fr * days).toFixed(1)} of ${days}`),
  });
  f.wallS = (performance.now() - wall0) / 1000;
  await site.stop();
  f.coverage = f.daylightMin ? f.fullMin / f.daylightMin : 0;
  f.bound = f.daylightMin ? f.payingMin / f.daylightMin : 0;
  progress(`${label}: ${days} days in ${f.wallS.toFixed(0)} s; daylight ${(f.daylightMin / 60).toFixed(1)} h, full net ${(f.fullMin / 60).toFixed(1)} h, sun paying ${(f.payingMin / 60).toFixed(1)} h`);
  const kwh = (x: number) => (x / 1000).toFixed(2);
  progress(`${label}: forecast vs truth per day (kWh/m²): ${f.forecastWh.map((w, i) => `${kwh(w)}${outside ? `(${f.outsideAtMidnight[i] ? `outside ${kwh(f.outsideWh[i]!)}` : 'measured sky'})` : ''}/${kwh(f.truthWh[i]!)}`).join(' ')}`);
  return f;
}

const round = (x: number, places: number) => Math.round(x * 10 ** places) / 10 ** places;

/** Mean absolute error of daily forecasts against the truth, % (days where `use` holds and both are known; -1: none). */
function meanAbsPct(forecast: readonly number[], truth: readonly number[], use: (i: number) => boolean = () => true): number {
  const e = forecast.map((f, i) => (use(i) && Number.isFinite(f) && truth[i]! > 0 ? Math.abs(f - truth[i]!) / truth[i]! : NaN)).filter(Number.isFinite);
  return e.length ? round((e.reduce((a, b) => a + b, 0) / e.length) * 100, 1) : -1;
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

export const suite: BenchSuite = {
  description: 'the fleet and the power budget over weeks of the cloudy scenario, on the measured sky and with an outside forecast',
  async run(progress, { quick, days: asked }) {
    const days = asked ?? (quick ? 2 : 30);
    const own = await fly(days, false, progress);
    const outside = await fly(days, true, progress);
    const site = own.site;
    const c = site.world.closest;
    if (c) progress(`closest approach ${site.world.minSeparationM.toFixed(2)} m at ${new Date(c.timeMs).toISOString()}: drones ${c.sysids.join(' and ')} (${c.modes.join(', ')}) at ${c.positions.map((p) => `(${p.n.toFixed(1)}, ${p.e.toFixed(1)}, ${p.u.toFixed(1)})`).join(' and ')}`);
    const faults = site.site.fleet.transitions.filter((t) => t.to === 'fault' || t.to === 'away' || t.to === 'lost');
    for (const f of faults) progress(`${new Date(f.atMs).toISOString()} drone ${f.sysid}: ${f.from} → ${f.to} (${f.reason})`);
    const climate = sum(own.truthWh) / sum(own.clearWh);
    const forecastSum = sum(own.forecastWh.filter(Number.isFinite));
    const truthSum = sum(own.truthWh.filter((_, i) => Number.isFinite(own.forecastWh[i]!)));
    // With the outside forecast: the days whose midnight forecast rested on one (the first midnight comes before any window was granted).
    const withOutside = (i: number) => outside.outsideAtMidnight[i]! && Number.isFinite(outside.outsideWh[i]!);
    const figures: Figures = {
      days,
      [`coverage_vs_bound_${days}d`]: own.bound > 0 ? round(own.coverage / own.bound, 3) : 0,
      coverage_vs_bound_outside: outside.bound > 0 ? round(outside.coverage / outside.bound, 3) : 0,
      coverage_full_net: round(own.coverage, 3),
      coverage_bound: round(own.bound, 3),
      min_soc_pct: round(Math.min(own.minSoc, outside.minSoc) * 100, 1),
      min_separation_m: Number.isFinite(site.world.minSeparationM) ? round(Math.min(site.world.minSeparationM, outside.site.world.minSeparationM), 2) : -1,
      forecast_error_pct: meanAbsPct(own.forecastWh, own.truthWh),
      forecast_error_floor_pct: meanAbsPct(own.clearWh.map((x) => x * climate), own.truthWh),
      forecast_bias_pct: truthSum > 0 ? round(((forecastSum - truthSum) / truthSum) * 100, 1) : -1,
      forecast_error_outside_pct: meanAbsPct(outside.forecastWh, outside.truthWh, withOutside),
      outside_forecast_input_error_pct: meanAbsPct(outside.outsideWh, outside.truthWh, withOutside),
      outside_forecast_days: outside.outsideAtMidnight.filter((_, i) => withOutside(i)).length,
      command_denials: site.site.fleet.denials + outside.site.site.fleet.denials,
      strong_wind_min: own.windyMin,
      launch_pace_s: round((site.site.fleet.transitPace().launchMs ?? NaN) / 1000, 1),
      return_pace_s: round((site.site.fleet.transitPace().landMs ?? NaN) / 1000, 1),
      faults_and_losses: faults.length + outside.site.site.fleet.transitions.filter((t) => t.to === 'fault' || t.to === 'away' || t.to === 'lost').length,
      rtf: Math.round((days * DAY_MS) / 1000 / own.wallS),
      // The real-firmware scenarios (cold start, saved streams, mixed fleet, reboot on the pad).
      ...(await firmwareFigures(progress)),
    };
    return figures;
  },
};
