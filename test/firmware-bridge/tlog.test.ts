import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { isCodedError } from '../../firmware-bridge/errors.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { Router } from '../../firmware-bridge/router.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { decodeFrame, encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { tlogInfo, TlogReader, tlogRecord, TlogReplayLink, TlogWriter, type TlogRecord } from '../../firmware-bridge/tlog.ts';
import { flush, nodePair } from '../helpers/nodes.ts';
import { AUTOPILOT_TLOGS, countsById, fixtureFigures, fixturePath, tlogFramesByLength, type MavlinkFigures } from '../helpers/fixtures.ts';
import { needReference } from '../helpers/tools.ts';

const T0 = Date.UTC(2026, 5, 1);

function heartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  return hb;
}

/** A MAVLink 2 frame of an id outside the dialects (50000), with some CRC. */
function unknownFrame(seq: number): Buffer {
  const raw = Buffer.from([0xfd, 3, 0, 0, seq, 1, 1, 0x50, 0xc3, 0, 7, 8, 9, 0, 0]);
  raw.writeUInt16LE(frameCrc(raw, 1, 13, 0), 13);
  return raw;
}

/** Record count by walking the length bytes alone (no CRC, no framer): an independent count. */
const countByLength = (data: Buffer): number => tlogFramesByLength(data).length;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-tlog-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

for (const rel of AUTOPILOT_TLOGS) {
  test(`reads ${rel}: every record, its time span, systems and message counts as pymavlink found them`, () => {
    const figures = fixtureFigures<MavlinkFigures>(rel);
    const path = fixturePath(rel);
    const data = readFileSync(path);
    assert.equal(countByLength(data), figures.records);
    const reader = new TlogReader(path);
    const records: TlogRecord[] = [...reader];
    assert.equal(records.length, figures.records);
    assert.deepEqual(reader.stats, { records: figures.records, badRecords: 0, skippedBytes: 0 });
    for (let i = 1; i < records.length; i++) assert.ok(records[i]!.timeUs >= records[i - 1]!.timeUs, `record ${i} goes back in time`);
    assert.equal(Number(records[0]!.timeUs), figures.first_us);
    assert.equal(Number(records.at(-1)!.timeUs), figures.last_us);
    // The reader hands on the same bytes the length walk cuts out.
    assert.deepEqual(records.map((r) => r.frame.raw.toString('hex')), tlogFramesByLength(data).map((r) => r.raw.toString('hex')));

    const info = tlogInfo(data);
    assert.equal(info.records, figures.records);
    assert.equal(info.badRecords, 0);
    assert.equal(info.durationS, (figures.last_us - figures.first_us) / 1e6);
    assert.deepEqual(Object.fromEntries(info.components.map((c) => [`${c.sysid}/${c.compid}`, c.count])), figures.sources);
    const counts = Object.fromEntries([...info.messages, ...info.unknownIds].map((m) => [String(m.id), m.count]));
    assert.deepEqual(counts, countsById(figures));
    // Where both know an id, they give it the same name.
    for (const m of info.messages) if (figures.messages[m.id]) assert.equal(m.name, figures.messages[m.id]!.name);
    // The ground station's side is in the file too: the stream requests and the commands.
    assert.ok(info.messages.some((m) => m.name === 'REQUEST_DATA_STREAM' || m.name === 'COMMAND_LONG'));
  });
}

test('a file larger than one read is read across the chunk boundary without loss', (t) => {
  const data = readFileSync(fixturePath('mavlink/arducopter-sitl.tlog'));
  const copies = Math.ceil((1.5 * 1024 * 1024) / data.length);
  const many = join(tempDir(t), 'many.tlog');
  writeFileSync(many, Buffer.concat(Array(copies).fill(data))); // records straddle the 1 MiB read
  const reader = new TlogReader(many);
  let n = 0;
  for (const _ of reader) n++;
  assert.equal(n, copies * fixtureFigures<MavlinkFigures>('mavlink/arducopter-sitl.tlog').records);
  assert.equal(reader.stats.badRecords, 0);
});

test('extra, reference VTOL tlog: every record, from a Buffer or a file, and every frame decodes', (t) => {
  const path = needReference(t, 'mavlink/vtol.tlog');
  if (!path) return;
  const data = readFileSync(path);
  const expected = countByLength(data);
  assert.equal(expected, 23_894);
  const reader = new TlogReader(data);
  const records: TlogRecord[] = [...reader];
  assert.equal(records.length, expected);
  assert.deepEqual(reader.stats, { records: expected, badRecords: 0, skippedBytes: 0 });
  for (let i = 1; i < records.length; i++) assert.ok(records[i]!.timeUs >= records[i - 1]!.timeUs, `record ${i} goes back in time`);
  let decoded = 0;
  for (const { frame } of records) if (frame.known && decodeFrame(frame)) decoded++;
  assert.equal(decoded, expected, 'every frame is of a known id and decodes');
  // The live framer accepts every frame the reader returns.
  const framer = new Framer(() => {});
  for (const { frame } of records) framer.push(frame.raw);
  assert.equal(framer.stats.frames, expected);

  const fromFile = [...new TlogReader(path)];
  assert.equal(fromFile.length, expected);
  assert.deepEqual(fromFile.at(-1)!.frame.raw, records.at(-1)!.frame.raw);

  const info = tlogInfo(path);
  assert.equal(info.records, expected);
  assert.equal(info.badRecords, 0);
  assert.ok(Math.abs(info.durationS - 207.608) < 0.001, `duration ${info.durationS}`);
  assert.deepEqual(info.components, [{ sysid: 1, compid: 1, count: expected }]);
  assert.deepEqual(info.unknownIds, []);
  assert.equal(info.messages.reduce((n, m) => n + m.count, 0), expected);
  assert.deepEqual(info.messages[0], { id: common.ParamValue.MSG_ID, name: 'PARAM_VALUE', count: 1147 });
  assert.ok(info.messages.some((m) => m.name === 'HEARTBEAT' && m.count > 100));
});

test('extra, reference VTOL tlog: twice the file is read across the chunk boundary without loss', (t) => {
  const path = needReference(t, 'mavlink/vtol.tlog');
  if (!path) return;
  const data = readFileSync(path);
  const twice = join(tempDir(t), 'twice.tlog');
  writeFileSync(twice, Buffer.concat([data, data])); // 1.9 MB: records straddle the 1 MiB read
  const reader = new TlogReader(twice);
  let n = 0;
  for (const _ of reader) n++;
  assert.equal(n, 2 * 23_894);
  assert.equal(reader.stats.badRecords, 0);
});

test('damage costs only the records it touches; unknown ids need the next record to line up', () => {
  const hb = heartbeat();
  const good = (i: number) => tlogRecord(T0 + i, encodeFrame(hb, { sysid: 1, compid: 1, seq: i }));
  // An unknown-id record between two good ones is a record.
  const withUnknown = [...new TlogReader(Buffer.concat([good(0), tlogRecord(T0 + 1, unknownFrame(1)), good(2)]))];
  assert.deepEqual(withUnknown.map((r) => [r.frame.seq, r.frame.known]), [[0, true], [1, false], [2, true]]);

  // A corrupted frame (CRC fails), then garbage that looks like a timestamp and an unknown-id
  // frame but is not followed by a record, then a record cut short at the end of the file.
  const corrupted = good(1);
  corrupted[8 + 6] ^= 0xff;
  const fakeUnknown = Buffer.concat([Buffer.alloc(8, 0x11), unknownFrame(9), Buffer.from([1, 2, 3, 4, 5])]);
  const truncated = good(4).subarray(0, 15);
  const data = Buffer.concat([good(0), corrupted, good(2), fakeUnknown, good(3), truncated]);
  const reader = new TlogReader(data);
  assert.deepEqual([...reader].map((r) => r.frame.seq), [0, 2, 3]);
  assert.deepEqual(reader.stats, { records: 3, badRecords: 3, skippedBytes: corrupted.length + fakeUnknown.length + truncated.length });
  const info = tlogInfo(data);
  assert.equal(info.badRecords, 3);
  assert.deepEqual(info.unknownIds, []);
});

test('a missing file is a clear error', () => {
  assert.throws(
    () => [...new TlogReader('/nonexistent/flight.tlog')],
    (err) => isCodedError(err, 'CANOPY_ERR_TLOG') && /cannot read \/nonexistent\/flight.tlog/.test(err.message),
  );
});

test('the writer records frames in and out with clock timestamps, and forwarded copies once', async () => {
  const clock = new ManualClock(T0);
  const canopy = new MavlinkNode({ clock, heartbeatHz: 0 });
  const [toDrone, drone] = createMemoryPair('canopy-drone', 'drone');
  const [toGcs, gcs] = createMemoryPair('canopy-gcs', 'gcs');
  const droneChannel = canopy.addLink(toDrone);
  canopy.addLink(toGcs);
  for (const l of [toDrone, drone, toGcs, gcs]) await l.start();
  const router = new Router(canopy);
  router.start();
  const chunks: Buffer[] = [];
  const writer = new TlogWriter(canopy, { write: (c) => void chunks.push(c) });
  writer.start();

  const own = droneChannel.send(heartbeat(), canopy);
  clock.advance(250);
  const fromDrone = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 });
  drone.write(fromDrone);
  await flush();
  assert.equal(router.stats.forwarded, 1, 'the drone heartbeat went on to the GCS');
  await writer.stop();
  canopy.broadcast(heartbeat()); // after stop: not recorded

  const recs = [...new TlogReader(Buffer.concat(chunks))];
  assert.deepEqual(recs.map((r) => r.frame.raw), [own, fromDrone]);
  assert.deepEqual(recs.map((r) => r.timeUs), [BigInt(T0) * 1000n, BigInt(T0 + 250) * 1000n]);
  assert.equal(writer.records, 2);
  // Re-encoding what was read gives the same bytes.
  assert.deepEqual(Buffer.concat(recs.map((r) => tlogRecord(Number(r.timeUs) / 1000, r.frame.raw))), Buffer.concat(chunks));
});

test('the writer appends to a file, and a path it cannot open is a clear error at start', async (t) => {
  const dir = tempDir(t);
  const clock = new ManualClock(T0);
  const { a: gcs, b: drone, ca } = await nodePair({ clock });
  const path = join(dir, 'flight.tlog');
  const written: Buffer[] = [];
  for (let session = 0; session < 2; session++) {
    const writer = new TlogWriter(gcs, path);
    writer.start();
    written.push(ca.send(heartbeat(), gcs));
    drone.broadcast(heartbeat());
    await flush();
    await writer.stop();
  }
  const recs = [...new TlogReader(path)];
  assert.equal(recs.length, 4, 'the second session appended');
  assert.deepEqual(recs[0]!.frame.raw, written[0]);
  assert.deepEqual(recs[2]!.frame.raw, written[1]);
  assert.throws(() => new TlogWriter(gcs, join(dir, 'no', 'such', 'dir.tlog')).start(), (err) => isCodedError(err, 'CANOPY_ERR_TLOG'));
});

test('the replay link plays records at their recorded offsets divided by the speed', async () => {
  const hb = heartbeat();
  const data = Buffer.concat([0, 1000, 3000].map((ms, i) => tlogRecord(Date.UTC(2020, 0, 1) + ms, encodeFrame(hb, { sysid: 1, compid: 1, seq: i }))));
  const clock = new ManualClock();
  const link = new TlogReplayLink(data, clock, 10);
  const seen: [number, number][] = [];
  link.on('data', (chunk) => seen.push([clock.now() - t0, chunk[4]!]));
  const t0 = clock.now();
  await link.start();
  assert.equal(link.total, 3);
  clock.advance(0);
  assert.deepEqual(seen, [[0, 0]]);
  clock.advance(99);
  assert.equal(seen.length, 1, 'not early');
  clock.advance(1);
  clock.advance(250);
  assert.deepEqual(seen, [[0, 0], [100, 1], [300, 2]]);
  await link.done;
  assert.equal(link.played, 3);
  await link.stop();
  assert.equal(clock.pending, 0);
});

test('a node fed by a replay link sees the flight; stopping mid-way ends the replay', async () => {
  const clock = new ManualClock();
  const node = new MavlinkNode({ clock, heartbeatHz: 0 });
  const link = new TlogReplayLink(fixturePath('mavlink/arducopter-sitl.tlog'), clock, 1);
  node.addLink(link);
  let heartbeats = 0;
  node.on('message', (m) => void (m.frame.msgid === 0 && m.frame.sysid === 1 && heartbeats++));
  await link.start();
  clock.advance(10_000); // ten seconds of the session: the autopilot's HEARTBEAT at 1 Hz
  assert.ok(heartbeats >= 9 && heartbeats <= 12, `${heartbeats} heartbeats in 10 s`);
  assert.ok(link.played > 0 && link.played < link.total);
  await link.stop();
  await link.done;
  assert.equal(clock.pending, 0);
  assert.equal(link.isUp, false);
});

test('extra, reference VTOL tlog: a node fed by a replay link sees the flight', async (t) => {
  const path = needReference(t, 'mavlink/vtol.tlog');
  if (!path) return;
  const clock = new ManualClock();
  const node = new MavlinkNode({ clock, heartbeatHz: 0 });
  const link = new TlogReplayLink(path, clock, 1);
  node.addLink(link);
  let heartbeats = 0;
  node.on('message', (m) => void (m.frame.msgid === 0 && heartbeats++));
  await link.start();
  clock.advance(10_000);
  assert.ok(heartbeats >= 9 && heartbeats <= 12, `${heartbeats} heartbeats in 10 s`);
  await link.stop();
  await link.done;
  assert.equal(clock.pending, 0);
});

test('speed 0 plays everything as fast as it is taken; a bad speed is refused', async () => {
  const hb = heartbeat();
  const data = Buffer.concat(Array.from({ length: 600 }, (_, i) => tlogRecord(T0 + i * 1000, encodeFrame(hb, { sysid: 1, compid: 1, seq: i & 0xff }))));
  const clock = new ManualClock();
  const link = new TlogReplayLink(data, clock, 0);
  let n = 0;
  link.on('data', () => n++);
  await link.start();
  clock.advance(0);
  assert.equal(n, 600, 'no simulated time needed');
  await link.done;
  assert.throws(() => new TlogReplayLink(data, clock, -1), /replay speed/);
  assert.throws(() => new TlogReplayLink(data, clock, Number.NaN), /replay speed/);
});
