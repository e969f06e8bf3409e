/**
 * Ground failsafes, each set off by a scenario fault in the simulator with the whole controller
 * attached (power budget, fleet, ground station over shaped SiK radios), asserting the outcome:
 * which drones landed, that the net was held with the rest, that nobody came closer than the
 * minimum separation and no command was refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario } from '../../controller/commands/sim.ts';
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
    // and stays out of the plan until carried back to its pad.
    assert.ok(d.statusLog.some((l) => l.text === 'GCS failsafe: LAND'), `drone ${n} ran its GCS failsafe`);
    assert.ok(d.copter.onGround && !d.armed, `drone ${n} landed`);
    assert.equal(fleet.role(n), 'fault');
    assert.ok(fleet.transitions.some((t) => t.sysid === n && /landed away from its pad/.test(t.reason)));
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

test('wind over the limit: the net shrinks and every drone lands on its pad; when the wind drops it goes up again', async () => {
  const s = scenario([
    'start: 2026-06-21T09:00:00Z',
    'duration: 40m',
    'swarm: { drones: 6 }',
    'weather: { wind: { meanMs: 4, gustMs: 1, changes: [{ at: 10m, meanMs: 14, gustMs: 2 }, { at: 25m, meanMs: 4, gustMs: 1 }] } }',
  ]);
  const t0 = Date.parse(s.start);
  const { site, samples, figures } = await runScenario(s, { seed: 4, sampleEveryMs: 1000 });
  const windy = samples.filter((x) => x.timeMs > t0 + 22 * 60_000 && x.timeMs < t0 + 25 * 60_000);
  assert.ok(windy.length > 0 && windy.every((x) => x.airborne === 0), 'everyone down while the wind is over the limit');
  assert.ok(site.site.fleet.transitions.some((t) => /wind over the limit/.test(t.reason)));
  for (const d of site.world.drones) assert.ok(!d.copter.failed, `drone ${d.sysid} intact`);
  const after = samples.filter((x) => x.timeMs > t0 + 38 * 60_000);
  assert.ok(after.some((x) => x.manned >= 3), 'the net is back up after the wind dropped');
  assert.ok(figures.min_separation_m !== null && figures.min_separation_m >= 5, `separation ${figures.min_separation_m}`);
  assert.equal(figures.command_denials, 0);
});
