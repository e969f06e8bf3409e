/**
 * The assembled ground station with a virtual ArduCopter on its radio: the drone appears on the
 * mesh as retained state and availability, an admin's `set` flies it, a viewer's is refused, and
 * a lost drone goes offline.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { minimal } from 'mavlink-mappings';
import { ManualClock, settle } from '../../firmware-bridge/clock.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { VirtualCopter } from '../../sim/autopilot.ts';
import { connect, end, nextMessage, publishOutcome, subscribeGranted } from '../../harness/rigs/mqtt.ts';
import { credentials, testUsers } from '../../harness/rigs/mesh.ts';
import { testApplication } from '../helpers/application.ts';

const AIRFRAME = { massKg: 2.5, maxSpeedMs: 12, maxAccelMs2: 3, maxClimbMs: 2.5, maxDescentMs: 1.5, hoverWPerKg: 180 };

test('drones on the mesh: retained state and availability, admin commands fly, viewers are refused, lost goes offline', async (t) => {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair('radio', 'drone');
  const drone = new VirtualCopter({ sysid: 7, clock, link: air, airframe: AIRFRAME, battery: { capacityWh: 222, cells: 6, internalResistanceOhm: 0.02 }, origin: { latDeg: 47.4, lonDeg: 8.5, altitudeM: 400 }, pad: { n: 0, e: 15, u: 0 }, gpsFixAfterMs: 0 });
  const app = testApplication({ clock, droneLinks: [{ link: ground, name: 'radio' }], lostAfterMs: 3000, users: await testUsers() });
  await air.start();
  await app.start();
  let running = true;
  let droneOn = true;
  // The world: physics and the simulated clock in 100 ms steps, real I/O in between.
  const world = (async () => {
    while (running) {
      if (droneOn) drone.step(0.1, { n: 0, e: 0, u: 0 });
      clock.advance(100);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  t.after(async () => {
    running = false;
    await world;
    await app.stop();
  });
  const url = `mqtt://127.0.0.1:${app.mesh!.addresses().tcp}`;
  const viewer = await connect(url, credentials('viewer'));
  const admin = await connect(url, credentials('admin'));
  t.after(() => Promise.all([end(viewer), end(admin)]));

  await subscribeGranted(viewer, 'canopy/drones/#');
  const online = nextMessage(viewer, (topic, p) => topic === 'canopy/drones/d7/availability' && p.toString() === 'online', 10_000);
  const state = nextMessage(viewer, (topic) => topic === 'canopy/drones/d7', 10_000);
  await online;
  const first = JSON.parse((await state).payload.toString());
  assert.equal(first.sysid, 7);
  assert.equal(first.mode, 'STABILIZE');
  assert.equal(first.armed, false);
  assert.ok(first.battery.voltageV > 24);

  // A viewer may not command a drone: the broker refuses the publish (MQTT 3.1.1 closes the
  // connection), the drone stays put.
  assert.equal(await publishOutcome(viewer, 'canopy/drones/d7/set', JSON.stringify({ command: 'arm' })), 'closed');
  const viewer2 = await connect(url, credentials('viewer'));
  t.after(() => end(viewer2));
  await subscribeGranted(viewer2, 'canopy/drones/d7');

  admin.publish('canopy/drones/d7/set', JSON.stringify({ command: 'arm' }), { qos: 1 });
  await nextMessage(viewer2, (topic, p) => topic === 'canopy/drones/d7' && JSON.parse(p.toString()).armed === true, 10_000);
  admin.publish('canopy/drones/d7/set', JSON.stringify({ command: 'takeoff', altM: 12 }), { qos: 1 });
  const flying = await nextMessage(viewer2, (topic, p) => topic === 'canopy/drones/d7' && (JSON.parse(p.toString()).position?.altM ?? 0) > 11, 20_000);
  assert.equal(JSON.parse(flying.payload.toString()).mode, 'GUIDED');
  assert.deepEqual(app.drones!.results.map((r) => [r.command, r.result.ok]), [['arm', true], ['takeoff', true]]);

  // The drone falls silent: after lostAfterMs it is offline (retained).
  await subscribeGranted(viewer2, 'canopy/drones/d7/availability');
  droneOn = false;
  await air.stop();
  await nextMessage(viewer2, (topic, p) => topic === 'canopy/drones/d7/availability' && p.toString() === 'offline', 10_000);
});

test('a GCS link neither adds drones to the fleet nor steers a drone\'s traffic', async (t) => {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair('radio', 'drone');
  const [gcsNear, gcsFar] = createMemoryPair('qgc', 'qgc-far');
  const drone = new VirtualCopter({ sysid: 7, clock, link: air, airframe: AIRFRAME, battery: { capacityWh: 222, cells: 6, internalResistanceOhm: 0.02 }, origin: { latDeg: 47.4, lonDeg: 8.5, altitudeM: 400 }, pad: { n: 0, e: 15, u: 0 }, gpsFixAfterMs: 0 });
  const gs = new GroundStation({ clock, droneLinks: [{ link: ground, name: 'radio' }], gcsLinks: [{ link: gcsNear, name: 'qgc' }] });
  const stranger = new MavlinkNode({ clock, sysid: 77, compid: 1, heartbeatHz: 0 });
  const strangerChannel = stranger.addLink(gcsFar);
  await air.start();
  await gcsFar.start();
  await gs.start();
  t.after(() => gs.stop());
  for (let i = 0; i < 20; i++) {
    drone.step(0.1, { n: 0, e: 0, u: 0 });
    clock.advance(100);
    await settle();
  }
  assert.deepEqual(gs.vehicles.list().map((v) => v.sysid), [7]);
  // A quadrotor's HEARTBEAT from the GCS link: no drone d77.
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.baseMode = (minimal.MavModeFlag.CUSTOM_MODE_ENABLED | minimal.MavModeFlag.SAFETY_ARMED) as minimal.MavModeFlag;
  hb.customMode = 4;
  strangerChannel.send(hb, stranger);
  // And the same in drone 7's name.
  const impostor = new MavlinkNode({ clock, sysid: 7, compid: 1, heartbeatHz: 0 });
  strangerChannel.send(hb, impostor);
  await settle();
  await settle();
  assert.deepEqual(gs.vehicles.list().map((v) => v.sysid), [7], 'still one drone');
  assert.equal(gs.vehicles.refusedFromGcs, 2, 'neither HEARTBEAT made a session');
  assert.equal(gs.router.stats.droppedImpostor, 1);
  assert.equal(gs.router.channelOf(7)?.name, 'radio');
});
