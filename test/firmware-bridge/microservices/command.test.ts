import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { CommandSender } from '../../../firmware-bridge/microservices/command/index.ts';
import { swarmCommand, VehicleActions, actionCommands } from '../../../firmware-bridge/actions.ts';
import { seededRandom } from '../../../firmware-bridge/random.ts';
import { recordedMessages } from '../../helpers/fixtures.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';
import { nodePair, runUntil } from '../../helpers/nodes.ts';

const R = common.MavResult;

/** A GCS and `n` scripted drones sharing one radio (one link, many peers behind it). */
async function swarm(n: number) {
  const clock = new ManualClock();
  const [ground, air] = createMemoryPair('ground', 'air');
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const channel = gcs.addLink(ground);
  const drones = Array.from({ length: n }, (_, i) => new ScriptedAutopilot(clock, air, i + 1));
  await ground.start();
  await air.start();
  return { clock, gcs, channel, drones };
}

test('ACCEPTED on the first try', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  const sender = new CommandSender(gcs.portTo(channel, 1, 1));
  const r = await runUntil(clock, sender.sendLong(actionCommands.arm()));
  assert.deepEqual(r, { ok: true, result: R.ACCEPTED, attempts: 1 });
  const cmd = drones[0]!.received.find((m) => m instanceof common.CommandLong) as common.CommandLong;
  assert.equal(cmd._param1, 1);
  assert.equal(cmd.confirmation, 0);
});

test('IN_PROGRESS keeps waiting without resending, then the final ACK', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  drones[0]!.commandScript = () => [R.IN_PROGRESS, R.IN_PROGRESS, R.ACCEPTED];
  const progress: number[] = [];
  const r = await runUntil(clock, new CommandSender(gcs.portTo(channel, 1, 1)).sendLong(actionCommands.takeoff(10), { onProgress: (p) => progress.push(p) }));
  assert.equal(r.ok, true);
  assert.deepEqual(progress, [50, 50]);
  assert.equal(drones[0]!.received.filter((m) => m instanceof common.CommandLong).length, 1);
});

test('DENIED is final and counted', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  drones[0]!.commandScript = () => [R.DENIED];
  const sender = new CommandSender(gcs.portTo(channel, 1, 1));
  const r = await runUntil(clock, sender.sendLong(actionCommands.takeoff(10)));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'denied');
  assert.equal(r.attempts, 1);
  assert.equal(sender.denials, 1);
});

test('TEMPORARILY_REJECTED is retried after a pause', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  drones[0]!.commandScript = (_c, attempt) => [attempt < 2 ? R.TEMPORARILY_REJECTED : R.ACCEPTED];
  const t0 = clock.now();
  const r = await runUntil(clock, new CommandSender(gcs.portTo(channel, 1, 1)).sendLong(actionCommands.arm(), { rejectedRetryMs: 500 }));
  assert.equal(r.ok, true);
  assert.equal(r.attempts, 3);
  assert.ok(clock.now() - t0 >= 1000, 'waited between attempts');
});

test('no answer: resends with an increasing confirmation, then a timeout result', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  drones[0]!.commandScript = () => [];
  const r = await runUntil(clock, new CommandSender(gcs.portTo(channel, 1, 1)).sendLong(actionCommands.land(), { timeoutMs: 1000, retries: 2 }));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'timeout');
  const confirmations = drones[0]!.received.filter((m): m is common.CommandLong => m instanceof common.CommandLong).map((m) => m.confirmation);
  assert.deepEqual(confirmations, [0, 1, 2]);
});

test('two identical commands to one drone never overlap', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  const sender = new CommandSender(gcs.portTo(channel, 1, 1));
  const both = Promise.all([sender.sendLong(actionCommands.arm()), sender.sendLong(actionCommands.arm())]);
  const [a, b] = await runUntil(clock, both);
  assert.ok(a.ok && b.ok);
  assert.equal(drones[0]!.received.filter((m) => m instanceof common.CommandLong).length, 2);
});

test('COMMAND_INT carries positions as 1e7 integers', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  const r = await runUntil(
    clock,
    new CommandSender(gcs.portTo(channel, 1, 1)).sendInt({ command: common.MavCmd.DO_REPOSITION, frame: common.MavFrame.GLOBAL_RELATIVE_ALT_INT, x: -33.8568, y: 151.2153, z: 30 }),
  );
  assert.equal(r.ok, true);
  const m = drones[0]!.received.find((x) => x instanceof common.CommandInt) as common.CommandInt;
  assert.equal(m._param5, -338568000);
  assert.equal(m._param6, 1512153000);
  assert.equal(m._param7, 30);
});

test('swarm: one broadcast, unicast retries only to the drones that missed it, all acknowledged', async () => {
  const { clock, gcs, channel, drones } = await swarm(10);
  for (const i of [2, 5, 7]) drones[i]!.ignoreBroadcast = true;
  const targets = drones.map((d) => ({ channel, sysid: d.sysid, compid: 1 }));
  const r = await runUntil(clock, swarmCommand(gcs, targets, actionCommands.arm(), { random: seededRandom(1) }));
  assert.equal(r.acknowledged, 10);
  const viaBroadcast = [...r.results].filter(([, x]) => x.viaBroadcast).map(([s]) => s).sort((a, b) => a - b);
  assert.deepEqual(viaBroadcast, [1, 2, 4, 5, 7, 9, 10]);
  // Every drone received the one broadcast; only the three got a unicast.
  const unicasts = drones.map((d) => d.received.filter((m) => m instanceof common.CommandLong && m.targetSystem === d.sysid).length);
  assert.deepEqual(unicasts, [0, 0, 1, 0, 0, 1, 0, 1, 0, 0]);
});

test('swarm: a silent drone times out alone', async () => {
  const { clock, gcs, channel, drones } = await swarm(4);
  drones[3]!.commandScript = () => [];
  const targets = drones.map((d) => ({ channel, sysid: d.sysid, compid: 1 }));
  const r = await runUntil(clock, swarmCommand(gcs, targets, actionCommands.returnToLaunch(), { random: seededRandom(2), unicast: { timeoutMs: 500, retries: 1 } }));
  assert.equal(r.acknowledged, 3);
  const silent = r.results.get(4)!;
  assert.equal(silent.ok, false);
  assert.equal(!silent.ok && silent.reason, 'timeout');
});

test('actions: go-to sends SET_POSITION_TARGET_GLOBAL_INT with a position-only mask', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  new VehicleActions(gcs.portTo(channel, 1, 1)).goTo({ latDeg: 47.397742, lonDeg: 8.545594, relativeAltM: 25 });
  await clock.advanceAsync(10);
  await clock.advanceAsync(10);
  const m = drones[0]!.received.find((x) => x instanceof common.SetPositionTargetGlobalInt) as common.SetPositionTargetGlobalInt;
  assert.equal(m.latInt, 473977420);
  assert.equal(m.lonInt, 85455940);
  assert.equal(m.alt, 25);
  assert.equal(m.coordinateFrame, common.MavFrame.GLOBAL_RELATIVE_ALT_INT);
  assert.equal(m.typeMask, 0x0ff8);
});

test('actions: set mode by name sends DO_SET_MODE with the autopilot\'s own numbers (ArduCopter, PX4)', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  const actions = new VehicleActions(gcs.portTo(channel, 1, 1));
  assert.equal((await runUntil(clock, actions.setModeByName(minimal.MavAutopilot.ARDUPILOTMEGA, 'RTL'))).ok, true);
  assert.equal((await runUntil(clock, actions.setModeByName(minimal.MavAutopilot.PX4, 'AUTO.MISSION'))).ok, true);
  const sent = drones[0]!.received.filter((m): m is common.CommandLong => m instanceof common.CommandLong && m.command === common.MavCmd.DO_SET_MODE);
  assert.deepEqual(sent.map((m) => [m._param1, m._param2]), [[1, 6], [1, (4 << 16) | (4 << 24)]]);
  assert.throws(() => actions.setModeByName(minimal.MavAutopilot.ARDUPILOTMEGA, 'MISSION'), /ArduCopter has no mode "MISSION"/);
});

/**
 * The refused arm of a recorded SITL session, replayed: the vehicle answers the arm with the
 * recorded COMMAND_ACK and then the STATUSTEXTs that followed it, byte for byte (both firmwares
 * send the reason after the ACK).
 */
async function recordedRefusal(rel: string) {
  const records = recordedMessages(rel);
  const ackAt = records.findIndex((r) => r.message instanceof common.CommandAck && r.message.command === common.MavCmd.COMPONENT_ARM_DISARM && r.message.result !== R.ACCEPTED);
  const answer = [records[ackAt]!];
  for (const r of records.slice(ackAt + 1)) {
    if (r.atMs - records[ackAt]!.atMs > 1000) break;
    if (r.message instanceof common.StatusText) answer.push(r);
  }
  const clock = new ManualClock();
  const { a: gcs, b: vehicle, ca: channel, lb: air } = await nodePair({ clock });
  vehicle.on('message', ({ message }) => {
    if (message instanceof common.CommandLong && message.command === common.MavCmd.COMPONENT_ARM_DISARM) for (const r of answer) air.write(r.frame.raw);
  });
  const texts = answer.slice(1).map((r) => (r.message as common.StatusText).text);
  return { clock, texts, sender: new CommandSender(gcs.portTo(channel, 1, 1)) };
}

test('recorded ArduCopter 4.8: the refused arm carries the "Arm: …" texts that came after its ACK as its explanation', async () => {
  const { clock, texts, sender } = await recordedRefusal('mavlink/arducopter-sitl.tlog');
  const reason = ['Arm: Accels inconsistent', 'Arm: EKF attitude is bad', 'Arm: AHRS: not using configured AHRS type'];
  // Within the second after the ACK, the EKF's INFO texts follow: they explain nothing.
  assert.deepEqual(texts, [...reason, 'EKF3 IMU0 initialised', 'EKF3 IMU1 initialised', 'AHRS: EKF3 active']);
  const r = await runUntil(clock, sender.sendLong(actionCommands.arm()));
  assert.equal(!r.ok && r.reason, 'failed');
  assert.equal(!r.ok && r.explanation, reason.join('; '));
  assert.equal(!r.ok && r.detail, `COMPONENT_ARM_DISARM refused: FAILED: ${reason.join('; ')}`);
});

test('recorded PX4: the refused arm (TEMPORARILY_REJECTED) carries the reason sent after it in two chunks, joined, without PX4\'s trailing tab', async () => {
  const { clock, texts, sender } = await recordedRefusal('mavlink/px4-sitl.tlog');
  assert.deepEqual(texts, ['Arming denied: Resolve system health failures firs', 't\t']);
  const r = await runUntil(clock, sender.sendLong(actionCommands.arm(), { retries: 0 }));
  assert.equal(!r.ok && r.reason, 'temporarily-rejected');
  assert.equal(!r.ok && r.explanation, 'Arming denied: Resolve system health failures first');
});

test('texts from before the refusal, and INFO texts after it, are no explanation', async () => {
  const { clock, gcs, channel, drones } = await swarm(1);
  const drone = drones[0]!;
  const say = (severity: common.MavSeverity, text: string) => {
    const m = new common.StatusText();
    m.severity = severity;
    m.text = text;
    drone.send(m);
  };
  say(common.MavSeverity.CRITICAL, 'PreArm: Gyros inconsistent');
  drone.commandScript = () => {
    setImmediate(() => say(common.MavSeverity.INFO, 'No ap_message for mavlink id (345)'));
    return [R.DENIED];
  };
  const r = await runUntil(clock, new CommandSender(gcs.portTo(channel, 1, 1)).sendLong(actionCommands.arm()));
  assert.equal(!r.ok && r.reason, 'denied');
  assert.equal(!r.ok && r.explanation, undefined);
  assert.equal(!r.ok && r.detail, 'COMPONENT_ARM_DISARM refused: DENIED');
});
