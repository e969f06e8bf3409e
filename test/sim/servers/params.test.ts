/**
 * The simulated autopilot's parameter server (parameter.html) against real MAVLink frames, in
 * ArduPilot's dialect and PX4's; and the virtual ArduCopter's, driven by Canopy's ParamClient.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ParamClient } from '../../../firmware-bridge/microservices/param/param.ts';
import { encodePayload, frameFromRaw, payloadOffset } from '../../../firmware-bridge/protocol/frame.ts';
import { MavParamError, ParamError } from '../../../firmware-bridge/protocol/wip.ts';
import type { ParamDef } from '../../../sim/params.ts';
import { ARDUPILOT_PARAMS, LEGACY_ARDUPILOT_PARAMS, PX4_PARAMS, ParamServer, type ParamDialect } from '../../../sim/servers/params.ts';
import { rig } from '../../helpers/copter-rig.ts';
import { recordedMessages } from '../../helpers/fixtures.ts';
import { serverRig, VEHICLE } from '../../helpers/server-rig.ts';

const T = common.MavParamType;

async function paramRig(dialect: ParamDialect) {
  const r = await serverRig();
  const params = new Map<string, ParamDef>([
    ['SYSID', { value: 3, type: T.INT16 }],
    ['SPEED', { value: 500, type: T.REAL32 }],
    ['ACTION', { value: 2, type: T.INT32 }],
  ]);
  const server = new ParamServer(r.endpoint, params, dialect);
  r.serve((m, frame) => server.handle(m, frame));
  return { ...r, server, params };
}

function requestList(targetSystem = VEHICLE.sysid): common.ParamRequestList {
  const m = new common.ParamRequestList();
  m.targetSystem = targetSystem;
  m.targetComponent = VEHICLE.compid;
  return m;
}

function requestRead(paramId: string, paramIndex = -1): common.ParamRequestRead {
  const m = new common.ParamRequestRead();
  m.targetSystem = VEHICLE.sysid;
  m.targetComponent = VEHICLE.compid;
  m.paramId = paramId;
  m.paramIndex = paramIndex;
  return m;
}

function paramSet(paramId: string, value: number, type: common.MavParamType, targetSystem = VEHICLE.sysid): common.ParamSet {
  const m = new common.ParamSet();
  m.targetSystem = targetSystem;
  m.targetComponent = VEHICLE.compid;
  m.paramId = paramId;
  m.paramValue = value;
  m.paramType = type;
  return m;
}

/** A float's bits read as an int32: how a bytewise PARAM_VALUE carries an INT32. */
function int32Bits(f: number): number {
  const b = Buffer.alloc(4);
  b.writeFloatLE(f);
  return b.readInt32LE(0);
}

test('PARAM_REQUEST_LIST: every PARAM_VALUE in index order with the count; to another system: nothing, to all (0): answered', async () => {
  const r = await paramRig(ARDUPILOT_PARAMS);
  await r.send(requestList());
  const values = r.heard(common.ParamValue);
  assert.deepEqual(values.map((v) => [v.paramId, v.paramValue, v.paramType, v.paramIndex, v.paramCount]), [
    ['SYSID', 3, T.INT16, 0, 3],
    ['SPEED', 500, T.REAL32, 1, 3],
    ['ACTION', 2, T.INT32, 2, 3],
  ]);
  r.clear();
  await r.send(requestList(7));
  assert.equal(r.heard(common.ParamValue).length, 0, 'addressed to system 7');
  await r.send(requestList(0));
  assert.equal(r.heard(common.ParamValue).length, 3, 'addressed to every system');
});

const errors = (r: { heard: (t: typeof ParamError) => ParamError[] }) => r.heard(ParamError).map((e) => [e.paramId, e.paramIndex, e.error, e.targetSystem, e.targetComponent]);

test('PARAM_REQUEST_READ: by index, by name when the index is -1; an unknown name or index: PARAM_ERROR DOES_NOT_EXIST to who asked', async () => {
  const r = await paramRig(ARDUPILOT_PARAMS);
  await r.send(requestRead('', 2));
  await r.send(requestRead('SPEED'));
  await r.send(requestRead('NO_SUCH'));
  await r.send(requestRead('', 9));
  assert.deepEqual(r.heard(common.ParamValue).map((v) => [v.paramId, v.paramIndex]), [['ACTION', 2], ['SPEED', 1]]);
  assert.deepEqual(errors(r), [['NO_SUCH', -1, MavParamError.DOES_NOT_EXIST, 255, 190], ['', 9, MavParamError.DOES_NOT_EXIST, 255, 190]]);
});

test('an unknown name is answered as the recorded ArduCopter 4.8 answered SYSID_THISMAV, ARMING_CHECK and WPNAV_SPEED: the same PARAM_ERROR payload; ArduPilot before 4.8 stays silent', async () => {
  const recorded = new Map<string, Buffer>();
  for (const { frame, message } of recordedMessages('mavlink/arducopter-sitl.tlog')) {
    if (message instanceof ParamError) recorded.set(message.paramId, frame.raw.subarray(payloadOffset(frame), payloadOffset(frame) + frame.payloadLength));
  }
  assert.equal(recorded.size, 3);
  const r = await paramRig(ARDUPILOT_PARAMS);
  for (const name of recorded.keys()) await r.send(requestRead(name));
  assert.deepEqual(r.heard(ParamError).map((e) => encodePayload(e).toString('hex')), [...recorded.values()].map((b) => b.toString('hex')));
  const legacy = await paramRig(LEGACY_ARDUPILOT_PARAMS);
  await legacy.send(requestRead('NO_SUCH'));
  assert.equal(legacy.heard(ParamError).length + legacy.heard(common.ParamValue).length, 0);
});

test('ArduPilot PARAM_SET: any type, stored cast to the parameter\'s (integers truncated) and echoed; an unknown name or a NaN: PARAM_ERROR, nothing stored', async () => {
  const r = await paramRig(ARDUPILOT_PARAMS);
  await r.send(paramSet('ACTION', 5.7, T.REAL32));
  await r.send(paramSet('SPEED', 812.5, T.INT8));
  await r.send(paramSet('NO_SUCH', 1, T.REAL32));
  await r.send(paramSet('SPEED', NaN, T.REAL32));
  assert.equal(r.params.get('ACTION')!.value, 5);
  assert.equal(r.params.get('SPEED')!.value, 812.5);
  assert.deepEqual(r.heard(common.ParamValue).map((v) => [v.paramId, v.paramValue, v.paramType, v.paramIndex]), [['ACTION', 5, T.INT32, 2], ['SPEED', 812.5, T.REAL32, 1]]);
  assert.deepEqual(errors(r), [['NO_SUCH', -1, MavParamError.DOES_NOT_EXIST, 255, 190], ['SPEED', -1, MavParamError.VALUE_OUT_OF_RANGE, 255, 190]]);
});

test('PX4 PARAM_SET and PARAM_VALUE: INT32 bytewise; another type than the parameter\'s refused with PARAM_ERROR TYPE_MISMATCH, not echoed', async () => {
  const r = await paramRig(PX4_PARAMS);
  await r.send(requestRead('ACTION'));
  const [read] = r.heard(common.ParamValue);
  assert.equal(int32Bits(read!.paramValue), 2, 'the float carries the integer\'s bytes');
  r.clear();
  await r.send(paramSet('ACTION', 3, T.INT8));
  assert.equal(r.heard(common.ParamValue).length, 0);
  assert.deepEqual(errors(r), [['ACTION', -1, MavParamError.TYPE_MISMATCH, 255, 190]]);
  assert.equal(r.params.get('ACTION')!.value, 2, 'refused');
  const b = Buffer.alloc(4);
  b.writeInt32LE(3);
  await r.send(paramSet('ACTION', b.readFloatLE(0), T.INT32));
  assert.equal(r.params.get('ACTION')!.value, 3);
  const [echo] = r.heard(common.ParamValue);
  assert.equal(int32Bits(echo!.paramValue), 3);
});

test('a reboot reads the stored values back: a PARAM_SET is stored, a change in memory only is not', async () => {
  const r = await paramRig(ARDUPILOT_PARAMS);
  await r.send(paramSet('SPEED', 700, T.REAL32));
  r.params.get('ACTION')!.value = 9;
  r.server.loadSaved();
  assert.equal(r.params.get('SPEED')!.value, 700);
  assert.equal(r.params.get('ACTION')!.value, 2);
});

test('the virtual ArduCopter\'s parameters through ParamClient: list, read, set with echo; BATT_* and FS_* exist', async () => {
  const r = await rig();
  const params = new ParamClient(r.port);
  const list = await r.during(params.list());
  assert.ok(list.ok);
  // ArduPilot 4.7+ names (SYSID_THISMAV became MAV_SYSID, SR1_* MAV1_*).
  for (const name of ['MAV_SYSID', 'MAV_GCS_SYSID', 'MAV1_POSITION', 'BATT_LOW_VOLT', 'BATT_FS_LOW_ACT', 'FS_GCS_ENABLE', 'WPNAV_SPEED']) assert.ok(list.params.has(name), name);
  assert.equal(list.params.has('SYSID_THISMAV'), false);
  assert.equal(list.params.get('MAV_SYSID')!.value, 3);
  assert.equal(list.params.get('FS_GCS_ENABLE')!.value, 0, 'ArduCopter 4.8 ships the GCS failsafe off');
  const set = await r.during(params.set('WPNAV_SPEED', 800));
  assert.ok(set.ok);
  assert.equal(r.drone.param('WPNAV_SPEED'), 800);
  const read = await r.during(params.read('BATT_LOW_VOLT'));
  assert.ok(read.ok && Math.abs(read.param.value - 21) < 1e-4);
  // A name from before 4.7: PARAM_ERROR at the first request, as ArduCopter 4.8 answers.
  let reads = 0;
  r.gcs.on('sent', (raw: Buffer) => void (frameFromRaw(raw).msgid === common.ParamRequestRead.MSG_ID && reads++));
  const old = await r.during(params.read('SYSID_THISMAV'));
  assert.deepEqual(old, { ok: false, reason: 'absent', error: MavParamError.DOES_NOT_EXIST, detail: 'parameter SYSID_THISMAV: does not exist (PARAM_ERROR from the autopilot)' });
  assert.equal(reads, 1, 'asked once: the PARAM_ERROR is the answer');
});
