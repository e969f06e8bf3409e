/**
 * The simulated PX4 behaves as the real one did in SITL (PX4 main, SIH; docs/real-autopilots.md):
 * its HEARTBEAT and mode form, typed bytewise parameters, arming checks and the
 * preflight auto-disarm, takeoff to an AMSL altitude, setpoints obeyed only in OFFBOARD, and go-to
 * by DO_REPOSITION — and Canopy's PX4 flavour flies it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import { px4 } from '../../firmware-bridge/autopilots/index.ts';
import { offsetToLatLon } from '../../firmware-bridge/geo.ts';
import { CommandSender } from '../../firmware-bridge/microservices/command/command.ts';
import { ParamClient } from '../../firmware-bridge/microservices/param/param.ts';
import { MavParamError } from '../../firmware-bridge/protocol/wip.ts';
import { ORIGIN, rig } from '../helpers/copter-rig.ts';

async function px4Rig(opts: Parameters<typeof rig>[0] = {}) {
  const r = await rig({ ...opts, px4: true });
  await r.fly(6000);
  const v = r.vehicles.bySysid(3)!;
  return { ...r, v, a: VehicleActions.of(v), sender: new CommandSender(r.port, { retries: 0 }) };
}

test('HEARTBEAT: MAV_AUTOPILOT_PX4 with main/sub custom modes; the flavour reads them', async () => {
  const r = await px4Rig();
  assert.equal(r.v.autopilot, minimal.MavAutopilot.PX4);
  assert.equal(r.v.flavour.family, 'px4');
  assert.equal(r.v.mode, 'AUTO.LOITER');
  assert.equal(r.v.customMode, (4 << 16) | (3 << 24));
});

test('DO_SET_MODE: PX4\'s [base, main, sub] form works; a packed custom_mode in param2 is refused and changes nothing', async () => {
  const r = await px4Rig();
  const packed = await r.during(r.sender.sendLong({ command: common.MavCmd.DO_SET_MODE, params: [1, 0x60000] }));
  assert.equal(packed.ok, false);
  assert.equal(packed.result, common.MavResult.TEMPORARILY_REJECTED);
  assert.ok(r.drone.statusLog.some((s) => s.text === 'Unsupported main mode'));
  assert.equal(r.drone.mode, 'AUTO.LOITER');
  assert.ok((await r.during(r.a.mode('land'))).ok);
  await r.fly(2000);
  assert.equal(r.v.mode, 'AUTO.LAND');
  assert.equal(r.v.flavour.isMode(r.v, 'land'), true);
  assert.ok((await r.during(r.a.mode('guided'))).ok);
  await r.fly(2000);
  assert.equal(r.v.mode, 'AUTO.LOITER');
});

test('parameters: INT32 bytewise, a mismatched type or an unknown name refused with PARAM_ERROR and no echo; the flavour writes its failsafes right', async () => {
  const r = await px4Rig();
  const cast = new ParamClient(r.port, { timeoutMs: 500, retries: 1 });
  // An ArduPilot name, written as ArduPilot would: PARAM_ERROR DOES_NOT_EXIST (mavlink_parameters.cpp).
  const unknown = await r.during(cast.set('FS_GCS_ENABLE', 5, common.MavParamType.INT8), 5000);
  assert.deepEqual(!unknown.ok && [unknown.reason, unknown.error], ['absent', MavParamError.DOES_NOT_EXIST]);
  // The right name in the wrong type: refused (TYPE_MISMATCH), not stored.
  const mismatch = await r.during(cast.set('NAV_DLL_ACT', 3, common.MavParamType.INT8), 5000);
  assert.deepEqual(!mismatch.ok && [mismatch.reason, mismatch.error], ['rejected', MavParamError.TYPE_MISMATCH]);
  assert.equal(r.drone.param('NAV_DLL_ACT'), 0);
  // INT32 cast to a float: the float's bits are what PX4 stores; the echo, read cast, says 3 and hides it.
  await r.during(cast.set('NAV_DLL_ACT', 3, common.MavParamType.INT32), 5000);
  assert.equal(r.drone.param('NAV_DLL_ACT'), 1077936128);
  const bytewise = new ParamClient(r.port, { encoding: px4.paramEncoding });
  for (const spec of px4.swarmFailsafes()) assert.ok((await r.during(bytewise.ensure(spec))).ok, spec.names[0]);
  assert.equal(r.drone.param('NAV_DLL_ACT'), 3);
  assert.equal(r.drone.param('COM_LOW_BAT_ACT'), 2);
  const read = await r.during(bytewise.read('NAV_DLL_ACT'));
  assert.ok(read.ok && read.param.value === 3 && read.param.type === common.MavParamType.INT32);
});

test('arming: TEMPORARILY_REJECTED with "Preflight Fail" until the estimator is ready (cold start), then armed; disarmed 10 s later when it does not take off', async () => {
  const r = await rig({ px4: true, copter: { coldStart: true, seed: 2 } });
  await r.fly(12_000);
  const v = r.vehicles.bySysid(3)!;
  const early = await r.during(new CommandSender(r.port, { retries: 0 }).sendLong({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [1] }));
  assert.equal(early.result, common.MavResult.TEMPORARILY_REJECTED);
  assert.ok(r.drone.statusLog.some((s) => s.text.startsWith('Preflight Fail:')));
  assert.equal(v.readiness(r.clock.now()).ready, false);
  // The refusal's text, after the ACK, is the latest reason (the health report named the check before).
  assert.equal(v.readiness(r.clock.now()).reason, 'Arming denied: Resolve system health failures first');
  await r.fly(40_000, () => v.readiness(r.clock.now()).ready);
  assert.ok(v.readiness(r.clock.now()).ready, 'ready after the warm-up');
  assert.ok((await r.during(VehicleActions.of(v).arm())).ok);
  await r.fly(9000);
  assert.equal(r.drone.armed, true);
  await r.fly(3000);
  assert.equal(r.drone.armed, false, 'COM_DISARM_PRFLT');
  assert.ok(r.drone.statusLog.some((s) => s.text === 'Disarmed by auto preflight disarming'));
});

test('takeoff: a relative altitude reads as AMSL ("Already higher than takeoff altitude", stays down); the flavour\'s AMSL and NaN climb', async () => {
  const r = await px4Rig();
  assert.ok((await r.during(r.a.arm())).ok);
  const relative = await r.during(r.sender.sendLong({ command: common.MavCmd.NAV_TAKEOFF, params: [0, 0, 0, NaN, 0, 0, 20] }));
  assert.ok(relative.ok);
  await r.fly(3000);
  assert.ok(r.drone.copter.pos.u < 0.5, 'still on the ground');
  assert.ok(r.drone.statusLog.some((s) => s.text === 'Already higher than takeoff altitude'));
  assert.equal(r.v.mode, 'AUTO.TAKEOFF');
  assert.ok((await r.during(r.a.takeoff(20))).ok, 'the flavour: AMSL, NaN position');
  assert.ok(await r.fly(30_000, () => r.drone.copter.pos.u > 19.5), 'climbed to 20 m above home');
  await r.fly(3000);
  assert.equal(r.v.mode, 'AUTO.LOITER', 'takeoff ends in Hold');
});

test('go-to: SET_POSITION_TARGET ignored outside OFFBOARD; DO_REPOSITION (the flavour\'s go-to) flies there; OFFBOARD fails safe after its last setpoint', async () => {
  const r = await px4Rig();
  await r.during(r.a.arm());
  await r.during(r.a.takeoff(15));
  await r.fly(20_000, () => r.drone.copter.pos.u > 14.5);
  const target = offsetToLatLon(ORIGIN.latDeg, ORIGIN.lonDeg, 60, 20);
  // ArduPilot's go-to: ignored in Hold.
  VehicleActions.prototype.goTo.call(new VehicleActions(r.port), { latDeg: target.latDeg, lonDeg: target.lonDeg, relativeAltM: 25 });
  await r.fly(5000);
  assert.ok(Math.hypot(r.drone.copter.pos.n - 10, r.drone.copter.pos.e) < 1.5, 'a setpoint outside OFFBOARD moves nothing');
  r.a.goTo({ latDeg: target.latDeg, lonDeg: target.lonDeg, relativeAltM: 25 });
  assert.ok(await r.fly(40_000, () => Math.hypot(r.drone.copter.pos.n - 60, r.drone.copter.pos.e - 20, r.drone.copter.pos.u - 25) < 1), 'DO_REPOSITION flew there');
  assert.equal(r.v.mode, 'AUTO.LOITER');
  // OFFBOARD needs setpoints coming before it is entered, and falls back to Hold after the last.
  const refused = await r.during(r.sender.sendLong({ command: common.MavCmd.DO_SET_MODE, params: [1, 6, 0] }));
  assert.equal(refused.result, common.MavResult.TEMPORARILY_REJECTED);
  const ardupilotGoTo = new VehicleActions(r.port);
  ardupilotGoTo.goTo({ latDeg: target.latDeg, lonDeg: target.lonDeg, relativeAltM: 25 });
  await r.fly(200);
  assert.ok((await r.during(r.sender.sendLong({ command: common.MavCmd.DO_SET_MODE, params: [1, 6, 0] }))).ok);
  await r.fly(500);
  assert.equal(r.drone.mode, 'OFFBOARD');
  await r.fly(2000);
  assert.equal(r.drone.mode, 'AUTO.LOITER', 'failsafe to Hold after COM_OF_LOSS_T');
  assert.ok(r.drone.statusLog.some((s) => /offboard signal lost/i.test(s.text)));
});

test('data-link loss: NAV_DLL_ACT 3 lands after COM_DL_LOSS_T', async () => {
  const r = await px4Rig();
  await r.during(new ParamClient(r.port, { encoding: 'bytewise' }).ensure({ names: ['NAV_DLL_ACT'], value: 3, means: 'land' }));
  await r.during(r.a.arm());
  await r.during(r.a.takeoff(15));
  await r.fly(20_000, () => r.drone.copter.pos.u > 14.5);
  r.stopHeartbeats();
  await r.fly(9000);
  assert.equal(r.drone.mode, 'AUTO.LOITER');
  await r.fly(3000);
  assert.equal(r.drone.mode, 'AUTO.LAND');
});
