import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ardupilotmega, common, minimal } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { InjectedLink } from '../../../harness/bench/pipeline.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { SequenceTracker, VehicleManager, decodeMode, encodeMode, sikToDbm, type Vehicle } from '../../../firmware-bridge/vehicles/index.ts';
import { flush, nodePair } from '../../helpers/nodes.ts';
import { TlogReplayLink } from '../../../firmware-bridge/tlog.ts';
import { fixtureFigures, fixturePath, type MavlinkFigures } from '../../helpers/fixtures.ts';
import { needReference } from '../../helpers/tools.ts';

const { ARDUPILOTMEGA, PX4 } = minimal.MavAutopilot;

function heartbeat(opts: { customMode?: number; armed?: boolean; type?: minimal.MavType; autopilot?: minimal.MavAutopilot } = {}): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = opts.type ?? minimal.MavType.QUADROTOR;
  hb.autopilot = opts.autopilot ?? ARDUPILOTMEGA;
  hb.baseMode = (minimal.MavModeFlag.CUSTOM_MODE_ENABLED | (opts.armed ? minimal.MavModeFlag.SAFETY_ARMED : 0)) as minimal.MavModeFlag;
  hb.customMode = opts.customMode ?? 0;
  hb.systemStatus = minimal.MavState.STANDBY;
  hb.mavlinkVersion = 3;
  return hb;
}

test('ArduCopter modes decode and encode with ArduCopter numbers', () => {
  for (const [name, n] of [['STABILIZE', 0], ['AUTO', 3], ['GUIDED', 4], ['LOITER', 5], ['RTL', 6], ['LAND', 9]] as const) {
    assert.equal(decodeMode(ARDUPILOTMEGA, n), name);
    assert.deepEqual(encodeMode(ARDUPILOTMEGA, name), { baseMode: minimal.MavModeFlag.CUSTOM_MODE_ENABLED, customMode: n });
  }
  assert.equal(decodeMode(ARDUPILOTMEGA, 99), 'UNKNOWN(99)');
  assert.throws(() => encodeMode(ARDUPILOTMEGA, 'OFFBOARD'), /ArduCopter has no mode "OFFBOARD"; known: STABILIZE/);
});

test('PX4 modes: main mode in bits 16-23, auto sub mode in bits 24-31; generic names map onto PX4 ones', () => {
  const mission = (4 << 16) | (4 << 24);
  assert.equal(decodeMode(PX4, mission), 'AUTO.MISSION');
  assert.equal(decodeMode(PX4, 6 << 16), 'OFFBOARD');
  assert.equal(decodeMode(PX4, 3 << 16), 'POSCTL');
  assert.equal(encodeMode(PX4, 'AUTO.MISSION').customMode, mission >>> 0);
  assert.equal(encodeMode(PX4, 'AUTO').customMode, mission >>> 0);
  assert.equal(encodeMode(PX4, 'RTL').customMode, ((4 << 16) | (5 << 24)) >>> 0);
  assert.equal(encodeMode(PX4, 'LAND').customMode, ((4 << 16) | (6 << 24)) >>> 0);
  assert.equal(encodeMode(PX4, 'POSCTL').customMode, 3 << 16);
  assert.throws(() => encodeMode(PX4, 'POSCTL.LAND'), /PX4 has no mode "POSCTL.LAND"/);
  assert.throws(() => encodeMode(PX4, 'FLIP'), /PX4 has no mode "FLIP"/);
  // Round trip for every name encodeMode accepts.
  for (const name of ['MANUAL', 'ALTCTL', 'POSCTL', 'OFFBOARD', 'STABILIZED', 'AUTO.TAKEOFF', 'AUTO.LOITER', 'AUTO.RTL', 'AUTO.LAND']) {
    assert.equal(decodeMode(PX4, encodeMode(PX4, name).customMode), name);
  }
});

test('sequence loss: gaps count, the 255 → 0 wrap is not a gap', () => {
  const s = new SequenceTracker();
  for (const seq of [250, 251, 252, 253, 254, 255, 0, 1, 2]) s.observe(seq);
  assert.equal(s.lost, 0);
  assert.equal(s.received, 9);
  s.observe(5); // 3 and 4 missing
  assert.equal(s.lost, 2);
  assert.equal(s.received, 10);
  assert.ok(Math.abs(s.lossPct - (100 * 2) / 12) < 1e-9);
  // Across the wrap: 254 → 1 loses 255 and 0.
  const w = new SequenceTracker();
  w.observe(254);
  w.observe(1);
  assert.equal(w.lost, 2);
});

test('sequence loss: a late frame takes its loss back, a duplicate is not counted twice, a restart is not 200 losses', () => {
  const s = new SequenceTracker();
  for (const seq of [10, 11, 13, 14]) s.observe(seq);
  assert.equal(s.lost, 1);
  s.observe(12); // arrives late
  assert.equal(s.lost, 0);
  assert.equal(s.received, 5);
  assert.equal(s.recentLossPct, 0);
  s.observe(12); // and again
  assert.equal(s.duplicates, 1);
  assert.equal(s.received, 5);
  s.observe(14);
  assert.equal(s.duplicates, 2);
  s.observe(100); // 85 lost: a real gap, forward
  assert.equal(s.lost, 85);
  s.observe(0); // 100 behind: the sender restarted
  assert.equal(s.restarts, 1);
  assert.equal(s.lost, 85);
  s.observe(1);
  assert.equal(s.lost, 85);
});

test('sequence loss: recent loss covers the last 100 expected frames', () => {
  const s = new SequenceTracker();
  let seq = 0;
  // 10 % loss for a while, then none: recent loss falls to 0, overall stays > 0.
  for (let i = 0; i < 300; i++) {
    if (i % 10 !== 5) s.observe(seq & 0xff);
    seq++;
  }
  assert.ok(Math.abs(s.recentLossPct - 10) <= 1, `recent ${s.recentLossPct}`);
  for (let i = 0; i < 150; i++) s.observe(seq++ & 0xff);
  assert.equal(s.recentLossPct, 0);
  assert.ok(s.lossPct > 5);
});

test('SiK RSSI converts to dBm', () => {
  assert.equal(sikToDbm(0), -127);
  assert.ok(Math.abs(sikToDbm(190) - -27) < 1e-9);
});

async function managed() {
  const clock = new ManualClock();
  const pair = await nodePair({ clock });
  const manager = new VehicleManager(pair.a, { lostAfterMs: 3000 });
  const events: string[] = [];
  manager.on('vehicle-added', (v) => events.push(`added ${v.key}`));
  manager.on('vehicle-lost', (v) => events.push(`lost ${v.key}`));
  manager.on('vehicle-alive', (v) => events.push(`alive ${v.key}`));
  manager.on('mode-changed', (v) => events.push(`mode ${v.mode}`));
  manager.on('armed-changed', (v) => events.push(`armed ${v.armed}`));
  manager.on('statustext', (_v, e) => events.push(`text ${e.text}`));
  manager.start();
  return { ...pair, clock, manager, events };
}

test('a vehicle is discovered from its HEARTBEAT with autopilot, type, mode and armed state', async () => {
  const { b, cb, manager, events } = await managed();
  b.send(cb, heartbeat({ customMode: 4, armed: true }));
  await flush();
  const [v] = manager.list();
  assert.ok(v);
  assert.equal(v.sysid, 1);
  assert.equal(v.compid, 1);
  assert.equal(v.autopilot, ARDUPILOTMEGA);
  assert.equal(v.type, minimal.MavType.QUADROTOR);
  assert.equal(v.mode, 'GUIDED');
  assert.equal(v.armed, true);
  assert.equal(v.key, `${v.channel.name}/1/1`);
  assert.equal(manager.bySysid(1), v);
  b.send(cb, heartbeat({ customMode: 6, armed: true }));
  b.send(cb, heartbeat({ customMode: 6, armed: false }));
  await flush();
  assert.deepEqual(events, [`added ${v.key}`, 'mode GUIDED', 'armed true', 'mode RTL', 'armed false']);
});

test('GCS heartbeats, non-autopilot components and our own sysid do not make vehicles', async () => {
  const { b, cb, manager } = await managed();
  b.send(cb, heartbeat({ type: minimal.MavType.GCS, autopilot: minimal.MavAutopilot.INVALID }));
  b.send(cb, heartbeat({ type: minimal.MavType.CAMERA, autopilot: minimal.MavAutopilot.INVALID }));
  const sys = new common.SysStatus();
  b.send(cb, sys);
  await flush();
  assert.equal(manager.list().length, 0);
  assert.equal(manager.unknownSenders, 1);
});

test('lost after the timeout without a HEARTBEAT, alive again with the next one', async () => {
  const { clock, b, cb, manager, events } = await managed();
  b.send(cb, heartbeat());
  await flush();
  await clock.advanceAsync(2900);
  assert.equal(manager.list()[0]!.alive, true);
  await clock.advanceAsync(1000);
  assert.equal(manager.list()[0]!.alive, false);
  b.send(cb, heartbeat());
  await flush();
  assert.equal(manager.list()[0]!.alive, true);
  const key = manager.list()[0]!.key;
  assert.deepEqual(events.filter((e) => /lost|alive/.test(e)), [`lost ${key}`, `alive ${key}`]);
});

test('telemetry fills the session in SI units; -1 and 65535 mean "not measured"', async () => {
  const { b, cb, manager } = await managed();
  b.send(cb, heartbeat());
  const pos = new common.GlobalPositionInt();
  pos.lat = -338_600_000;
  pos.lon = 1_512_000_000;
  pos.alt = 120_500;
  pos.relativeAlt = 100_250;
  pos.vx = 150;
  pos.vy = -50;
  pos.vz = -20;
  pos.hdg = 9000;
  const sys = new common.SysStatus();
  sys.voltageBattery = 22_150;
  sys.currentBattery = -1;
  sys.batteryRemaining = 64;
  const gps = new common.GpsRawInt();
  gps.fixType = common.GpsFixType.GPS_FIX_TYPE_3D_FIX;
  gps.satellitesVisible = 14;
  const att = new common.Attitude();
  att.roll = 0.1;
  for (const m of [pos, sys, gps, att]) b.send(cb, m);
  await flush();
  const t = manager.list()[0]!.telemetry;
  assert.equal(t.latDeg, -33.86);
  assert.equal(t.lonDeg, 151.2);
  assert.equal(t.altitudeM, 120.5);
  assert.equal(t.relativeAltitudeM, 100.25);
  assert.equal(t.velocityNorthMs, 1.5);
  assert.equal(t.velocityEastMs, -0.5);
  assert.equal(t.velocityDownMs, -0.2);
  assert.equal(t.headingDeg, 90);
  assert.equal(t.voltageV, 22.15);
  assert.equal(t.currentA, undefined);
  assert.equal(t.remainingPct, 64);
  assert.equal(t.gpsFix, 3);
  assert.equal(t.satellites, 14);
  assert.ok(Math.abs(t.rollRad! - 0.1) < 1e-6);
});

test('wind: ArduPilot\'s WIND (from-direction, speed) and PX4\'s WIND_COV (the air\'s velocity north and east) give the same estimate; NaN is not one', async () => {
  const { b, cb, clock, manager } = await managed();
  b.send(cb, heartbeat());
  const ap = new ardupilotmega.Wind();
  ap.direction = -90; // from the west, as ArduPilot may send it (−180..180)
  ap.speed = 7.5;
  b.send(cb, ap);
  await flush();
  const t = manager.list()[0]!.telemetry;
  assert.equal(t.windSpeedMs, 7.5);
  assert.equal(t.windFromDeg, 270);
  assert.equal(t.windAtMs, clock.now());
  // A westerly blows towards the east: the air moves east at 7.5 m/s.
  await clock.advanceAsync(1000);
  const px4 = new common.WindCov();
  px4.windX = 0;
  px4.windY = 7.5;
  b.send(cb, px4);
  await flush();
  assert.equal(t.windSpeedMs, 7.5);
  assert.ok(Math.abs(t.windFromDeg! - 270) < 1e-9, String(t.windFromDeg));
  assert.equal(t.windAtMs, clock.now());
  const unknown = new common.WindCov();
  unknown.windX = Number.NaN;
  unknown.windY = Number.NaN;
  await clock.advanceAsync(1000);
  b.send(cb, unknown);
  await flush();
  assert.equal(t.windAtMs, clock.now() - 1000, 'an unknown estimate leaves the last one');
});

test('STATUSTEXT: single texts, and chunked ones reassembled by id and chunk_seq', async () => {
  const { b, cb, manager, events } = await managed();
  b.send(cb, heartbeat());
  const text = (s: string, id = 0, chunkSeq = 0) => {
    const m = new common.StatusText();
    m.severity = common.MavSeverity.WARNING;
    m.text = s;
    m.id = id;
    m.chunkSeq = chunkSeq;
    return m;
  };
  const long = 'PreArm: Battery below minimum arming voltage, check BATT_ARM_VOLT and the battery';
  b.send(cb, text('EKF3 IMU0 is using GPS'));
  b.send(cb, text(long.slice(0, 50), 7, 0));
  b.send(cb, text(long.slice(50), 7, 1));
  await flush();
  assert.deepEqual(events.filter((e) => e.startsWith('text')), ['text EKF3 IMU0 is using GPS', `text ${long}`]);
  assert.equal(manager.list()[0]!.statusTexts.length, 2);
  assert.equal(manager.list()[0]!.statusTexts[1]!.severity, common.MavSeverity.WARNING);
});

test('link quality per vehicle: loss from its own sequence gaps, RADIO_STATUS from sysid 51 in dBm', async () => {
  const { a, ca, manager } = await managed();
  // Two vehicles on one radio, injected as raw frames with chosen sequence numbers.
  const { encodeFrame } = await import('../../../firmware-bridge/protocol/frame.ts');
  const deliver = (m: Parameters<typeof encodeFrame>[0], sysid: number, seq: number) => ca.link.emit('data', encodeFrame(m, { sysid, compid: 1, seq }), 'peer');
  for (let seq = 0; seq < 20; seq++) {
    deliver(heartbeat(), 1, seq);
    if (seq % 4 !== 3) deliver(heartbeat(), 2, seq); // vehicle 2 loses every 4th frame
  }
  const radio = new common.RadioStatus();
  radio.rssi = 190;
  radio.remrssi = 171;
  radio.noise = 38;
  radio.remnoise = 19;
  radio.txbuf = 95;
  deliver(radio, 51, 0);
  await flush();
  const v1 = manager.bySysid(1)!;
  const v2 = manager.bySysid(2)!;
  assert.equal(v1.sequence.lost, 0);
  assert.equal(v2.sequence.lost, 4);
  assert.equal(manager.radioOf(ca)?.rssiDbm, -27);
  assert.equal(v2.radio?.remoteRssiDbm, -37);
  assert.equal(v1.radio?.txbufPct, 95);
  assert.equal(manager.list().length, 2, 'the radio is not a vehicle');
  void a;
});

test('extra, the reference capture (a PX4 fixed-wing, despite its "ArduPilot" label) yields one vehicle with decoded state', async (t) => {
  const path = needReference(t, 'mavlink/mavlink-v2-3412-packets.bin');
  if (!path) return;
  const clock = new ManualClock();
  const node = new MavlinkNode({ clock, heartbeatHz: 0 });
  const link = new InjectedLink('capture');
  await link.start();
  node.addLink(link, { name: 'capture' });
  const manager = new VehicleManager(node);
  manager.start();
  link.inject(readFileSync(path));
  const vehicles: Vehicle[] = manager.list();
  assert.equal(vehicles.length, 1);
  const v = vehicles[0]!;
  assert.equal(v.autopilot, PX4);
  assert.equal(v.type, minimal.MavType.FIXED_WING);
  assert.equal(v.mode, 'AUTO.LOITER');
  assert.equal(v.armed, false);
  assert.equal(v.telemetry.gpsFix, 3);
  assert.equal(v.telemetry.satellites, 10);
  assert.equal(v.telemetry.voltageV, 16.2);
  assert.ok(Math.abs(v.telemetry.latDeg! - 37.8328352) < 1e-7);
  // Every frame after the first HEARTBEAT arrives in order, none missing.
  assert.equal(v.sequence.lost, 0);
  assert.equal(v.sequence.duplicates, 0);
  assert.ok(v.sequence.received > 3000, `received ${v.sequence.received}`);
  manager.stop();
});

/** pymavlink's STATUSTEXTs with chunked texts (same non-zero id, MAVLink 2 chunk_seq) joined, as a receiver should, without the tab PX4 ends them with. */
function joinedStatusTexts(f: MavlinkFigures): { severity: number; text: string }[] {
  const out: { severity: number; text: string; id: number }[] = [];
  for (const s of f.statustexts) {
    const prev = out.at(-1);
    if (s.id !== 0 && s.chunk_seq > 0 && prev?.id === s.id) prev.text += s.text;
    else out.push({ severity: s.severity, text: s.text, id: s.id });
  }
  return out.map(({ severity, text }) => ({ severity, text: text.trimEnd() }));
}

/** Replays a SITL session into a VehicleManager at recorded speed, noting what a ground station would see. */
async function replaySession(rel: string) {
  const clock = new ManualClock();
  const node = new MavlinkNode({ clock, heartbeatHz: 0 });
  const link = new TlogReplayLink(fixturePath(rel), clock, 1);
  node.addLink(link, { name: 'sitl', kind: 'vehicles' });
  const manager = new VehicleManager(node, { lostAfterMs: 5000 });
  manager.start();
  const seen = { modes: [] as { customMode: number; name: string }[], armed: [] as boolean[], texts: [] as { severity: number; text: string }[], lost: 0 };
  // The first HEARTBEAT's mode is a change (from none); the armed flag as the first HEARTBEAT has it, then each change.
  manager.on('mode-changed', (v) => void seen.modes.push({ customMode: v.customMode, name: v.mode }));
  manager.on('vehicle-added', (v) => void manager.once('mode-changed', () => void seen.armed.push(v.armed)));
  manager.on('armed-changed', (v) => void seen.armed.push(v.armed));
  manager.on('statustext', (_v, e) => void seen.texts.push({ severity: e.severity, text: e.text }));
  manager.on('vehicle-lost', () => void seen.lost++);
  // Readiness when the autopilot answers an arming request, and after the text that follows a refusal.
  const armAnswers: { result: number; ready: boolean; reason: string }[] = [];
  const afterRefusal: { text: string; reason: string }[] = [];
  let refused = false;
  node.on('message', ({ message, frame }) => {
    if (!(message instanceof common.CommandAck) || message.command !== common.MavCmd.COMPONENT_ARM_DISARM) return;
    const r = manager.bySysid(frame.sysid)!.readiness(clock.now());
    armAnswers.push({ result: message.result, ...r });
    refused = message.result !== common.MavResult.ACCEPTED;
  });
  manager.on('statustext', (v, e) => {
    if (refused) afterRefusal.push({ text: e.text, reason: v.readiness(clock.now()).reason });
    refused = false;
  });
  await link.start();
  while (link.played < link.total) clock.advance(100);
  await link.done;
  const vehicles = manager.list();
  manager.stop();
  await link.stop();
  return { vehicles, seen, armAnswers, afterRefusal };
}

for (const [rel, family] of [['mavlink/arducopter-sitl.tlog', 'ardupilot'], ['mavlink/px4-sitl.tlog', 'px4']] as const) {
  test(`${rel}: one ${family} vehicle whose modes, arming, texts and position are what pymavlink read`, async () => {
    const figures = fixtureFigures<MavlinkFigures>(rel);
    const { vehicles, seen, armAnswers, afterRefusal } = await replaySession(rel);
    assert.equal(vehicles.length, 1, 'the ground station’s own frames are no vehicle');
    const v = vehicles[0]!;
    assert.deepEqual([v.sysid, v.autopilot, v.type], [figures.vehicle.sysid, figures.vehicle.autopilot, figures.vehicle.type]);
    assert.equal(v.flavour.family, family);
    assert.deepEqual(seen.modes.map((m) => m.customMode), figures.modes.map((m) => m.custom_mode));
    // pymavlink names PX4's modes without the main mode ("LOITER" for AUTO.LOITER).
    seen.modes.forEach((m, i) => assert.ok(m.name === figures.modes[i]!.name || m.name.endsWith(`.${figures.modes[i]!.name}`), `${m.name} is pymavlink's ${figures.modes[i]!.name}`));
    assert.deepEqual(seen.armed, figures.armed);
    assert.deepEqual(seen.texts, joinedStatusTexts(figures));
    assert.equal(seen.lost, 0);
    const pos = figures.last_global_position_int;
    assert.equal(v.telemetry.latDeg, pos.lat / 1e7);
    assert.equal(v.telemetry.lonDeg, pos.lon / 1e7);
    assert.equal(v.telemetry.relativeAltitudeM, pos.relative_alt / 1000);
    assert.equal(v.sequence.lost, 0, 'a loopback link loses nothing');
    assert.equal(v.sequence.duplicates, 0);

    // The session: an arming request refused while the autopilot warmed up, then one accepted
    // once Canopy saw the vehicle ready (the answers as in pymavlink's figures).
    const acks = figures.command_acks.filter(([cmd]) => cmd === common.MavCmd.COMPONENT_ARM_DISARM).map(([, result]) => result);
    assert.deepEqual(armAnswers.map((a) => a.result), acks);
    assert.deepEqual(acks, [family === 'px4' ? common.MavResult.TEMPORARILY_REJECTED : common.MavResult.FAILED, common.MavResult.ACCEPTED]);
    assert.equal(armAnswers[0]!.ready, false);
    assert.deepEqual(armAnswers[1], { result: common.MavResult.ACCEPTED, ready: true, reason: '' });
    // Both autopilots answer before they explain: the COMMAND_ACK comes first, the text saying why
    // right after it (ArduPilot's "Arm: …" from its STATUSTEXT queue). That text is then the reason.
    assert.equal(afterRefusal.length, 1);
    assert.ok(v.flavour.isArmingText(afterRefusal[0]!.text), afterRefusal[0]!.text);
    assert.equal(afterRefusal[0]!.reason, afterRefusal[0]!.text);
  });
}
