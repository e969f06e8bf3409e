import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { common, minimal } from 'mavlink-mappings';
import { Framer } from '../../../firmware-bridge/protocol/framer.ts';
import { decodeFrame, encodeFrame, frameFromRaw, frameTarget, IFLAG_SIGNED, SIGNATURE_LENGTH, type Frame } from '../../../firmware-bridge/protocol/frame.ts';
import { frameCrc } from '../../../firmware-bridge/protocol/crc.ts';
import { measureRecovery, telemetryPackets } from '../../../harness/bench/streams.ts';
import { AUTOPILOT_TLOGS, countsById, fixtureFigures, fixturePath, tlogFramesByLength, type MavlinkFigures } from '../../helpers/fixtures.ts';
import { needReference } from '../../helpers/tools.ts';

function frames(chunks: Buffer[]): { out: Frame[]; framer: Framer } {
  const out: Frame[] = [];
  const framer = new Framer((f) => out.push({ ...f, raw: Buffer.from(f.raw) }));
  for (const c of chunks) framer.push(c);
  framer.flush();
  return { out, framer };
}

function heartbeat(customMode = 4): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.customMode = customMode;
  hb.mavlinkVersion = 3;
  return hb;
}

/** A SITL session's frames back to back, as one byte stream (cut from the tlog by length alone). */
function sessionStream(rel: string): Buffer {
  return Buffer.concat(tlogFramesByLength(readFileSync(fixturePath(rel))).map((r) => r.raw));
}

/** Ids of each session outside Canopy's dialects (PX4's newer and development messages); ArduCopter 4.8's PARAM_ERROR is in them (protocol/wip.ts). */
const UNKNOWN_IDS: Record<(typeof AUTOPILOT_TLOGS)[number], number[]> = {
  'mavlink/arducopter-sitl.tlog': [],
  'mavlink/px4-sitl.tlog': [8, 290, 291, 380, 410, 411, 441, 514],
};

for (const rel of AUTOPILOT_TLOGS) {
  test(`${rel} as a byte stream: every frame, counted per id as pymavlink counts them, ids outside our dialects passed on`, () => {
    const figures = fixtureFigures<MavlinkFigures>(rel);
    const data = sessionStream(rel);
    const { out, framer } = frames([data]);
    assert.equal(out.length, figures.records);
    assert.deepEqual(Buffer.concat(out.map((f) => f.raw)), data, 'the frames tile the stream');
    assert.deepEqual({ badCrc: framer.stats.badCrc, garbageBytes: framer.stats.garbageBytes }, { badCrc: 0, garbageBytes: 0 });
    const byId: Record<string, number> = {};
    for (const f of out) byId[f.msgid] = (byId[f.msgid] ?? 0) + 1;
    assert.deepEqual(byId, countsById(figures));
    const unknown = out.filter((f) => !f.known);
    assert.equal(framer.stats.unknown, unknown.length);
    assert.deepEqual([...new Set(unknown.map((f) => f.msgid))].sort((a, b) => a - b), UNKNOWN_IDS[rel]);
    for (const f of out) if (f.known) assert.ok(decodeFrame(f), `frame ${f.msgid} decodes`);
  });
}

test('the PX4 session (eight ids outside our dialects) frames the same whatever the chunking', () => {
  const data = sessionStream('mavlink/px4-sitl.tlog');
  const whole = frames([data]).out.map((f) => f.raw.toString('hex'));
  for (const size of [1, 7, 64, 255, 1000]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
    assert.deepEqual(frames(chunks).out.map((f) => f.raw.toString('hex')), whole, `chunk size ${size}`);
  }
});

test('extra, reference ArduPilot capture: every one of the 3,412 packets, the 14 unknown ids passed on', (t) => {
  const path = needReference(t, 'mavlink/mavlink-v2-3412-packets.bin');
  if (!path) return;
  const data = readFileSync(path);
  const { out, framer } = frames([data]);
  assert.equal(out.length, 3412);
  assert.equal(framer.stats.unknown, 14);
  assert.equal(framer.stats.badCrc, 0);
  assert.equal(framer.stats.garbageBytes, 0);
  assert.equal(framer.stats.bytes, data.length);
  // The frames tile the capture exactly.
  assert.deepEqual(Buffer.concat(out.map((f) => f.raw)), data);
  // Every known frame decodes.
  for (const f of out) if (f.known) assert.ok(decodeFrame(f), `frame ${f.msgid} decodes`);
});

test('extra, reference capture: the same frames come out whatever the chunking', (t) => {
  const path = needReference(t, 'mavlink/mavlink-v2-3412-packets.bin');
  if (!path) return;
  const data = readFileSync(path);
  const whole = frames([data]).out.map((f) => f.raw.toString('hex'));
  for (const size of [1, 7, 64, 255, 1000]) {
    const chunks: Buffer[] = [];
    for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size));
    assert.deepEqual(frames(chunks).out.map((f) => f.raw.toString('hex')), whole, `chunk size ${size}`);
  }
});

test('resynchronises after garbage, including garbage full of start markers', () => {
  const a = encodeFrame(heartbeat(4), { sysid: 1, compid: 1, seq: 1 });
  const b = encodeFrame(heartbeat(6), { sysid: 2, compid: 1, seq: 2 });
  const garbage = Buffer.from([0xfd, 0x09, 0x00, 0xfe, 0xfd, 0xff, 0x00, 0x13, 0xfe, 0x22, 0xfd]);
  const { out, framer } = frames([garbage, a, garbage, b]);
  assert.deepEqual(out.map((f) => f.sysid), [1, 2]);
  assert.ok(framer.stats.garbageBytes >= garbage.length * 2 - 1);
});

test('a frame whose CRC does not match is counted and dropped, and the next one survives', () => {
  const bad = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 1 });
  bad[12] ^= 0x40;
  const good = encodeFrame(heartbeat(), { sysid: 3, compid: 1, seq: 2 });
  const { out, framer } = frames([bad, good]);
  assert.deepEqual(out.map((f) => f.sysid), [3]);
  assert.equal(framer.stats.badCrc, 1);
});

test('a real frame hidden behind a false start whose length covers it is still found', () => {
  // False header claims 200 bytes of payload; the frame that follows lies inside that span.
  const falseStart = Buffer.from([0xfd, 200, 0, 0, 0, 1, 1, 0, 0, 0]);
  const good = encodeFrame(heartbeat(), { sysid: 9, compid: 1, seq: 0 });
  const filler = Buffer.alloc(300, 0x55);
  const { out } = frames([falseStart, good, filler]);
  assert.deepEqual(out.map((f) => f.sysid), [9]);
});

test('MAVLink 1 frames are framed and decoded; MAVLink 2 truncated payloads zero-fill', () => {
  const v1 = encodeFrame(heartbeat(5), { sysid: 4, compid: 1, seq: 10, version: 1 });
  assert.equal(v1[0], 0xfe);
  const pos = new common.GlobalPositionInt();
  pos.lat = 123;
  const v2 = encodeFrame(pos, { sysid: 4, compid: 1, seq: 11 });
  assert.ok(v2[1]! < common.GlobalPositionInt.PAYLOAD_LENGTH, 'trailing zeros truncated');
  const { out } = frames([v1, v2]);
  assert.equal(out[0]!.version, 1);
  assert.equal((decodeFrame(out[0]!) as minimal.Heartbeat).customMode, 5);
  const decoded = decodeFrame(out[1]!) as common.GlobalPositionInt;
  assert.equal(decoded.lat, 123);
  assert.equal(decoded.hdg, 0);
});

test('signed frames pass through verbatim with their 13-byte signature', () => {
  const raw = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0, signed: true });
  assert.equal(raw[2]! & IFLAG_SIGNED, IFLAG_SIGNED);
  raw.fill(0xab, raw.length - SIGNATURE_LENGTH);
  const { out } = frames([raw, encodeFrame(heartbeat(), { sysid: 2, compid: 1, seq: 0 })]);
  assert.equal(out.length, 2);
  assert.ok(out[0]!.signed);
  assert.deepEqual(out[0]!.raw, raw);
});

test('unknown message ids are handed on verbatim when the next frame lines up, not when noise follows', () => {
  // msgid 50000 is in no loaded dialect: its CRC cannot be checked.
  const unknown = Buffer.from([0xfd, 3, 0, 0, 7, 1, 1, 0x50, 0xc3, 0x00, 1, 2, 3, 0, 0]);
  unknown.writeUInt16LE(frameCrc(unknown, 1, 13, 0), 13);
  const next = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 8 });
  const { out, framer } = frames([unknown, next]);
  assert.deepEqual(out.map((f) => [f.msgid, f.known]), [[50000, false], [0, true]]);
  assert.deepEqual(out[0]!.raw, unknown);
  assert.equal(framer.stats.unknown, 1);

  const noise = frames([unknown, Buffer.from([0x11, 0x22]), next]);
  assert.deepEqual(noise.out.map((f) => f.msgid), [0]);
});

test('frames with an unknown incompatibility flag are dropped (spec: must not be handled)', () => {
  const raw = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 });
  raw[2] = 0x02;
  raw.writeUInt16LE(frameCrc(raw, 1, raw.length - 2, minimal.Heartbeat.MAGIC_NUMBER), raw.length - 2);
  const { out, framer } = frames([raw]);
  assert.equal(out.length, 0);
  assert.equal(framer.stats.badHeader, 1);
});

test('frameTarget reads target_system/component, zero when truncated or absent', () => {
  const cmd = new common.CommandLong();
  cmd.targetSystem = 7;
  cmd.targetComponent = 1;
  cmd.command = common.MavCmd.COMPONENT_ARM_DISARM;
  assert.deepEqual(frameTarget(frameFromRaw(encodeFrame(cmd, { sysid: 255, compid: 190, seq: 0 }))), { system: 7, component: 1 });
  assert.deepEqual(frameTarget(frameFromRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 }))), { system: 0, component: 0 });
});

test('recovers at least 99 % of the ideal packet count at byte error rates 1e-4, 1e-3, 1e-2', () => {
  const packets = telemetryPackets(25, 16, 3);
  for (const rate of [1e-4, 1e-3, 1e-2]) {
    for (const seed of [1, 2, 3]) {
      const r = measureRecovery(packets, rate, seed);
      if (rate >= 1e-3) assert.ok(r.ideal < packets.length, 'the stream was corrupted');
      assert.ok(r.canopyVsIdeal >= 0.99, `rate ${rate} seed ${seed}: ${r.canopy}/${r.ideal}`);
    }
  }
});

test('a bit flip that forges a long frame does not stall a quiet link: the next good frame is taken as soon as it is whole', () => {
  // A GCS HEARTBEAT once a second, one frame per chunk (what a drone hears from the ground).
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.GCS;
  hb.autopilot = minimal.MavAutopilot.INVALID;
  hb.systemStatus = minimal.MavState.ACTIVE;
  hb.mavlinkVersion = 3;
  const frames = Array.from({ length: 6 }, (_, seq) => encodeFrame(hb, { sysid: 255, compid: 190, seq }));
  // sysid 0xff → 0xfd: an STX inside the header whose "length" byte (the compid, 0xbe) says 190.
  frames[1]![5] = 0xfd;
  const got: number[] = [];
  const framer = new Framer((f) => got.push(f.seq));
  const seenAfterChunk: number[][] = [];
  for (const f of frames) {
    framer.push(f);
    seenAfterChunk.push([...got]);
  }
  assert.deepEqual(seenAfterChunk[2], [0, 2], 'frame 2 is delivered on arrival, not after 190 more bytes');
  assert.deepEqual(got, [0, 2, 3, 4, 5]);
  assert.equal(framer.stats.badCrc, 1);
});

test('a known frame whose payload carries a whole MAVLink frame is not cut short while it arrives in pieces', () => {
  const inner = encodeFrame(new minimal.Heartbeat(), { sysid: 1, compid: 1, seq: 0 });
  const sc = new common.SerialControl();
  sc.device = common.SerialControlDev.DEV_TELEM1;
  sc.count = inner.length;
  sc.data = [...inner, ...Array(70 - inner.length).fill(0)];
  sc.data[69] = 1; // keep the payload from being truncated before the inner frame ends
  const outer = encodeFrame(sc, { sysid: 255, compid: 190, seq: 3 });
  const got: number[] = [];
  const framer = new Framer((f) => got.push(f.msgid));
  const cut = outer.indexOf(inner) + inner.length + 2;
  framer.push(outer.subarray(0, cut));
  assert.deepEqual(got, [], 'still waiting for the rest of SERIAL_CONTROL');
  framer.push(outer.subarray(cut));
  assert.deepEqual(got, [common.SerialControl.MSG_ID], 'the whole frame, not the frame inside it');
});
