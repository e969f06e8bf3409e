/**
 * The simulated ArduCopter is as strict as the real one (ArduCopter V4.8.0-dev in SITL,
 * docs/real-autopilots.md): nothing streams until asked, a cold start refuses to arm until
 * the EKF uses GPS with the firmware's own words, saved stream groups come back at every boot, the
 * parameter names are today's, and a reboot forgets what the ground station asked.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ardupilotmega, common, minimal } from 'mavlink-mappings';
import { IntervalClient } from '../../firmware-bridge/microservices/interval/interval.ts';
import { ParamClient } from '../../firmware-bridge/microservices/param/param.ts';
import { CommandSender } from '../../firmware-bridge/microservices/command/command.ts';
import { rig } from '../helpers/copter-rig.ts';
import { fixtureFigures, type MavlinkFigures } from '../helpers/fixtures.ts';

/** Counts frames from the drone by message id while `ms` of simulated time run. */
async function countDuring(r: Awaited<ReturnType<typeof rig>>, ms: number): Promise<Map<number, number>> {
  const counts = new Map<number, number>();
  const on = (frame: { sysid: number; msgid: number }) => void (frame.sysid === 3 && counts.set(frame.msgid, (counts.get(frame.msgid) ?? 0) + 1));
  r.gcs.on('frame', on);
  await r.fly(ms);
  r.gcs.off('frame', on);
  return counts;
}

test('stock ArduCopter streams nothing until asked: HEARTBEAT and STATUSTEXT only, then what SET_MESSAGE_INTERVAL asks for', async () => {
  const r = await rig({ askForTelemetry: false });
  const quiet = await countDuring(r, 10_000);
  assert.deepEqual([...quiet.keys()].filter((id) => id !== minimal.Heartbeat.MSG_ID && id !== common.StatusText.MSG_ID && id !== common.HomePosition.MSG_ID), [], `unasked: ${[...quiet.keys()].join(', ')}`);
  assert.ok((quiet.get(minimal.Heartbeat.MSG_ID) ?? 0) >= 9, 'HEARTBEAT at 1 Hz');
  const v = r.vehicles.bySysid(3)!;
  assert.equal(v.telemetry.latDeg, undefined, 'no position without asking');
  assert.ok((await r.during(new IntervalClient(r.port).setRate(common.GlobalPositionInt.MSG_ID, 1))).ok);
  const asked = await countDuring(r, 5000);
  assert.ok((asked.get(common.GlobalPositionInt.MSG_ID) ?? 0) >= 4, 'GLOBAL_POSITION_INT once asked');
});

test('cold start: arming is refused with the recorded Arm: texts until the EKF uses GPS (30–45 s); the pre-arm bit, EKF flags and home follow', async () => {
  const r = await rig({ copter: { coldStart: true, seed: 7 } });
  const v = () => r.vehicles.bySysid(3);
  const acks: { t: number; result: number | undefined; text: string | undefined }[] = [];
  const flags = new Set<number>();
  const statuses: number[] = [];
  r.gcs.on('message', ({ message }) => {
    if (message instanceof ardupilotmega.EkfStatusReport) flags.add(message.flags);
    if (message instanceof minimal.Heartbeat && message.type !== minimal.MavType.GCS && statuses.at(-1) !== message.systemStatus) statuses.push(message.systemStatus);
  });
  const sender = new CommandSender(r.port, { timeoutMs: 800, retries: 0 });
  let armedAt: number | undefined;
  const t0 = r.clock.now();
  while (r.clock.now() - t0 < 60_000 && armedAt === undefined) {
    const res = await r.during(sender.sendLong({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [1] }), 2000);
    const text = r.drone.statusLog.filter((s) => s.text.startsWith('Arm:')).at(-1)?.text;
    acks.push({ t: r.clock.now() - t0, result: res.ok ? common.MavResult.ACCEPTED : res.result, text });
    if (res.ok) armedAt = r.clock.now();
    else await r.fly(1000);
  }
  await r.fly(6000);
  assert.ok(armedAt !== undefined, `armed in the end: ${JSON.stringify(acks.slice(-3))} ${r.drone.statusLog.slice(-5).map((x) => x.text).join(' | ')}`);
  const ekf = r.drone.statusLog.find((s) => s.text === 'EKF3 IMU0 is using GPS')!;
  assert.ok(armedAt >= ekf.atMs, 'no arming before the EKF uses GPS');
  const ekfS = (ekf.atMs - t0) / 1000;
  assert.ok(ekfS >= 30 && ekfS <= 46, `EKF uses GPS ${ekfS} s after power-on`);
  // The first second is silent (booting): that attempt times out.
  const refused = acks.filter((a) => a.result !== common.MavResult.ACCEPTED && a.result !== undefined);
  assert.ok(refused.length >= 10 && refused.every((a) => a.result === common.MavResult.FAILED), `refusals are FAILED: ${refused.map((a) => a.result).join(',')}`);
  const order = [...new Set(refused.map((a) => a.text))];
  assert.deepEqual(order.filter((t) => t === 'Arm: AHRS: waiting for home' || t === 'Arm: Need Position Estimate'), ['Arm: AHRS: waiting for home', 'Arm: Need Position Estimate'], order.join(' → '));
  // The boot's own texts, in the firmware's order.
  const boot = r.drone.statusLog.map((s) => s.text);
  const at = (t: string) => boot.indexOf(t);
  assert.ok(at('ArduPilot Ready') >= 0 && at('ArduPilot Ready') < at('EKF3 IMU0 initialised') && at('EKF3 IMU0 initialised') < at('EKF3 IMU0 origin set') && at('EKF3 IMU0 origin set') < at('EKF3 IMU0 is using GPS'), boot.join(' | '));
  assert.ok(boot.includes('PreArm: Need Position Estimate'), 'the 30 s pre-arm report');
  assert.deepEqual(statuses.slice(0, 2), [minimal.MavState.BOOT, minimal.MavState.STANDBY]);
  // (0x0400, uninitialised, lasts a second and a half: between two reports at 0.2 Hz.)
  for (const f of [0x00a7, 0x033f]) assert.ok(flags.has(f), `EKF flags 0x${f.toString(16)} seen: ${[...flags].map((x) => x.toString(16))}`);
  assert.ok(v()!.telemetry.homeLatDeg !== undefined, 'HOME_POSITION');
  assert.ok(((v()!.sensors?.health ?? 0) & common.MavSysStatusSensor.PREARM_CHECK) !== 0, 'pre-arm bit healthy once ready');
});

test('GUIDED is taken while disarmed before the EKF is ready (Copter::set_mode ignores the checks disarmed), as the firmware did 8 s after boot', async () => {
  const r = await rig({ copter: { coldStart: true, seed: 3 } });
  await r.fly(8000);
  assert.equal((await r.setMode('GUIDED')).ok, true);
  assert.equal(r.drone.mode, 'GUIDED');
});

test('saved stream groups flood until REQUEST_DATA_STREAM(ALL, stop); the stop is not saved, so they come back after a reboot', async () => {
  const saved = { RAW_SENS: 2, EXT_STAT: 2, RC_CHAN: 2, POSITION: 2, EXTRA1: 2, EXTRA2: 2, EXTRA3: 2 };
  const r = await rig({ askForTelemetry: false, copter: { savedStreams: saved } });
  await r.fly(3000);
  const before = await countDuring(r, 10_000);
  const total = (m: Map<number, number>) => [...m.values()].reduce((a, b) => a + b, 0) / 10;
  // The firmware sent 52 frames/s with every group saved at 2 Hz.
  assert.ok(total(before) > 40, `saved groups at 2 Hz: ${total(before)} frames/s`);
  const stop = new common.RequestDataStream();
  stop.targetSystem = 3;
  stop.targetComponent = 1;
  stop.reqStreamId = common.MavDataStream.ALL;
  stop.startStop = 0;
  r.port.send(stop);
  await r.fly(500);
  const after = await countDuring(r, 10_000);
  assert.ok(total(after) <= 1.2, `after the stop: ${total(after)} frames/s (${[...after.keys()].join(', ')})`);
  // The parameter reads the new rate in memory (as the firmware's did)…
  const param = await r.during(new ParamClient(r.port).read('MAV1_EXT_STAT'));
  assert.ok(param.ok && param.param.value === 0, 'MAV1_EXT_STAT reads 0 after the stop');
  r.drone.reboot();
  await r.fly(3000);
  // …but storage kept the saved one: back after a reboot.
  const rebooted = await countDuring(r, 10_000);
  assert.ok(total(rebooted) > 40, `back after the reboot: ${total(rebooted)} frames/s`);
  const again = await r.during(new ParamClient(r.port).read('MAV1_EXT_STAT'));
  assert.ok(again.ok && again.param.value === 2, 'MAV1_EXT_STAT 2 again after the reboot');
});

test('parameter names: today\'s by default (MAV_SYSID, MAV1_*), the pre-4.7 ones (SYSID_THISMAV, SR1_*) as an option', async () => {
  const legacy = await rig({ copter: { legacyParamNames: true } });
  const list = await legacy.during(new ParamClient(legacy.port).list());
  assert.ok(list.params.has('SYSID_THISMAV') && list.params.has('SR1_POSITION') && list.params.has('ARMING_CHECK'));
  assert.ok(!list.params.has('MAV_SYSID') && !list.params.has('MAV1_POSITION'));
  // An unknown name is not answered: ArduPilot before PARAM_ERROR (4.8) ignores it.
  const absent = await legacy.during(new ParamClient(legacy.port, { timeoutMs: 500, retries: 1 }).read('MAV_SYSID'), 5000);
  assert.equal(!absent.ok && absent.reason, 'timeout');
});

test('reboot: ACCEPTED and silent for a second, the asked intervals forgotten, the boot again; refused while armed', async () => {
  const r = await rig({ askForTelemetry: false });
  await r.fly(3000);
  assert.ok((await r.during(new IntervalClient(r.port).setRate(common.GlobalPositionInt.MSG_ID, 2))).ok);
  const sender = new CommandSender(r.port);
  const ack = await r.during(sender.sendLong({ command: common.MavCmd.PREFLIGHT_REBOOT_SHUTDOWN, params: [1] }));
  assert.ok(ack.ok, 'reboot accepted');
  const silent = await countDuring(r, 700);
  assert.equal(silent.get(minimal.Heartbeat.MSG_ID) ?? 0, 0, 'silent while it boots');
  const after = await countDuring(r, 10_000);
  assert.equal(after.get(common.GlobalPositionInt.MSG_ID) ?? 0, 0, 'the interval was forgotten');
  assert.ok(r.drone.statusLog.some((s) => s.text === 'ArduPilot Ready' && s.atMs > 3000), 'booted again');
  // Armed: refused.
  await r.fly(50_000);
  await r.setMode('GUIDED');
  assert.ok((await r.during(r.actions.arm())).ok);
  const armed = await r.during(sender.sendLong({ command: common.MavCmd.PREFLIGHT_REBOOT_SHUTDOWN, params: [1] }));
  assert.equal(armed.ok, false);
});

/** What the ground station hears from the drone, in order: COMMAND_ACKs and STATUSTEXT chunks. */
function hearAnswers(r: Awaited<ReturnType<typeof rig>>): (string | number)[] {
  const heard: (string | number)[] = [];
  r.gcs.on('message', ({ message, frame }) => {
    if (frame.sysid !== 3) return;
    if (message instanceof common.CommandAck) heard.push(`ACK ${message.command} ${message.result}`);
    if (message instanceof common.StatusText) heard.push(message.text);
  });
  return heard;
}

test('a refused arm: the COMMAND_ACK first, then its "Arm: …" reason (recorded order), which the refusal\'s result carries', async () => {
  const figures = fixtureFigures<MavlinkFigures>('mavlink/arducopter-sitl.tlog');
  // The recording: the refused arm's ACK, then its reasons.
  assert.deepEqual(figures.command_acks.find(([c, res]) => c === 400 && res !== 0), [400, common.MavResult.FAILED]);
  const r = await rig({ copter: { coldStart: true, seed: 7 } });
  await r.fly(5000);
  const heard = hearAnswers(r);
  const res = await r.during(new CommandSender(r.port, { retries: 0 }).sendLong({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [1] }));
  const reason = r.drone.statusLog.filter((s) => s.text.startsWith('Arm:')).at(-1)!.text;
  assert.deepEqual(heard.filter((h) => typeof h === 'string' && (h.startsWith('ACK 400') || h.startsWith('Arm:'))), [`ACK 400 ${common.MavResult.FAILED}`, reason]);
  assert.equal(!res.ok && res.explanation, reason);
});

test('SET_MESSAGE_INTERVAL for an id ArduPilot has no ap_message for (WIND_COV, PARAM_ERROR): DENIED, then the recorded "No ap_message" text', async () => {
  const figures = fixtureFigures<MavlinkFigures>('mavlink/arducopter-sitl.tlog');
  const recorded = figures.statustexts.filter((s) => s.text.startsWith('No ap_message'));
  assert.deepEqual(recorded.map((s) => s.text), ['No ap_message for mavlink id (231)', 'No ap_message for mavlink id (345)', 'No ap_message for mavlink id (345)', 'No ap_message for mavlink id (345)']);
  const r = await rig({ askForTelemetry: false });
  await r.fly(3000);
  const heard = hearAnswers(r);
  const texts: { severity: number; text: string }[] = [];
  r.gcs.on('message', ({ message }) => void (message instanceof common.StatusText && texts.push({ severity: message.severity, text: message.text })));
  for (const id of [common.WindCov.MSG_ID, 345]) {
    const res = await r.during(new IntervalClient(r.port).setRate(id, 0));
    assert.deepEqual(!res.ok && res.reason, 'denied');
  }
  const acks = heard.filter((h) => typeof h === 'string' && h.startsWith(`ACK ${common.MavCmd.SET_MESSAGE_INTERVAL}`));
  assert.deepEqual(acks, [`ACK 511 ${common.MavResult.DENIED}`, `ACK 511 ${common.MavResult.DENIED}`]);
  assert.deepEqual(texts.filter((t) => t.text.startsWith('No ap_message')), [recorded[0], recorded[1]].map((s) => ({ severity: s.severity, text: s.text })));
  // Ids it has (WIND, EKF_STATUS_REPORT) are taken.
  assert.ok((await r.during(new IntervalClient(r.port).setRate(ardupilotmega.Wind.MSG_ID, 0.1))).ok);
});

test('PX4: a refused arm is TEMPORARILY_REJECTED, then "Arming denied: Resolve system health failures first" in the two chunks the recording holds; the failing check was reported before', async () => {
  const figures = fixtureFigures<MavlinkFigures>('mavlink/px4-sitl.tlog');
  const recordedChunks = figures.statustexts.filter((s) => s.text.startsWith('Arming denied') || s.id === figures.statustexts.find((x) => x.text.startsWith('Arming denied'))!.id);
  assert.deepEqual(recordedChunks.map((s) => [s.text, s.chunk_seq]), [['Arming denied: Resolve system health failures firs', 0], ['t\t', 1]]);
  const r = await rig({ px4: true, copter: { coldStart: true, seed: 2 } });
  const chunks: { text: string; id: number; seq: number }[] = [];
  r.gcs.on('message', ({ message }) => void (message instanceof common.StatusText && chunks.push({ text: message.text, id: message.id, seq: message.chunkSeq })));
  await r.fly(12_000);
  assert.ok(chunks.some((c) => c.text.startsWith('Preflight Fail:') && c.text.endsWith('\t')), 'the health report, before any request, with PX4\'s tab');
  const heard = hearAnswers(r);
  const before = chunks.length;
  const res = await r.during(new CommandSender(r.port, { retries: 0 }).sendLong({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [1] }));
  const after = chunks.slice(before, before + 2);
  assert.deepEqual(after.map((c) => [c.text, c.seq]), recordedChunks.map((s) => [s.text, s.chunk_seq]));
  assert.equal(after[0]!.id, after[1]!.id);
  assert.equal(heard[0], `ACK 400 ${common.MavResult.TEMPORARILY_REJECTED}`, 'the ACK first');
  assert.ok(!res.ok && res.explanation?.startsWith('Arming denied: Resolve system health failures first'), !res.ok ? res.explanation : '');
  assert.match(r.vehicles.bySysid(3)!.readiness(r.clock.now()).reason, /^(Preflight Fail|Arming denied)/);
});
