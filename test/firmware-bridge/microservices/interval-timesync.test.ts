import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { IntervalClient } from '../../../firmware-bridge/microservices/interval/index.ts';
import { Timesync } from '../../../firmware-bridge/microservices/timesync/index.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';
import { runUntil } from '../../helpers/nodes.ts';

async function setup() {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair();
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const channel = gcs.addLink(ground);
  const drone = new ScriptedAutopilot(clock, air, 1);
  await ground.start();
  await air.start();
  return { clock, drone, port: gcs.portTo(channel, 1, 1) };
}

test('SET_MESSAGE_INTERVAL carries the interval in µs; -1 stops a message', async () => {
  const { clock, drone, port } = await setup();
  const rates = await runUntil(clock, new IntervalClient(port).setRates({ 33: 2, 30: 0 }));
  assert.deepEqual([...rates.values()].map((r) => r.ok && r.via), ['set-message-interval', 'set-message-interval']);
  const cmds = drone.received.filter((m): m is common.CommandLong => m instanceof common.CommandLong);
  assert.deepEqual(cmds.map((c) => [c.command, c._param1, c._param2]), [
    [common.MavCmd.SET_MESSAGE_INTERVAL, 30, -1],
    [common.MavCmd.SET_MESSAGE_INTERVAL, 33, 500000],
  ]);
});

test('an autopilot without SET_MESSAGE_INTERVAL gets REQUEST_DATA_STREAM for the message group', async () => {
  const { clock, drone, port } = await setup();
  drone.commandScript = () => [common.MavResult.UNSUPPORTED];
  const r = await runUntil(clock, new IntervalClient(port).setRate(33, 4));
  assert.deepEqual(r, { ok: true, via: 'request-data-stream' });
  await clock.advanceAsync(10);
  await clock.advanceAsync(10);
  const rds = drone.received.find((m): m is common.RequestDataStream => m instanceof common.RequestDataStream);
  assert.equal(rds?.reqStreamId, common.MavDataStream.POSITION);
  assert.equal(rds?.reqMessageRate, 4);
  assert.equal(rds?.startStop, 1);
  const denied = await setup();
  denied.drone.commandScript = () => [common.MavResult.DENIED];
  const d = await runUntil(denied.clock, new IntervalClient(denied.port).setRate(33, 4));
  assert.equal(d.ok, false);
});

test('timesync estimates the vehicle clock offset and answers the vehicle', async () => {
  const { clock, drone, port } = await setup();
  drone.timeOffsetNs = 5_000_000_000n; // vehicle clock 5 s ahead
  const ts = new Timesync(port, { periodMs: 1000 });
  ts.start();
  for (let i = 0; i < 500; i++) await clock.advanceAsync(10);
  const est = ts.current!;
  assert.ok(est.samples >= 4, `samples ${est.samples}`);
  assert.ok(Math.abs(est.offsetNs - 5e9) < 20e6, `offset ${est.offsetNs}`);
  // The vehicle asks us: we answer with our own time.
  const req = new common.TimeSync();
  req.tc1 = 0n;
  req.ts1 = 123n;
  drone.send(req);
  for (let i = 0; i < 3; i++) await clock.advanceAsync(10);
  const replies = drone.received.filter((m): m is common.TimeSync => m instanceof common.TimeSync && m.ts1 === 123n && m.tc1 !== 0n);
  assert.equal(replies.length, 1);
  ts.stop();
});
