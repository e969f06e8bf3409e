/**
 * The four shipped scenarios that make the simulator as strict as the real firmware — cold start,
 * saved streams, a mixed ArduPilot/PX4 fleet, autopilots rebooting on their pads — each flown by
 * the whole controller on the simulated clock: the net goes up full, no drone is faulted or lost,
 * and no refusal is counted as a fault.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SimulatedSite } from '../../harness/simulated-site.ts';
import { radioShareBytesPerS } from '../../controller/telemetry.ts';
import { loadScenario } from '../../sim/scenario.ts';

const MIN = 60_000;

/** Flies `name` for `minutes`; returns the site and when the net was first full (ms after the start). */
async function fly(name: string, minutes: number, during?: (site: SimulatedSite) => void) {
  const scenario = loadScenario(name);
  const site = new SimulatedSite({ scenario, seed: 1 });
  const t0 = Date.parse(scenario.start);
  let fullAt: number | undefined;
  await site.start();
  try {
    await site.runFast(minutes * MIN, {
      sampleEveryMs: 5000,
      onSample: (s) => {
        if (fullAt === undefined && s.stations >= 20 && s.manned === s.stations) fullAt = s.timeMs - t0;
        during?.(site);
      },
    });
  } finally {
    await site.stop();
  }
  const fleet = site.site.fleet;
  const faulted = fleet.transitions.filter((t) => t.to === 'fault' || t.to === 'away' || t.to === 'lost');
  assert.deepEqual(faulted.map((t) => `${t.sysid}: ${t.reason}`), [], 'no drone faulted or lost');
  assert.ok(fullAt !== undefined, `${name}: the net was full (${JSON.stringify(fleet.status())})`);
  return { site, fleet, fullAt, t0 };
}

test('cold start: station and drones powered on together; nobody is asked to arm before its autopilot is ready, the net goes up full', async () => {
  const { site, fleet, fullAt } = await fly('cold-start', 15);
  assert.equal(fleet.groundRefusals, 0, 'no arming or mode change refused: the fleet waits for the autopilots');
  assert.equal(fleet.denials, 0);
  for (const d of site.world.drones) assert.ok(!d.statusLog.some((s) => s.text.startsWith('Arm:')), `drone ${d.sysid} was never refused`);
  // Every drone booted cold: the EKF used GPS 30–45 s after power-on, and only then could it fly.
  const ekf = site.world.drones.map((d) => d.statusLog.find((s) => s.text === 'EKF3 IMU0 is using GPS')!.atMs - Date.parse(loadScenario('cold-start').start));
  assert.ok(Math.min(...ekf) >= 30_000 && Math.max(...ekf) <= 46_000, `EKF times ${Math.min(...ekf)}–${Math.max(...ekf)} ms`);
  assert.ok(fullAt > Math.max(...ekf), 'full after the slowest warm-up');
});

test('saved streams: groups saved at 2–4 Hz are switched off; each drone ends under its share and the radio under 80 % of its air time', async () => {
  let onAirAt10: number | undefined;
  let onAirAt15 = 0;
  const { site, fleet } = await fly('saved-streams', 15, (s) => {
    const t = s.clock.now() - Date.parse(s.sim.scenario.start);
    const bytes = s.sim.radios[0]!.stats.bytesOnAir;
    if (onAirAt10 === undefined && t >= 10 * MIN) onAirAt10 = bytes;
    onAirAt15 = bytes;
  });
  assert.equal(fleet.groundRefusals, 0);
  const utilisation = (onAirAt15 - onAirAt10!) / (5 * 60 * (site.sim.scenario.radios.baud / 10));
  assert.ok(utilisation <= 0.8, `radio utilisation ${utilisation.toFixed(2)} over minutes 10–15`);
  const share = radioShareBytesPerS(site.sim.scenario.radios.baud, site.sim.scenario.swarm.drones);
  for (const v of site.gs.vehicles.list()) {
    const stats = site.gs.streams.stats(v)!;
    assert.ok(stats.bytesPerS <= share, `drone ${v.sysid}: ${stats.bytesPerS.toFixed(0)} B/s over its share ${share.toFixed(0)}`);
  }
});

test('mixed fleet: PX4 drones hold stations beside ArduCopters, each flown in its own firmware\'s terms', async () => {
  const { site, fleet } = await fly('mixed-fleet', 20);
  const px4 = site.gs.vehicles.list().filter((v) => v.flavour.family === 'px4');
  assert.equal(px4.length, 8);
  const up = px4.filter((v) => fleet.role(v.sysid) === 'on-station');
  assert.ok(up.length >= 6, `${up.length} of 8 PX4 drones on station`);
  for (const v of up) assert.equal(v.mode, 'AUTO.LOITER', `drone ${v.sysid} holds by DO_REPOSITION in Hold`);
  assert.equal(fleet.groundRefusals, 0);
  // Their failsafes were written in PX4's own parameters, bytewise.
  for (const v of px4) {
    const d = site.world.drone(v.sysid)!;
    assert.equal(d.param('NAV_DLL_ACT'), 3);
    assert.equal(d.param('COM_LOW_BAT_ACT'), 2);
  }
});

test('reboot on the pad: a rebooted autopilot is asked for its telemetry again, waited for, and back in the plan', async () => {
  const asked: string[] = [];
  const { site, fleet } = await fly('reboot-on-pad', 15, (s) => {
    if (asked.length === 0) s.gs.streams.on('requested', (v, why) => asked.push(`${v.sysid}:${why}`));
  });
  for (const sysid of [13, 25]) {
    const d = site.world.drone(sysid)!;
    assert.equal(d.statusLog.filter((s) => s.text === 'ArduPilot Ready').length, 1, `drone ${sysid} booted once more (the first boot was before the run)`);
    assert.ok(asked.some((a) => a === `${sysid}:rebooted` || a === `${sysid}:heard again`), `asked again: ${asked.join(', ')}`);
    // Back in the plan: on station, or the one spare the 24-station net leaves ready.
    assert.ok(['on-station', 'ready'].includes(fleet.role(sysid)!), `drone ${sysid} is ${fleet.role(sysid)}`);
  }
});
