/**
 * The firmware scenarios' figures, reported by `canopy bench fleet` (and --quick):
 *   cold_start_net_full_s      seconds from power-on (station and drones together, every
 *                              ArduCopter booting: its EKF uses GPS 30–45 s in) to a full net
 *   saved_streams_radio_util   the busiest radio's air-time utilisation over minutes 10–20 of the
 *                              saved-streams scenario, every drone with 2–4 Hz groups saved
 *                              (goal ≤ 0.8); saved_streams_peak_radio_util the worst minute
 *   mixed_fleet_coverage       the share of the mixed-fleet scenario's minutes (8 PX4, 17
 *                              ArduCopter) with every planned station manned, and beside it the
 *                              same scenario flown by ArduCopters alone (single_fleet_coverage)
 *   firmware_faults            drones faulted or lost over the four scenarios (goal 0), and
 *   firmware_ground_refusals   refusals on the ground (each a wait, none a fault)
 */
import type { Figures } from '../../controller/commands/bench.ts';
import { SimulatedSite } from '../simulated-site.ts';
import { loadScenario, type Scenario } from '../../sim/scenario.ts';

const MIN = 60_000;

async function fly(scenario: Scenario, minutes: number, onSample: (site: SimulatedSite) => void, sampleEveryMs = MIN) {
  const site = new SimulatedSite({ scenario, seed: 1 });
  await site.start();
  await site.runFast(minutes * MIN, { sampleEveryMs, onSample: () => onSample(site) });
  await site.stop();
  const fleet = site.site.fleet;
  return { faults: fleet.transitions.filter((t) => t.to === 'fault' || t.to === 'away' || t.to === 'lost').length, refusals: fleet.groundRefusals };
}

export async function firmwareFigures(progress: (msg: string) => void): Promise<Figures> {
  let faults = 0;
  let refusals = 0;
  const add = (r: { faults: number; refusals: number }) => {
    faults += r.faults;
    refusals += r.refusals;
  };

  // Sampled each second: the first second with every planned station (20 or more) manned.
  const cold = loadScenario('cold-start');
  const t0 = Date.parse(cold.start);
  let fullAt: number | undefined;
  add(
    await fly(cold, 30, (site) => {
      const s = site.site.fleet.status();
      if (fullAt === undefined && s.stations >= 20 && s.manned === s.stations) fullAt = site.clock.now() - t0;
    }, 1000),
  );
  const coldFullS = fullAt === undefined ? -1 : Math.round(fullAt / 1000);
  progress(`cold start: full net ${coldFullS} s after power-on`);

  const bytesAt: number[] = [];
  let baud = 57_600;
  add(
    await fly(loadScenario('saved-streams'), 20, (site) => {
      baud = site.sim.scenario.radios.baud;
      bytesAt.push(Math.max(...site.sim.radios.map((r) => r.stats.bytesOnAir)));
    }),
  );
  const perMinute = (i: number) => (bytesAt[i]! - bytesAt[i - 1]!) / (60 * (baud / 10));
  const steady = (bytesAt[20]! - bytesAt[10]!) / (10 * 60 * (baud / 10));
  const peak = Math.max(...bytesAt.slice(1).map((_, i) => perMinute(i + 1)));
  progress(`saved streams: busiest radio ${(steady * 100).toFixed(0)} % over minutes 10–20, worst minute ${(peak * 100).toFixed(0)} %`);

  const coverage = async (scenario: Scenario) => {
    let full = 0;
    let minutes = 0;
    add(
      await fly(scenario, 120, (site) => {
        const s = site.site.fleet.status();
        minutes++;
        if (s.stations > 0 && s.manned === s.stations) full++;
      }),
    );
    return minutes ? full / minutes : 0;
  };
  const mixed = loadScenario('mixed-fleet');
  const mixedCoverage = await coverage(mixed);
  const singleCoverage = await coverage({ ...mixed, autopilots: { ...mixed.autopilots, px4: [] } });
  progress(`mixed fleet: full net ${(mixedCoverage * 100).toFixed(1)} % of 2 h (ArduCopters alone ${(singleCoverage * 100).toFixed(1)} %)`);

  add(await fly(loadScenario('reboot-on-pad'), 20, () => {}));

  return {
    cold_start_net_full_s: coldFullS,
    saved_streams_radio_util: Math.round(steady * 1000) / 1000,
    saved_streams_peak_radio_util: Math.round(peak * 1000) / 1000,
    mixed_fleet_coverage: Math.round(mixedCoverage * 1000) / 1000,
    single_fleet_coverage: Math.round(singleCoverage * 1000) / 1000,
    firmware_faults: faults,
    firmware_ground_refusals: refusals,
  };
}
