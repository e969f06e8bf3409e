import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { ParamClient, decodeParamValue, encodeParamValue } from '../../../firmware-bridge/microservices/param/index.ts';
import { MavParamError, ParamError } from '../../../firmware-bridge/protocol/wip.ts';
import { recordedMessages } from '../../helpers/fixtures.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';
import { nodePair, runUntil } from '../../helpers/nodes.ts';

const T = common.MavParamType;

async function setup() {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair();
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const channel = gcs.addLink(ground);
  const drone = new ScriptedAutopilot(clock, air, 1);
  for (let i = 0; i < 40; i++) drone.params.set(`P_${String(i).padStart(2, '0')}`, { value: i * 1.5, type: T.REAL32 });
  drone.params.set('FS_GCS_ENABLE', { value: 1, type: T.INT8 });
  drone.params.set('RO_SERIAL', { value: 1234, type: T.INT32 });
  await ground.start();
  await air.start();
  return { clock, drone, client: new ParamClient(gcs.portTo(channel, 1, 1)) };
}

test('list re-requests the indices that were dropped and returns the full table', async () => {
  const { clock, drone, client } = await setup();
  drone.dropParamIndices = new Set([0, 7, 8, 41]);
  const r = await runUntil(clock, client.list());
  assert.equal(r.ok, true, r.ok ? '' : r.detail);
  assert.equal(r.params.size, 42);
  assert.equal(r.params.get('P_07')?.value, 10.5);
  const reads = drone.received.filter((m): m is common.ParamRequestRead => m instanceof common.ParamRequestRead).map((m) => m.paramIndex);
  assert.deepEqual(reads, [0, 7, 8, 41], 'only the missing indices were asked for again');
});

test('set checks the echo: accepted, then a value the vehicle does not take', async () => {
  const { clock, client } = await setup();
  await runUntil(clock, client.read('FS_GCS_ENABLE'));
  const ok = await runUntil(clock, client.set('FS_GCS_ENABLE', 2));
  assert.equal(ok.ok, true);
  assert.equal(client.cache.get('FS_GCS_ENABLE')?.value, 2);
  const refused = await runUntil(clock, client.set('RO_SERIAL', 99, T.INT32));
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.reason, 'rejected');
  assert.equal(!refused.ok && refused.param?.value, 1234);
});

test('read of an unknown name times out with a result, not an exception', async () => {
  const { clock, client } = await setup();
  const r = await runUntil(clock, client.read('NO_SUCH_PARAM'));
  assert.equal(r.ok, false);
});

test('bytewise encoding (PX4) round-trips integers through the float field', () => {
  for (const [v, type] of [[-5, T.INT32], [70000, T.UINT32], [200, T.UINT8], [-3, T.INT8]] as const) {
    assert.equal(decodeParamValue(encodeParamValue(v, type, 'bytewise'), type, 'bytewise'), v);
  }
  assert.equal(decodeParamValue(3, T.INT32, 'cast'), 3);
});

test('ensure finds the name the firmware uses (MAV_SYSID since ArduPilot 4.7, SYSID_THISMAV before) and writes it in its own type', async () => {
  const { clock, drone, client } = await setup();
  drone.params.set('SYSID_THISMAV', { value: 1, type: T.INT16 });
  const r = await runUntil(clock, client.ensure({ names: ['MAV_SYSID', 'SYSID_THISMAV'], value: 7, means: 'system id' }));
  assert.deepEqual(r, { ok: true, name: 'SYSID_THISMAV', changed: true });
  assert.equal(drone.params.get('SYSID_THISMAV')?.value, 7);
  const set = drone.received.filter((m): m is common.ParamSet => m instanceof common.ParamSet);
  assert.deepEqual(set.map((m) => [m.paramId, m.paramType]), [['SYSID_THISMAV', T.INT16]], 'one write, as the autopilot typed it');
});

test('ensure of a value already held writes nothing', async () => {
  const { clock, drone, client } = await setup();
  const r = await runUntil(clock, client.ensure({ names: ['FS_GCS_ENABLE'], value: 1, means: 'failsafe' }));
  assert.deepEqual(r, { ok: true, name: 'FS_GCS_ENABLE', changed: false });
  assert.equal(drone.received.some((m) => m instanceof common.ParamSet), false);
});

test('ensure of a parameter the autopilot lacks says absent after bounded reads, and never writes', async () => {
  const { clock, drone, client } = await setup();
  const r = await runUntil(clock, client.ensure({ names: ['NEW_NAME', 'OLD_NAME'], value: 3, means: 'land on GCS loss' }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'absent');
  assert.match(!r.ok ? r.detail : '', /no parameter NEW_NAME or OLD_NAME on this autopilot \(land on GCS loss\)/);
  const reads = drone.received.filter((m) => m instanceof common.ParamRequestRead).length;
  assert.equal(reads, 2 * 4, 'each name read once plus three retries, then given up');
  assert.equal(drone.received.some((m) => m instanceof common.ParamSet), false);
});

test('ensure on PX4: an INT32 written bytewise in its own type is taken; a write of another type is refused unechoed', async () => {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair();
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const channel = gcs.addLink(ground);
  const drone = new ScriptedAutopilot(clock, air, 1);
  drone.strictParamTypes = true;
  // PX4 holds INT32 parameters bytewise: the float field carries the integer's four bytes.
  drone.params.set('NAV_DLL_ACT', { value: encodeParamValue(0, T.INT32, 'bytewise'), type: T.INT32 });
  await ground.start();
  await air.start();
  const client = new ParamClient(gcs.portTo(channel, 1, 1), { encoding: 'bytewise' });
  const r = await runUntil(clock, client.ensure({ names: ['NAV_DLL_ACT'], value: 3, means: 'land on data-link loss' }));
  assert.deepEqual(r, { ok: true, name: 'NAV_DLL_ACT', changed: true });
  assert.equal(decodeParamValue(drone.params.get('NAV_DLL_ACT')!.value, T.INT32, 'bytewise'), 3);
  // What Canopy once did: INT8 to an INT32 parameter. PX4 refuses it with no echo: a timeout, not a hang.
  const wrong = await runUntil(clock, client.set('NAV_DLL_ACT', 2, T.INT8));
  assert.equal(!wrong.ok && wrong.reason, 'timeout');
  assert.equal(decodeParamValue(drone.params.get('NAV_DLL_ACT')!.value, T.INT32, 'bytewise'), 3);
});

/**
 * ArduCopter 4.8 as recorded in SITL (test/fixtures/mavlink/arducopter-sitl.tlog): a
 * PARAM_REQUEST_READ is answered with the recorded frame for that name, byte for byte — the
 * PARAM_ERROR it sent for the three names it no longer has, or the PARAM_VALUE the list gave.
 */
async function recordedArduCopter() {
  const answers = new Map<string, Buffer>();
  for (const r of recordedMessages('mavlink/arducopter-sitl.tlog')) {
    if (r.frame.sysid !== 1 || !(r.message instanceof ParamError || r.message instanceof common.ParamValue)) continue;
    if (!answers.has(r.message.paramId)) answers.set(r.message.paramId, r.frame.raw);
  }
  const clock = new ManualClock();
  const { a: gcs, b: vehicle, ca: channel, lb: air } = await nodePair({ clock });
  const asked: string[] = [];
  vehicle.on('message', ({ message }) => {
    if (!(message instanceof common.ParamRequestRead)) return;
    asked.push(message.paramId);
    const raw = answers.get(message.paramId);
    if (raw) air.write(raw);
  });
  return { clock, asked, client: new ParamClient(gcs.portTo(channel, 1, 1)) };
}

test('recorded ArduCopter 4.8: a name it no longer has ends the read at its PARAM_ERROR, with the name and the reason, not after the retries', async () => {
  const { clock, asked, client } = await recordedArduCopter();
  for (const name of ['SYSID_THISMAV', 'ARMING_CHECK', 'WPNAV_SPEED']) {
    const r = await runUntil(clock, client.read(name));
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.reason, 'absent');
    assert.equal(!r.ok && r.error, MavParamError.DOES_NOT_EXIST);
    assert.equal(!r.ok && r.detail, `parameter ${name}: does not exist (PARAM_ERROR from the autopilot)`);
  }
  assert.deepEqual(asked, ['SYSID_THISMAV', 'ARMING_CHECK', 'WPNAV_SPEED'], 'each asked once: the PARAM_ERROR is the answer');
});

test('recorded ArduCopter 4.8: ensure moves on from the old name\'s PARAM_ERROR to the new one (SYSID_THISMAV → MAV_SYSID, ARMING_CHECK → ARMING_SKIPCHK)', async () => {
  const { clock, asked, client } = await recordedArduCopter();
  const sysid = await runUntil(clock, client.ensure({ names: ['SYSID_THISMAV', 'MAV_SYSID'], value: 1, means: 'system id' }));
  assert.deepEqual(sysid, { ok: true, name: 'MAV_SYSID', changed: false });
  const checks = await runUntil(clock, client.ensure({ names: ['ARMING_CHECK', 'ARMING_SKIPCHK'], value: 0, means: 'all arming checks' }));
  assert.deepEqual(checks, { ok: true, name: 'ARMING_SKIPCHK', changed: false });
  assert.deepEqual(asked, ['SYSID_THISMAV', 'MAV_SYSID', 'ARMING_CHECK', 'ARMING_SKIPCHK']);
  const none = await runUntil(clock, client.ensure({ names: ['WPNAV_SPEED'], value: 500, means: 'cruise speed' }));
  assert.deepEqual(none, { ok: false, reason: 'absent', detail: 'no parameter WPNAV_SPEED on this autopilot (cruise speed)' });
});
