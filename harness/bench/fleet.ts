/**
 * Bench suite `fleet`: the whole controller flying the cloudy scenario headless for 30 simulated
 * days (--quick: 2), 25 drones.
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

export const suite: BenchSuite = {
  description: 'the fleet and the power budget over weeks of the cloudy scenario',
  async run(progress, { quick }) {
    const days = quick ? 2 : 30;
    const base = loadScenario('cloudy-week');
    const scenario = { ...base, duration: days * DAY_MS, faults: [] };
    const site = new SimulatedSite({ scenario, seed: 11 });
    const t0 = Date.parse(scenario.start);
    let daylightMin = 0;
    let fullMin = 0;
    let payingMin = 0;
    let minSoc = 1;
    let windyMin = 0;
    const truthWh: number[] = Array(days).fill(0);
    const clearWh: number[] = Array(days).fill(0);
    const forecastWh: number[] = Array(days).fill(NaN);
    await site.start();
    const wall0 = performance.now();
    await site.runFast(scenario.duration, {
      sampleEveryMs: 60_000,
      onSample: (x) => {
        const day = Math.floor((x.timeMs - t0) / DAY_MS);
        const b = site.budget;
        if (b && Number.isNaN(forecastWh[day]!) && x.timeMs - t0 - day * DAY_MS < 60_000) {
          // The forecast made at midnight for the next 24 hours (GHI × 15 min per point).
          forecastWh[day] = b.forecast.reduce((s, f) => s + f.expectedGhiWm2 * 0.25, 0);
        }
        if (day < days) {
          truthWh[day]! += x.ghiWm2 / 60;
          clearWh[day]! += site.sim.sky.ghiWm2(x.timeMs) / 60;
        }
        minSoc = Math.min(minSoc, x.minSoc);
        const target = site.site.fleet.status();
        if (target.windStage !== 'calm') windyMin++;
        if (site.sim.sky.sunElevationDeg(x.timeMs) <= 0 || !b) return;
        daylightMin++;
        const available = Object.values(target.roles).reduce((a, n) => a + n, 0) - target.roles.away - target.roles.fault - target.roles.lost;
        if (x.manned >= available - 1 && x.manned > 0) fullMin++;
        if (site.site.power.solarPerDroneW(x.ghiWm2) >= b.perDrone.hoverW) payingMin++;
      },
      onProgress: (f) => progress(`day ${(f * days).toFixed(1)} of ${days}`),
    });
    const wallS = (performance.now() - wall0) / 1000;
    await site.stop();
    const c = site.world.closest;
    if (c) progress(`closest approach ${site.world.minSeparationM.toFixed(2)} m at ${new Date(c.timeMs).toISOString()}: drones ${c.sysids.join(' and ')} (${c.modes.join(', ')}) at ${c.positions.map((p) => `(${p.n.toFixed(1)}, ${p.e.toFixed(1)}, ${p.u.toFixed(1)})`).join(' and ')}`);
    const faults = site.site.fleet.transitions.filter((t) => t.to === 'fault' || t.to === 'away' || t.to === 'lost');
    for (const f of faults) progress(`${new Date(f.atMs).toISOString()} drone ${f.sysid}: ${f.from} → ${f.to} (${f.reason})`);
    const coverage = daylightMin ? fullMin / daylightMin : 0;
    const bound = daylightMin ? payingMin / daylightMin : 0;
    const meanAbsPct = (forecast: number[]) => {
      const e = forecast.map((f, i) => (Number.isFinite(f) && truthWh[i]! > 0 ? Math.abs(f - truthWh[i]!) / truthWh[i]! : NaN)).filter(Number.isFinite);
      return e.length ? Math.round((e.reduce((a, b) => a + b, 0) / e.length) * 1000) / 10 : -1;
    };
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const climate = sum(truthWh) / sum(clearWh);
    const forecastSum = sum(forecastWh.filter(Number.isFinite));
    const truthSum = sum(truthWh.filter((_, i) => Number.isFinite(forecastWh[i]!)));
    progress(`${days} days in ${wallS.toFixed(0)} s; daylight ${(daylightMin / 60).toFixed(1)} h, full net ${(fullMin / 60).toFixed(1)} h, sun paying ${(payingMin / 60).toFixed(1)} h`);
    progress(`forecast vs truth per day (kWh/m²): ${forecastWh.map((f, i) => `${(f / 1000).toFixed(2)}/${(truthWh[i]! / 1000).toFixed(2)}`).join(' ')}`);
    const figures: Figures = {
      days,
      [`coverage_vs_bound_${days}d`]: bound > 0 ? Math.round((coverage / bound) * 1000) / 1000 : 0,
      coverage_full_net: Math.round(coverage * 1000) / 1000,
      coverage_bound: Math.round(bound * 1000) / 1000,
      min_soc_pct: Math.round(minSoc * 1000) / 10,
      min_separation_m: Number.isFinite(site.world.minSeparationM) ? Math.round(site.world.minSeparationM * 100) / 100 : -1,
      forecast_error_pct: meanAbsPct(forecastWh),
      forecast_error_floor_pct: meanAbsPct(clearWh.map((c) => c * climate)),
      forecast_bias_pct: truthSum > 0 ? Math.round(((forecastSum - truthSum) / truthSum) * 1000) / 10 : -1,
      command_denials: site.site.fleet.denials,
      strong_wind_min: windyMin,
      launch_pace_s: Math.round((site.site.fleet.transitPace().launchMs ?? NaN) / 100) / 10,
      return_pace_s: Math.round((site.site.fleet.transitPace().landMs ?? NaN) / 100) / 10,
      faults_and_losses: faults.length,
      rtf: Math.round(scenario.duration / 1000 / wallS),
      // The real-firmware scenarios (cold start, saved streams, mixed fleet, reboot on the pad).
      ...(await firmwareFigures(progress)),
    };
    return figures;
  },
};
