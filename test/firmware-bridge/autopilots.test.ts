/**
 * The autopilot flavours (firmware-bridge/autopilots/): what each firmware is sent and how its own
 * signals are read, on real Vehicle sessions fed the messages the firmware sends.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ardupilotmega, common, minimal, type MavLinkData } from 'mavlink-mappings';
import { ardupilot, flavourOf, px4 } from '../../firmware-bridge/autopilots/index.ts';
import { POSITION_ONLY_TYPE_MASK } from '../../firmware-bridge/autopilots/ardupilot.ts';
import { VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { collect, flush, nodePair } from '../helpers/nodes.ts';

const { ARDUPILOTMEGA, PX4 } = minimal.MavAutopilot;
const PREARM = common.MavSysStatusSensor.PREARM_CHECK;
const EKF = ardupilotmega.EkfStatusFlags;
const EKF_GOOD = EKF.ATTITUDE | EKF.VELOCITY_HORIZ | EKF.VELOCITY_VERT | EKF.POS_HORIZ_REL | EKF.POS_HORIZ_ABS | EKF.POS_VERT_ABS;

/** A vehicle session as the ground station's VehicleManager keeps it, and the drone's node to send from. */
async function session(autopilot: minimal.MavAutopilot) {
  const p = await nodePair({ a: { sysid: 255, compid: 190 }, b: { sysid: 7, compid: 1 } });
  const vehicles = new VehicleManager(p.a);
  vehicles.start();
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = autopilot;
  hb.baseMode = minimal.MavModeFlag.CUSTOM_MODE_ENABLED;
  hb.systemStatus = minimal.MavState.STANDBY;
  hb.mavlinkVersion = 3;
  p.cb.send(hb, p.b);
  await flush();
  const v = vehicles.list()[0]!;
  assert.ok(v, 'the HEARTBEAT made a session');
  const feed = (...ms: MavLinkData[]) => {
    for (const m of ms) v.apply(m, p.clock.now());
  };
  return { ...p, vehicles, v, feed };
}

function sysStatus(opts: { present?: number; health: number; currentCa?: number }): common.SysStatus {
  const s = new common.SysStatus();
  s.onboardControlSensorsPresent = (opts.present ?? PREARM) as common.MavSysStatusSensor;
  s.onboardControlSensorsEnabled = s.onboardControlSensorsPresent;
  s.onboardControlSensorsHealth = opts.health as common.MavSysStatusSensor;
  s.voltageBattery = 16_800;
  s.currentBattery = opts.currentCa ?? -1;
  s.batteryRemaining = 100;
  return s;
}

function position(timeBootMs: number, altMm = 20_000, relMm = 0): common.GlobalPositionInt {
  const m = new common.GlobalPositionInt();
  m.timeBootMs = timeBootMs;
  m.lat = -338_568_000;
  m.lon = 1_512_153_000;
  m.alt = altMm;
  m.relativeAlt = relMm;
  m.hdg = 65535;
  return m;
}

function ekf(flags: number): ardupilotmega.EkfStatusReport {
  const m = new ardupilotmega.EkfStatusReport();
  m.flags = flags as ardupilotmega.EkfStatusFlags;
  return m;
}

function home(altMm: number): common.HomePosition {
  const m = new common.HomePosition();
  m.latitude = -338_568_000;
  m.longitude = 1_512_153_000;
  m.altitude = altMm;
  return m;
}

function text(t: string): common.StatusText {
  const m = new common.StatusText();
  m.severity = common.MavSeverity.CRITICAL;
  m.text = t;
  return m;
}

test('the HEARTBEAT autopilot field picks the flavour: PX4 for 12, ArduPilot for 3 and for the rest', () => {
  assert.equal(flavourOf(PX4), px4);
  assert.equal(flavourOf(ARDUPILOTMEGA), ardupilot);
  assert.equal(flavourOf(minimal.MavAutopilot.GENERIC), ardupilot);
});

test('telemetry asked for: ArduPilot adds the EKF report and home, PX4 home and WIND_COV in place of WIND', () => {
  const wanted = { [common.GlobalPositionInt.MSG_ID]: 1, [ardupilotmega.Wind.MSG_ID]: 0.1 };
  const ap = ardupilot.telemetry(wanted);
  assert.equal(ap[ardupilotmega.EkfStatusReport.MSG_ID], 0.2);
  assert.equal(ap[common.HomePosition.MSG_ID], 0.1);
  assert.equal(ap[ardupilotmega.Wind.MSG_ID], 0.1);
  assert.equal(ap[common.WindCov.MSG_ID], undefined, 'ArduPilot has no WIND_COV (no ap_message): not asked at all');
  const p = px4.telemetry(wanted);
  assert.equal(p[ardupilotmega.Wind.MSG_ID], undefined, 'PX4 refuses WIND');
  assert.equal(p[common.WindCov.MSG_ID], 0.1);
  assert.equal(p[common.HomePosition.MSG_ID], 0.1);
  assert.equal(p[ardupilotmega.EkfStatusReport.MSG_ID], undefined);
  assert.equal(p[common.GlobalPositionInt.MSG_ID], 1);
  assert.deepEqual(wanted, { 33: 1, 168: 0.1 }, 'the wanted rates are not changed');
  assert.equal(ardupilot.stopsDataStreams, true);
  assert.equal(px4.stopsDataStreams, false);
});

test('modes: ArduCopter numbers in param2; PX4 main mode in param2 and sub mode in param3', () => {
  const flag = minimal.MavModeFlag.CUSTOM_MODE_ENABLED;
  assert.deepEqual(ardupilot.setMode('guided'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 4] });
  assert.deepEqual(ardupilot.setMode('land'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 9] });
  assert.deepEqual(ardupilot.setMode('rtl'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 6] });
  assert.deepEqual(px4.setMode('guided'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 4, 3] });
  assert.deepEqual(px4.setMode('land'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 4, 6] });
  assert.deepEqual(px4.setMode('rtl'), { command: common.MavCmd.DO_SET_MODE, params: [flag, 4, 5] });
  assert.equal(px4.modeName('guided'), 'AUTO.LOITER');
  assert.equal(ardupilot.modeName('guided'), 'GUIDED');
});

test('takeoff: ArduCopter gets the height above home, PX4 the altitude above sea level at the current position', async () => {
  const { v, feed } = await session(PX4);
  feed(position(1000, 120_000, 0), home(120_000));
  const ap = ardupilot.takeoff(v, 30);
  assert.equal(ap.command, common.MavCmd.NAV_TAKEOFF);
  assert.equal(ap.params?.[6], 30);
  const p = px4.takeoff(v, 30);
  assert.equal(p.params?.[6], 150, 'home 120 m AMSL + 30 m');
  assert.ok(Number.isNaN(p.params?.[4]) && Number.isNaN(p.params?.[5]), 'lat/lon NaN: take off where it stands');
  // Without HOME_POSITION yet: where it stands now less its height above home.
  const { v: w, feed: feedW } = await session(PX4);
  feedW(position(1000, 125_000, 5_000));
  assert.equal(px4.takeoff(w, 30).params?.[6], 150);
});

test('go-to: ArduPilot gets a position-only SET_POSITION_TARGET_GLOBAL_INT, PX4 a DO_REPOSITION in AMSL that switches to Hold', async () => {
  const target = { latDeg: -33.8564, lonDeg: 151.2154, relativeAltM: 30 };
  const a = await session(ARDUPILOTMEGA);
  const gotA = collect(a.b);
  ardupilot.goTo(a.v.port, a.v, target);
  await flush();
  const sp = gotA.map((m) => m.message).find((m): m is common.SetPositionTargetGlobalInt => m instanceof common.SetPositionTargetGlobalInt);
  assert.ok(sp, 'SET_POSITION_TARGET_GLOBAL_INT sent');
  assert.equal(sp.coordinateFrame, common.MavFrame.GLOBAL_RELATIVE_ALT_INT);
  assert.equal(sp.typeMask, POSITION_ONLY_TYPE_MASK);
  assert.equal(sp.latInt, -338_564_000);
  assert.equal(sp.lonInt, 1_512_154_000);
  assert.equal(sp.alt, 30);
  assert.equal(sp.targetSystem, 7);

  const p = await session(PX4);
  p.feed(position(1000, 20_000, 0), home(20_000));
  const gotP = collect(p.b);
  px4.goTo(p.v.port, p.v, target);
  await flush();
  const cmd = gotP.map((m) => m.message).find((m): m is common.CommandInt => m instanceof common.CommandInt);
  assert.ok(cmd, 'COMMAND_INT sent');
  assert.equal(cmd.command, common.MavCmd.DO_REPOSITION);
  assert.equal(cmd.frame, common.MavFrame.GLOBAL_INT);
  // mavlink-mappings names COMMAND_INT's fields _param1.._param7 (x, y, z are 5 to 7).
  assert.equal(cmd._param2, 1, 'MAV_DO_REPOSITION_FLAGS_CHANGE_MODE');
  assert.equal(cmd._param5, -338_564_000);
  assert.equal(cmd._param6, 1_512_154_000);
  assert.equal(cmd._param7, 50, 'home 20 m AMSL + 30 m');
  assert.equal(gotP.some((m) => m.message instanceof common.SetPositionTargetGlobalInt), false, 'no offboard setpoint to PX4');
});

test('ArduCopter readiness follows its warm-up: pre-arm text, then EKF position, then home', async () => {
  const { v, feed, clock } = await session(ARDUPILOTMEGA);
  assert.deepEqual(v.readiness(clock.now()), { ready: false, reason: 'waiting for telemetry' });
  feed(position(1000));
  assert.equal(v.readiness(clock.now()).reason, 'waiting for SYS_STATUS');
  feed(text('Arm: Gyros inconsistent'), text('EKF3 IMU0 initialised'), sysStatus({ health: 0 }));
  assert.deepEqual(v.readiness(clock.now()), { ready: false, reason: 'Arm: Gyros inconsistent' }, 'the latest arming text, not other news');
  feed(text('PreArm: Need Position Estimate'));
  assert.equal(v.readiness(clock.now()).reason, 'PreArm: Need Position Estimate');
  // Pre-arm checks pass; the EKF report has not come, then it has no absolute position yet.
  feed(sysStatus({ health: PREARM }));
  assert.equal(v.readiness(clock.now()).reason, 'waiting for EKF_STATUS_REPORT');
  feed(ekf(EKF.ATTITUDE | EKF.VELOCITY_HORIZ));
  assert.equal(v.readiness(clock.now()).reason, 'PreArm: Need Position Estimate', 'the autopilot\'s own words while the EKF lacks a position');
  feed(ekf(EKF_GOOD | EKF.GPS_GLITCHING));
  assert.equal(v.readiness(clock.now()).ready, false, 'GPS glitching is not ready');
  feed(ekf(EKF_GOOD));
  assert.equal(v.readiness(clock.now()).reason, 'waiting for HOME_POSITION');
  feed(home(20_000));
  assert.deepEqual(v.readiness(clock.now()), { ready: true, reason: '' });
  // Without a text, the flags are the reason.
  const noText = await session(ARDUPILOTMEGA);
  noText.feed(position(1000), sysStatus({ health: PREARM }), ekf(EKF.ATTITUDE));
  assert.match(noText.v.readiness(0).reason, /^EKF has no position estimate \(flags 0x1\)$/);
  // A firmware that does not report the pre-arm bit is judged by its EKF and home alone.
  const older = await session(ARDUPILOTMEGA);
  older.feed(position(1000), sysStatus({ present: 0, health: 0 }), ekf(EKF_GOOD), home(20_000));
  assert.equal(older.v.readiness(0).ready, true);
});

test('PX4 readiness: the pre-arm health bit with Commander\'s text, then home; no EKF report needed', async () => {
  const { v, feed } = await session(PX4);
  feed(position(1000), text('Preflight Fail: ekf2 missing data'), sysStatus({ health: 0 }));
  assert.deepEqual(v.readiness(0), { ready: false, reason: 'Preflight Fail: ekf2 missing data' });
  feed(sysStatus({ health: PREARM }));
  assert.equal(v.readiness(0).reason, 'waiting for HOME_POSITION');
  feed(home(20_000));
  assert.deepEqual(v.readiness(0), { ready: true, reason: '' });
});

test('readiness is judged on fresh telemetry: a reboot forgets it, stale SYS_STATUS is not ready', async () => {
  const { v, feed, clock } = await session(ARDUPILOTMEGA);
  feed(position(60_000), sysStatus({ health: PREARM }), ekf(EKF_GOOD), home(20_000));
  assert.equal(v.readiness(clock.now()).ready, true);
  assert.equal(v.readiness(clock.now() + 60_000).reason, 'waiting for SYS_STATUS', 'a minute-old SYS_STATUS says nothing of now');
  feed(position(900)); // time since boot went back: the autopilot restarted
  assert.equal(v.reboots, 1);
  assert.equal(v.telemetry.homeLatDeg, undefined, 'home forgotten');
  assert.equal(v.readiness(clock.now()).reason, 'waiting for SYS_STATUS');
});

test('arming texts: each firmware\'s own refusals, not its other news', () => {
  for (const t of ['PreArm: Gyros inconsistent', 'Arm: AHRS: waiting for home', 'PreArm: Need Position Estimate']) assert.equal(ardupilot.isArmingText(t), true, t);
  for (const t of ['EKF3 IMU0 is using GPS', 'ArduCopter V4.8.0-dev', 'Preflight Fail: baro']) assert.equal(ardupilot.isArmingText(t), false, t);
  for (const t of ['Preflight Fail: ekf2 missing data', 'Arming denied: Resolve system health failures first']) assert.equal(px4.isArmingText(t), true, t);
  assert.equal(px4.isArmingText('Takeoff detected'), false);
});

test('battery current: -1 is "not measured" everywhere, PX4 also sends its driver\'s -1 A as -100 cA', async () => {
  assert.equal(ardupilot.batteryCurrentA(-1), undefined);
  assert.equal(ardupilot.batteryCurrentA(1250), 12.5);
  assert.equal(px4.batteryCurrentA(-100), undefined);
  assert.equal(px4.batteryCurrentA(-1), undefined);
  assert.equal(px4.batteryCurrentA(250), 2.5);
  const { v, feed } = await session(PX4);
  feed(sysStatus({ health: PREARM, currentCa: -100 }));
  assert.equal(v.telemetry.currentA, undefined);
  assert.equal(v.telemetry.voltageV, 16.8);
});

test('failsafes: each firmware\'s own parameter names for land-in-place', () => {
  assert.deepEqual(ardupilot.swarmFailsafes().map((s) => [s.names[0], s.value]), [['FS_GCS_ENABLE', 5], ['BATT_FS_LOW_ACT', 1], ['BATT_FS_CRT_ACT', 1]]);
  assert.deepEqual(px4.swarmFailsafes().map((s) => [s.names[0], s.value]), [['NAV_DLL_ACT', 3], ['COM_LOW_BAT_ACT', 2]]);
  assert.equal(ardupilot.paramEncoding, 'cast');
  assert.equal(px4.paramEncoding, 'bytewise');
});

