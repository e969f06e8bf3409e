/**
 * Ground failsafes, each set off by a scenario fault in the simulator with the whole controller
 * attached (power budget, fleet, ground station over shaped SiK radios), asserting the outcome:
 * which drones landed, that the net was held with the rest, that nobody came closer than the
 * minimum separation and no command was refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../harness/sim-command.ts';
import { parseScenario, type Scenario } from '../../sim/scenario.ts';

/** A scenario written inline (named after the source, as a file would be). */
const scenario = (yaml: string[]): Scenario => parseScenario(yaml.join('\n'), 'failsafe.yaml');

test('link lost to half the swarm (one radio blacked out): those drones land in place on their own failsafe, the rest hold the net; a motor failure is a fault and its station is refilled', async () => {
  const s = scenario([
    'start: 2026-06-21T09:00:00Z',
    'duration: 22m',
    'swarm: { drones: 12 }',
    'radios: { count: 2 }',
    'faults:',
    '  - { type: radio-blackout, radio: 1, at: 9m, for: 20s }',
    '  - { type: motor-failure, drone: 3, at: 15m }',
  ]);
  const t0 = Date.parse(s.start);
  let mannedDuringBlackout = Infinity;
  const { site, figures } = await runScenario(s, {
    seed: 3,
    sampleEveryMs: 1000,
    onProgress: () => {},
  }).then((r) => {
    for (const x of r.samples) if (x.timeMs > t0 + 9 * 60_000 + 6000 && x.timeMs < t0 + 9 * 60_000 + 20_000) mannedDuringBlackout = Math.min(mannedDuringBlackout, x.manned);
    return r;
  });
  const fleet = site.site.fleet;
  const world = site.world;
  // Radio 1 carries the even drones (round-robin): they were marked lost, flew their own failsafe.
  const lost = new Set(fleet.transitions.filter((t) => t.to === 'lost').map((t) => t.sysid));
  assert.deepEqual([...lost].sort((a, b) => a - b), [2, 4, 6, 8, 10, 12].filter((n) => fleet.transitions.some((t) => t.sysid === n && t.atMs < t0 + 9 * 60_000)), 'exactly the drones on the dark radio were lost');
  for (const n of lost) {
    const d = world.drone(n)!;
    assert.ok(!d.copter.failed, `drone ${n} is intact`);
    const wasFlying = fleet.transitions.some((t) => t.sysid === n && t.to === 'lost' && t.from === 'on-station');
    if (!wasFlying) continue;
    // FS_GCS_ENABLE=5 (written by Canopy before the flight): it landed where it was, off the others' paths,
    // and stays out of the plan (away, not a fault) until carried back to its pad.
    assert.ok(d.statusLog.some((l) => l.text === 'GCS failsafe: LAND'), `drone ${n} ran its GCS failsafe`);
    assert.ok(d.copter.onGround && !d.armed, `drone ${n} landed`);
    assert.equal(fleet.role(n), 'away');
    assert.ok(fleet.transitions.some((t) => t.sysid === n && t.to === 'away' && t.cause === 'failsafe' && /away from its pad/.test(t.reason)));
  }
  assert.ok(mannedDuringBlackout >= 3, `the rest held the net (${mannedDuringBlackout} stations manned during the blackout)`);
  // The motor failure: drone 3 is a fault, and its station was taken over.
  assert.ok(fleet.transitions.some((t) => t.sysid === 3 && t.to === 'fault'), 'drone 3 marked fault');
  assert.equal(world.drones.filter((d) => d.copter.failed).map((d) => d.sysid).join(), '3', 'no other drone lost');
  assert.ok(world.drone(3)!.statusLog.some((l) => l.text === 'Crash: Disarming'));
  const end = site.site.fleet.status();
  assert.ok(end.manned >= 3 && end.manned === end.stations, `the net is whole again with the drones left (${end.manned}/${end.stations})`);
  assert.ok(figures.min_separation_m !== null && figures.min_separation_m >= 5, `separation ${figures.min_separation_m}`);
  assert.equal(figures.command_denials, 0);
});

test('a rising wind: the net is lowered and shrunk, then everyone lands on its pad; when the wind drops it goes up again, lowered first', async () => {
  const s = scenario([
    'start: 2026-06-21T09:00:00Z',
    'duration: 40m',
    'swarm: { drones: 6 }',
    'weather: { wind: { meanMs: 4, gustMs: 1, changes: [{ at: 10m, meanMs: 14, gustMs: 2 }, { at: 25m, meanMs: 4, gustMs: 1 }] } }',
  ]);
  const t0 = Date.parse(s.start);
  const seen: { stage: string; altitudeM: number; stations: number }[] = [];
  const { site, samples, figures } = await runScenario(s, {
    seed: 4,
    sampleEveryMs: 1000,
    onProgress: (_f, site) => {
      const st = site.site.fleet.status();
      seen.push({ stage: st.windStage, altitudeM: st.altitudeM, stations: st.stations });
    },
  });
  // The stages follow the sustained wind (the ten-minute mean) up through 9 and 12 m/s and back down.
  const stages = seen.map((x) => x.stage).filter((x, i, all) => i === 0 || all[i - 1] !== x);
  assert.deepEqual(stages, ['calm', 'lower', 'land', 'lower', 'calm']);
  assert.ok(seen.some((x) => x.stage === 'lower' && x.altitudeM === 40 && x.stations === 3), `lowered to 40 m with half the net: ${JSON.stringify(seen)}`);
  assert.ok(site.site.fleet.transitions.some((t) => t.reason === 'strong wind: shrinking the net'));
  const end = site.site.fleet.status();
  assert.deepEqual([end.windStage, end.altitudeM, end.stations], ['calm', 60, site.budget!.decisions.stations], 'back to full height, the net as the budget plans it');
  const windy = samples.filter((x) => x.timeMs > t0 + 22 * 60_000 && x.timeMs < t0 + 25 * 60_000);
  assert.ok(windy.length > 0 && windy.every((x) => x.airborne === 0), 'everyone down while the wind is over the limit');
  assert.ok(site.site.fleet.transitions.some((t) => /wind over the limit/.test(t.reason)));
  for (const d of site.world.drones) assert.ok(!d.copter.failed, `drone ${d.sysid} intact`);
  const after = samples.filter((x) => x.timeMs > t0 + 38 * 60_000);
  assert.ok(after.some((x) => x.manned >= 3), 'the net is back up after the wind dropped');
  assert.ok(figures.min_separation_m !== null && figures.min_separation_m >= 5, `separation ${figures.min_separation_m}`);
  assert.equal(figures.command_denials, 0);
});

test('low battery: the drone is relieved now (its replacement first); critical battery: it lands where it is and its station is refilled', async () => {
  const s = scenario([
    'start: 2026-06-21T09:00:00Z',
    'duration: 24m',
    'swarm: { drones: 8 }',
    'faults:',
    // Both under way on station by then; the sun pays for hover, so their batteries were charging.
    '  - { type: battery-fault, drone: 2, at: 12m, soc: 0.12 }',
    '  - { type: battery-fault, drone: 7, at: 14m, soc: 0.05 }',
  ]);
  const t0 = Date.parse(s.start);
  const { site, samples, figures } = await runScenario(s, { seed: 5, sampleEveryMs: 1000 });
  const fleet = site.site.fleet;
  const world = site.world;
  const after = (sysid: number, atMs: number) => fleet.transitions.filter((t) => t.sysid === sysid && t.atMs >= atMs);
  // Drone 2 (12 %, under its relieve level): a replacement came, then it went home to its pad.
  const low = after(2, t0 + 12 * 60_000);
  const leaves = low.find((t) => t.from === 'on-station');
  assert.ok(leaves, `drone 2 left its station: ${JSON.stringify(low)}`);
  assert.match(leaves.reason, /relieved by drone d\d+/);
  const relief = fleet.transitions.find((t) => t.atMs >= t0 + 12 * 60_000 && t.to === 'launching' && /relieves drone d2\b/.test(t.reason));
  assert.ok(relief && relief.atMs <= leaves.atMs, 'its replacement launched before it left');
  const d2 = world.drone(2)!;
  assert.ok(d2.copter.onGround && !d2.armed, 'drone 2 landed');
  assert.ok(Math.hypot(d2.copter.pos.n - d2.pad.n, d2.copter.pos.e - d2.pad.e) < 2, 'on its own pad');
  assert.equal(fleet.role(2), 'charging');
  // Drone 7 (5 %, under the critical level): landed in place at once.
  const crit = after(7, t0 + 14 * 60_000);
  const land = crit.find((t) => t.to === 'landing');
  assert.ok(land && land.atMs - (t0 + 14 * 60_000) < 10_000, `drone 7 landing within seconds: ${JSON.stringify(crit)}`);
  assert.match(land.reason, /battery critical/);
  const d7 = world.drone(7)!;
  assert.ok(d7.copter.onGround && !d7.armed, 'drone 7 landed');
  // Nobody was lost, and the net was whole again at the end.
  for (const d of world.drones) assert.ok(!d.copter.failed, `drone ${d.sysid} intact`);
  assert.ok(!fleet.transitions.some((t) => t.to === 'lost'), 'no drone lost');
  const end = samples.at(-1)!;
  const status = fleet.status();
  assert.ok(status.manned === status.stations && status.stations >= 3, `net whole at the end (${status.manned}/${status.stations}, ${end.manned} manned)`);
  assert.ok(figures.min_separation_m !== null && figures.min_separation_m >= 5, `separation ${figures.min_separation_m}`);
  assert.equal(figures.command_denials, 0);
});
