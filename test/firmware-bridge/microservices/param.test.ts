import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { ParamClient, decodeParamValue, encodeParamValue } from '../../../firmware-bridge/microservices/param/index.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';
import { runUntil } from '../../helpers/nodes.ts';

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
