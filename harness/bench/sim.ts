/**
 * Bench suite `sim`: how much faster than real time the simulator runs with Canopy's controller
 * attached (every drone a virtual ArduCopter streaming MAVLink over shaped SiK radios, the ground
 * station decoding it all, the power budget and the fleet flying the net), on one core.
 *   rtf_25            simulated s per wall s, 25 drones, morning launch and the net up (goal ≥ 200)
 *   rtf_250           the same with 250 drones on 10 radios (goal ≥ 20)
 *   replay_identical  the same scenario and seed twice give byte-identical tlogs (sha256)
 * Anchors: ArduPilot SITL ≈ 100× for one vehicle, PX4 + Gazebo ≈ 0.9× at 200, skysim ≈ 5× at 200.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { runScenario } from '../sim-command.ts';
import { loadScenario, type Scenario } from '../../sim/scenario.ts';

/** The shipped clear day, from just before the net goes up, with `drones` on `radios`. */
export function morningLaunch(drones: number, radios: number): Scenario {
  const s = loadScenario('clear-summer-day');
  return { ...s, start: '2026-06-21T06:40:00Z', swarm: { ...s.swarm, drones }, radios: { ...s.radios, count: radios } };
}

async function rtf(scenario: Scenario, durationMs: number, progress: (m: string) => void): Promise<number> {
  const { figures } = await runScenario(scenario, { seed: 1, durationMs, sampleEveryMs: 10_000 });
  progress(`${scenario.swarm.drones} drones: ${figures.simulated_h} h in ${figures.wall_s} s, ${figures.fleet_transitions} fleet transitions, min separation ${figures.min_separation_m} m`);
  return figures.rtf;
}

export const suite: BenchSuite = {
  description: 'simulator speed with the controller attached, and replay determinism',
  async run(progress, { quick }) {
    const figures: Figures = {};
    figures.rtf_25 = await rtf(morningLaunch(25, 1), (quick ? 20 : 60) * 60_000, progress);
    figures.rtf_25_goal_ratio = Math.round((figures.rtf_25 / 200) * 100) / 100;
    figures.rtf_250 = await rtf(morningLaunch(250, 10), (quick ? 3 : 10) * 60_000, progress);
    figures.rtf_250_goal_ratio = Math.round((figures.rtf_250 / 20) * 100) / 100;
    const dir = mkdtempSync(join(tmpdir(), 'canopy-bench-sim-'));
    try {
      const storm = loadScenario('storm');
      const small: Scenario = { ...storm, swarm: { ...storm.swarm, drones: 8 }, faults: storm.faults.filter((f) => !('drone' in f) || f.drone === 'flying' || f.drone <= 8) };
      const hashes: string[] = [];
      for (const name of ['a', 'b']) {
        const { figures: f } = await runScenario(small, { seed: 7, tlog: join(dir, `${name}.tlog`), durationMs: 15 * 60_000 });
        hashes.push(f.tlog_sha256!);
      }
      progress(`replay: ${hashes.join(' vs ')}`);
      figures.replay_identical = hashes[0] === hashes[1];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return figures;
  },
};
