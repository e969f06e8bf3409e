/**
 * The virtual ArduCopter, driven through Canopy's own microservices over an in-memory link: every
 * check is something a ground station sees on the wire.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock, settle } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import { MissionClient } from '../../firmware-bridge/microservices/mission/mission.ts';
import { IntervalClient } from '../../firmware-bridge/microservices/interval/interval.ts';
import { Timesync } from '../../firmware-bridge/microservices/timesync/timesync.ts';
import { MavlinkSigning } from '../../firmware-bridge/microservices/signing/index.ts';
import { encodeMode, StreamKeeper, VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { STREAM_RATES } from '../../controller/telemetry.ts';
import { seededRandom } from '../../firmware-bridge/random.ts';
import { VirtualCopter, type VirtualCopterOptions } from '../../sim/autopilot.ts';
import { VirtualPx4 } from '../../sim/px4.ts';
import { offsetToLatLon } from '../../firmware-bridge/geo.ts';
import { createLossyPair } from '../helpers/lossy-link.ts';

import { A, ORIGIN, rig } from '../helpers/copter-rig.ts';

test('HEARTBEAT says quadrotor, ArduPilot, with ArduCopter mode numbers; the GCS finds it', async () => {
  const r = await rig();
  // GPS_RAW_INT comes every 5 s as asked; the fix came at 2 s.
  await r.fly(6000);
  const v = r.vehicles.bySysid(3)!;
  assert.ok(v, 'vehicle discovered');
  assert.equal(v.autopilot, A);
  assert.equal(v.type, minimal.MavType.QUADROTOR);
  assert.equal(v.mode, 'STABILIZE');
  assert.equal(v.armed, false);
  assert.equal(v.telemetry.gpsFix, 3);
  assert.ok(v.telemetry.voltageV! > 24, `full 6S pack: ${v.telemetry.voltageV} V`);
  assert.equal(v.telemetry.remainingPct, 100);
  assert.ok(Math.abs(v.telemetry.latDeg! - offsetToLatLon(ORIGIN.latDeg, ORIGIN.lonDeg, 10, 0).latDeg) < 1e-6, 'on its pad');
  assert.ok(v.statusTexts.some((s) => /ArduCopter V4/.test(s.text)), 'boot banner');
});

test('takeoff is refused while disarmed and outside GUIDED, as ArduCopter does; then flies to altitude', async () => {
  const r = await rig();
  await r.fly(2500);
  let res = await r.during(r.actions.takeoff(20));
  assert.equal(res.ok, false);
  assert.equal(res.result, common.MavResult.FAILED, 'disarmed');
  assert.equal((await r.setMode('LOITER')).ok, true);
  assert.equal((await r.during(r.actions.arm())).ok, true);
  res = await r.during(r.actions.takeoff(20));
  assert.equal(res.result, common.MavResult.FAILED, 'armed but in LOITER');
  assert.equal((await r.setMode('GUIDED')).ok, true);
  res = await r.during(r.actions.takeoff(20));
  assert.equal(res.ok, true);
  assert.ok(await r.fly(30_000, () => r.drone.copter.pos.u > 19.5), 'climbed to 20 m');
  await r.fly(2000);
  const v = r.vehicles.bySysid(3)!;
  assert.ok(Math.abs(v.telemetry.relativeAltitudeM! - 20) < 0.6, `GLOBAL_POSITION_INT says ${v.telemetry.relativeAltitudeM} m`);
  // Climb took at least 20 m / WPNAV_SPEED_UP (2.5 m/s) = 8 s: the climb limit holds.
  assert.ok(r.drone.copter.vel.u <= 2.5 + 1e-9);
});

test('arming checks: no GPS fix, low battery, and an unarmable mode are refused with PreArm texts', async () => {
  const r = await rig({ soc: 0.02 });
  const texts = () => r.drone.statusLog.map((s) => s.text);
  const early = await r.during(r.actions.arm(), 1000);
  assert.equal(early.result, common.MavResult.FAILED);
  assert.ok(texts().includes('Arm: GPS 1: Bad fix'), texts().join(' | '));
  await r.fly(2500);
  assert.equal((await r.during(r.actions.arm())).result, common.MavResult.FAILED);
  assert.ok(texts().some((t) => /^Arm: Battery 1/.test(t)), texts().join(' | '));
  const ok = await rig();
  await ok.fly(2500);
  assert.equal((await ok.setMode('RTL')).ok, true);
  assert.equal((await ok.during(ok.actions.arm())).result, common.MavResult.FAILED);
  assert.ok(ok.drone.statusLog.some((s) => s.text === 'Arm: Mode not armable'));
});

test('guided go-to with SET_POSITION_TARGET_GLOBAL_INT, then RTL lands on the pad and disarms', async () => {
  const r = await rig();
  await r.fly(2500);
  await r.setMode('GUIDED');
  await r.during(r.actions.arm());
  await r.during(r.actions.takeoff(15));
  await r.fly(15_000, () => r.drone.copter.pos.u > 14.5);
  const target = offsetToLatLon(ORIGIN.latDeg, ORIGIN.lonDeg, 100, 50);
  r.actions.goTo({ latDeg: target.latDeg, lonDeg: target.lonDeg, relativeAltM: 30 });
  assert.ok(await r.fly(60_000, () => Math.hypot(r.drone.copter.pos.n - 100, r.drone.copter.pos.e - 50, r.drone.copter.pos.u - 30) < 1), 'reached the target');
  assert.ok(Math.hypot(r.drone.copter.vel.n, r.drone.copter.vel.e) <= 5 + 1e-6, 'WPNAV_SPEED 5 m/s holds');
  assert.equal((await r.during(r.actions.returnToLaunch())).ok, true);
  assert.ok(await r.fly(120_000, () => !r.drone.armed), 'landed and disarmed');
  assert.ok(Math.hypot(r.drone.copter.pos.n - 10, r.drone.copter.pos.e) < 1.5, 'on its pad');
  assert.ok(r.drone.statusLog.some((s) => s.text === 'Land complete'));
});

test('an AUTO mission uploaded through 5 % packet loss flies its waypoints and lands', async () => {
  const links = createLossyPair(seededRandom(5), 0.05);
  const r = await rig({ links });
  const wp = offsetToLatLon(ORIGIN.latDeg, ORIGIN.lonDeg, 60, 0);
  const frame = common.MavFrame.GLOBAL_RELATIVE_ALT_INT;
  const items = [
    { command: common.MavCmd.NAV_WAYPOINT, frame, latDeg: ORIGIN.latDeg, lonDeg: ORIGIN.lonDeg, altM: 0 }, // home, replaced by the autopilot's
    { command: common.MavCmd.NAV_TAKEOFF, frame, latDeg: 0, lonDeg: 0, altM: 10 },
    { command: common.MavCmd.NAV_WAYPOINT, frame, latDeg: wp.latDeg, lonDeg: wp.lonDeg, altM: 10 },
    { command: common.MavCmd.NAV_LAND, frame, latDeg: 0, lonDeg: 0, altM: 0 },
  ];
  const up = await r.during(new MissionClient(r.port).upload(items), 60_000);
  assert.ok(up.ok, JSON.stringify(up));
  assert.equal(r.drone.mission.length, 4);
  const down = await r.during(new MissionClient(r.port).download(), 60_000);
  assert.ok(down.ok);
  assert.equal(down.items.length, 4);
  await r.fly(2500);
  assert.equal((await r.setMode('GUIDED')).ok, true);
  assert.equal((await r.during(r.actions.arm())).ok, true);
  assert.equal((await r.setMode('AUTO')).ok, true);
  assert.ok(await r.fly(120_000, () => !r.drone.armed), 'mission flown to the landing');
  assert.ok(Math.abs(r.drone.copter.pos.n - 60) < 2.5, `landed at the last waypoint (n = ${r.drone.copter.pos.n})`);
});

test('SET_MESSAGE_INTERVAL and REQUEST_DATA_STREAM change what streams; TIMESYNC is answered', async () => {
  // No StreamKeeper: it would switch off the ATTITUDE it did not ask for.
  const r = await rig({ askForTelemetry: false });
  const counts = new Map<number, number>();
  r.gcs.on('message', ({ frame }) => frame.sysid === 3 && counts.set(frame.msgid, (counts.get(frame.msgid) ?? 0) + 1));
  const intervals = new IntervalClient(r.port);
  const res = await r.during(intervals.setRate(common.Attitude.MSG_ID, 5));
  assert.ok(res.ok);
  counts.clear();
  await r.fly(10_000);
  const att = counts.get(common.Attitude.MSG_ID) ?? 0;
  assert.ok(att >= 45 && att <= 55, `ATTITUDE at 5 Hz: ${att} in 10 s`);
  const rds = new common.RequestDataStream();
  rds.targetSystem = 3;
  rds.targetComponent = 1;
  rds.reqStreamId = common.MavDataStream.POSITION;
  rds.reqMessageRate = 4;
  rds.startStop = 1;
  r.port.send(rds);
  await r.fly(200);
  counts.clear();
  await r.fly(5000);
  const pos = counts.get(common.GlobalPositionInt.MSG_ID) ?? 0;
  assert.ok(pos >= 18 && pos <= 22, `GLOBAL_POSITION_INT at 4 Hz: ${pos} in 5 s`);
  const ts = new Timesync(r.port, { periodMs: 1000 });
  ts.start();
  await r.fly(5000);
  ts.stop();
  assert.ok(ts.current && ts.current.samples > 0, 'timesync samples');
});

test('signing: after SETUP_SIGNING the autopilot drops unsigned commands and obeys signed ones', async () => {
  const gcsSigning = new MavlinkSigning({ clock: new ManualClock() });
  const r = await rig({ gcsSigning });
  await r.fly(2500);
  const key = Buffer.alloc(32, 7);
  // Hand over the key (unsigned, as the drone has none yet), but keep sending unsigned.
  const { sendSetupSigning } = await import('../../firmware-bridge/microservices/signing/index.ts');
  sendSetupSigning(r.port, key);
  await r.fly(500);
  assert.equal(r.drone.signing.requireSigned, true);
  const unsigned = await r.during(r.actions.setMode(encodeMode(A, 'GUIDED'), { retries: 1, timeoutMs: 500 }), 5000);
  assert.equal(unsigned.ok, false);
  assert.equal(unsigned.reason, 'timeout');
  assert.equal(r.drone.mode, 'STABILIZE');
  assert.ok(r.drone.signing.stats.unsigned > 0);
  gcsSigning.setKey(3, key);
  const signed = await r.during(r.actions.setMode(encodeMode(A, 'GUIDED')));
  assert.equal(signed.ok, true);
  assert.equal(r.drone.mode, 'GUIDED');
});

test('GCS failsafe: heartbeats stop while flying → RTL after FS_GCS_TIMEOUT; FS_GCS_ENABLE=5 lands instead', async () => {
  for (const [enable, expected] of [[1, 'RTL'], [5, 'LAND']] as const) {
    const r = await rig({ params: { FS_GCS_ENABLE: enable } });
    await r.fly(2500);
    await r.setMode('GUIDED');
    await r.during(r.actions.arm());
    await r.during(r.actions.takeoff(10));
    await r.fly(10_000, () => r.drone.copter.pos.u > 9.5);
    r.stopHeartbeats();
    await r.fly(4000);
    assert.equal(r.drone.mode, 'GUIDED', 'not before the 5 s timeout');
    await r.fly(2000);
    assert.equal(r.drone.mode, expected);
    assert.ok(r.drone.statusLog.some((s) => s.text === 'GCS Failsafe'));
  }
});

test('battery failsafe: low → BATT_FS_LOW_ACT (RTL), critical → BATT_FS_CRT_ACT (LAND)', async () => {
  // Start just above the arming voltage (21.6 V = 3.6 V/cell, 5 % SoC); low is 3.5 V/cell (≈ 2.5 %).
  const r = await rig({ soc: 0.05 });
  await r.fly(2500);
  await r.setMode('GUIDED');
  assert.equal((await r.during(r.actions.arm())).ok, true);
  const takeoff = await r.during(r.actions.takeoff(30));
  assert.equal(takeoff.ok, true, JSON.stringify(takeoff));
  assert.ok(await r.fly(120_000, () => r.drone.mode === 'RTL'), `low battery → RTL: ${r.drone.mode} ${r.drone.armed} ${r.drone.battery.openCircuitV} ${r.drone.statusLog.map((s) => s.text).join(' / ')}`);
  assert.ok(r.drone.statusLog.some((s) => /^Battery 1 is low/.test(s.text)));
  assert.ok(await r.fly(300_000, () => r.drone.mode === 'LAND' || !r.drone.armed), 'critical → LAND (or already landed)');
  const v = r.vehicles.bySysid(3)!;
  assert.ok(v.statusTexts.some((s) => /Battery 1 is (low|critical)/.test(s.text)), 'the GCS saw the warning');
});
