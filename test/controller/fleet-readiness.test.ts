/**
 * The fleet takes the autopilot's word: a drone is ready only when its autopilot says it can arm,
 * a refusal on the ground is a wait (never a fault), a drone kept unready raises an alert, a
 * faulted drone can be cleared by an admin or comes back after a reboot — and the drones' state on
 * the mesh and in /metrics says all of it, "waiting for telemetry" included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { FleetController, type FleetAlert } from '../../controller/fleet/fleet.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { droneState } from '../../controller/drone-bridge.ts';
import { isCanopyError } from '../../common/errors.ts';
import { MetricsCollector } from '../../controller/dashboard/metrics.ts';
import type { DroneState } from '../../common/topics.ts';
import { runFast } from '../../sim/runner.ts';
import { VirtualCopter } from '../../sim/autopilot.ts';
import { SimWorld, type DroneFirmware } from '../../sim/world.ts';
import { memoryMedium } from '../helpers/memory-medium.ts';
import { testUsers } from '../../harness/rigs/mesh.ts';
import { testApplication } from '../helpers/application.ts';

const ORIGIN = { latDeg: 47.4, lonDeg: 8.5, altitudeM: 400 };
const AIRFRAME = { massKg: 2.5, maxSpeedMs: 12, maxAccelMs2: 3, maxClimbMs: 2.5, maxDescentMs: 1.5, hoverWPerKg: 180 };

async function rig(opts: { drones: number; stations: number; firmware?: (sysid: number) => DroneFirmware; params?: Record<string, number>; unreadyAlertMs?: number }) {
  const clock = new ManualClock(Date.UTC(2026, 5, 21, 10, 0, 0));
  const radio = memoryMedium(clock);
  const world = new SimWorld({
    clock,
    seed: 4,
    origin: ORIGIN,
    drones: opts.drones,
    airframe: AIRFRAME,
    battery: { capacityWh: 222, cells: 6, internalResistanceOhm: 0.02, soc: 1 },
    padChargeW: 250,
    net: { massKgPerM2: 0.35, areaM2PerDrone: 12, efficiency: 0.2, mpptEfficiency: 0.97 },
    netAltitudeM: 60,
    wind: { meanMs: 2, gustMs: 0.5, directionDeg: 270 },
    sky: { ghiWm2: () => 1000, cloudFactor: () => 1 },
    radios: [radio],
    gpsFixAfterMs: 0,
    params: opts.params,
    autopilot: opts.firmware,
  });
  const gs = new GroundStation({ clock, droneLinks: [{ link: radio.ground, name: 'radio' }] });
  await world.start();
  await gs.start();
  const fleet = new FleetController({ clock, vehicles: gs.vehicles, origin: ORIGIN, batteryWh: 222, stations: () => opts.stations, unreadyAlertMs: opts.unreadyAlertMs });
  fleet.start();
  const stop = async () => {
    fleet.stop();
    await gs.stop();
  };
  return { clock, world, gs, fleet, stop };
}

/** Makes one simulated autopilot refuse arming `times` times (a check that fails at the arm request), as "Arm: Throttle too high". */
function refuseArming(d: VirtualCopter, times: number): void {
  const ap = d as unknown as { runCommand(command: number, p: number[], coordFrame?: number): common.MavResult; text(severity: number, text: string): void };
  const original = ap.runCommand.bind(d);
  let left = times;
  ap.runCommand = (command, p, coordFrame) => {
    if (command === common.MavCmd.COMPONENT_ARM_DISARM && p[0] === 1 && left > 0) {
      left--;
      ap.text(common.MavSeverity.CRITICAL, 'Arm: Throttle too high');
      return common.MavResult.FAILED;
    }
    return original(command, p, coordFrame);
  };
}

test('a refusal on the ground is a wait: the drone backs off with the autopilot\'s reason, another fills its station, nothing is faulted', async () => {
  const r = await rig({ drones: 3, stations: 2 });
  // The drone the fleet sends first refuses three times.
  for (const d of r.world.drones) refuseArming(d, 3);
  await runFast(r.world, { durationMs: 4 * 60_000 });
  const refusals = r.fleet.transitions.filter((t) => /arm refused: Arm: Throttle too high \(again in \d+ s\)/.test(t.reason));
  assert.ok(refusals.length >= 3, r.fleet.transitions.map((t) => `${t.sysid}: ${t.to} ${t.reason}`).join('\n'));
  assert.ok(refusals.every((t) => t.to === 'charging'), 'back on its pad, charging');
  const waits = refusals.filter((t) => t.sysid === refusals[0]!.sysid).map((t) => Number(/again in (\d+) s/.exec(t.reason)![1]));
  assert.deepEqual(waits.slice(0, 3), [2, 4, 8], 'the wait doubles');
  assert.equal(r.fleet.transitions.filter((t) => t.to === 'fault').length, 0, 'never a fault');
  assert.equal(r.fleet.status().manned, 2, 'the net is up');
  assert.ok(r.fleet.groundRefusals >= 3);
  await r.stop();
});

test('ready only on the autopilot\'s word: a drone whose pre-arm checks fail stays on its pad with the autopilot\'s text, and raises an alert after unreadyAlertMs', async () => {
  // Drone 2's battery is under its arming voltage (BATT_ARM_VOLT 26 V on a 25 V pack).
  const r = await rig({ drones: 2, stations: 2, unreadyAlertMs: 90_000, params: {} });
  r.world.drone(2)!.params.get('BATT_ARM_VOLT')!.value = 26;
  const alerts: FleetAlert[] = [];
  r.fleet.on('alert', (a) => alerts.push(a));
  await runFast(r.world, { durationMs: 60_000 });
  const v2 = r.gs.vehicles.bySysid(2)!;
  assert.equal(r.fleet.role(2), 'charging');
  assert.equal(v2.readiness(r.clock.now()).ready, false);
  assert.equal(r.fleet.waitingFor(2), 'PreArm: Battery 1 below minimum arming voltage');
  assert.equal(r.world.drone(2)!.statusLog.filter((s) => s.text.startsWith('Arm:')).length, 0, 'never asked to arm');
  const state: DroneState = droneState(v2, r.clock.now(), { role: r.fleet.role(2), waiting: r.fleet.waitingFor(2) });
  assert.deepEqual(state.readiness, { ready: false, reason: 'PreArm: Battery 1 below minimum arming voltage' });
  assert.equal(state.waiting, 'PreArm: Battery 1 below minimum arming voltage');
  assert.equal(alerts.length, 0);
  await runFast(r.world, { durationMs: 60_000 });
  assert.equal(alerts.length, 1, 'one alert');
  assert.equal(alerts[0]!.sysid, 2);
  assert.match(alerts[0]!.message, /not ready for \d+ min: PreArm: Battery 1 below minimum arming voltage/);
  assert.equal(r.fleet.role(1), 'on-station', 'the other one flies');
  await r.stop();
});

test('a drone landed away from its pad is away until an admin marks it carried back; a faulted drone: an admin clears it, or it comes back by itself once its autopilot reports ready after a reboot', async () => {
  const r = await rig({ drones: 2, stations: 1 });
  await runFast(r.world, { durationMs: 3 * 60_000 });
  const up = [1, 2].find((s) => r.fleet.role(s) === 'on-station')!;
  const other = up === 1 ? 2 : 1;
  // Its autopilot lands it where it is (a failsafe): it comes down under the net, away from its pad.
  const d = r.world.drone(up)!;
  d.setMode(9, 'Battery failsafe');
  await runFast(r.world, { durationMs: 3 * 60_000 });
  assert.equal(r.fleet.role(up), 'away');
  assert.equal(r.fleet.transitions.filter((t) => t.sysid === up && t.to === 'fault').length, 0, 'never a fault');
  assert.throws(() => r.fleet.carriedBack(other), (e) => isCanopyError(e, 'CANOPY_ERR_STATE') && /is not away from its pad/.test(e.message));
  assert.throws(() => r.fleet.carriedBack(99), /has no drone d99/);
  assert.throws(() => r.fleet.clearFault(up), (e) => isCanopyError(e, 'CANOPY_ERR_STATE') && /is not faulted \(it is away\)/.test(e.message));
  // Someone carries it back (the rig plays the world's part), and an admin says so.
  assert.equal(d.carryToPad(), true);
  assert.match(r.fleet.carriedBack(up), /back on its pad \(charging\)/);
  assert.equal(r.fleet.role(up), 'charging');
  await runFast(r.world, { durationMs: 30_000 });
  assert.ok(d.padChargeW > 0, 'it charges on its pad');
  assert.match(r.fleet.waitingFor(up), /^charging \(\d+ % of 90 %\)$|^$/, `only its charge keeps it on the ground: "${r.fleet.waitingFor(up)}"`);
  // Faulted on its pad: an admin clears it.
  const fault = (reason: string) => (r.fleet as unknown as { fault(d: unknown, reason: string): void }).fault((r.fleet as unknown as { drones: Map<number, unknown> }).drones.get(up), reason);
  fault('test fault');
  assert.equal(r.fleet.role(up), 'fault');
  assert.throws(() => r.fleet.clearFault(other), (e) => isCanopyError(e, 'CANOPY_ERR_STATE') && /is not faulted/.test(e.message));
  assert.throws(() => r.fleet.clearFault(99), /has no drone d99/);
  assert.match(r.fleet.clearFault(up), /back in the plan/);
  assert.equal(r.fleet.role(up), 'charging');
  // Faulted again; power-cycled on its pad: it reboots and reports ready, and is back.
  fault('test fault');
  assert.equal(r.fleet.role(up), 'fault');
  d.reboot();
  await runFast(r.world, { durationMs: 90_000 });
  assert.equal(r.fleet.role(up) === 'charging' || r.fleet.role(up) === 'ready', true, `after the reboot: ${r.fleet.role(up)}`);
  assert.ok(r.fleet.transitions.some((t) => t.sysid === up && t.reason === 'rebooted and reports ready'));
  await r.stop();
});

test('a drone heard but sending no telemetry shows as "waiting for telemetry" on the mesh and in /metrics, and is asked again less and less often', async (t) => {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair('radio', 'drone');
  const drone = new VirtualCopter({ sysid: 7, clock, link: air, airframe: AIRFRAME, battery: { capacityWh: 222, cells: 6, internalResistanceOhm: 0.02 }, origin: ORIGIN, pad: { n: 0, e: 15, u: 0 }, gpsFixAfterMs: 0 });
  // An autopilot that knows neither SET_MESSAGE_INTERVAL nor REQUEST_DATA_STREAM.
  const ap = drone as unknown as { runCommand(command: number, p: number[], coordFrame?: number): common.MavResult; requestDataStream(): void };
  const original = ap.runCommand.bind(drone);
  ap.runCommand = (command, p, coordFrame) => (command === common.MavCmd.SET_MESSAGE_INTERVAL ? common.MavResult.DENIED : original(command, p, coordFrame));
  ap.requestDataStream = () => {};
  const app = testApplication({ clock, droneLinks: [{ link: ground, name: 'radio' }], users: await testUsers() });
  const gs = app.gs;
  await air.start();
  await app.start();
  const metrics = new MetricsCollector(app.mesh!);
  await metrics.start();
  t.after(async () => {
    await metrics.stop();
    await app.stop();
  });
  const asked: number[] = [];
  gs.streams.on('requested', () => asked.push(clock.now()));
  for (let i = 0; i < 600; i++) {
    drone.step(0.1, { n: 0, e: 0, u: 0 });
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = metrics.render();
  assert.match(text, /canopy_drone_waiting_for_telemetry\{drone="d7"\} 1/);
  assert.match(text, /canopy_drone_online\{drone="d7"\} 1/);
  const v = gs.vehicles.bySysid(7)!;
  assert.equal(droneState(v, clock.now()).telemetry, 'waiting for telemetry');
  assert.equal(droneState(v, clock.now()).readiness?.reason, 'waiting for telemetry');
  assert.ok(asked.length >= 3, `asked ${asked.length} times in a minute`);
  const gaps = asked.slice(1).map((x, i) => x - asked[i]!);
  assert.ok(gaps.at(-1)! > gaps[0]!, `the gaps grow: ${gaps.join(', ')}`);
});
