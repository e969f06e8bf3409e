import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { minimal } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { readTlog, tlogInfo, tlogRecord, TlogReplayLink, TlogWriter } from '../../firmware-bridge/tlog.ts';
import { flush, nodePair } from '../helpers/nodes.ts';
import { needReference } from '../helpers/tools.ts';

test('reads the reference VTOL tlog: every record, monotone timestamps, frames that parse', (t) => {
  const path = needReference(t, 'mavlink/vtol.tlog');
  if (!path) return;
  const data = readFileSync(path);
  // Independent count: walk the records by their length bytes.
  let expected = 0;
  for (let at = 0; at + 8 < data.length; expected++) {
    const len = data[at + 9]!;
    const signed = data[at + 8] === 0xfd && (data[at + 10]! & 1) === 1;
    at += 8 + (data[at + 8] === 0xfd ? 12 + len + (signed ? 13 : 0) : 8 + len);
  }
  const stats = { records: 0, skippedBytes: 0, badRecords: 0 };
  let last = 0n;
  let n = 0;
  for (const rec of readTlog(data, stats)) {
    assert.ok(rec.timeUs >= last, 'timestamps do not go back');
    last = rec.timeUs;
    n++;
  }
  assert.equal(n, expected);
  assert.equal(stats.badRecords, 0);
  const info = tlogInfo(data);
  assert.equal(info.records, expected);
  assert.ok(info.durationS > 60, `a real flight (${info.durationS} s)`);
  assert.ok((info.byMessage.get('HEARTBEAT') ?? 0) > 0);
  // Every frame the reader returns is accepted by the live framer too.
  const framer = new Framer(() => {});
  for (const rec of readTlog(data)) framer.push(rec.frame.raw);
  assert.equal(framer.stats.frames, expected);
  assert.equal(framer.stats.badCrc, 0);
});

test('a damaged record costs only itself', () => {
  const hb = new minimal.Heartbeat();
  const recs = [0, 1, 2].map((i) => tlogRecord(1000 + i, encodeFrame(hb, { sysid: 1, compid: 1, seq: i })));
  recs[1]![8 + 6] ^= 0xff; // corrupt the middle frame's sysid: CRC fails
  const stats = { records: 0, skippedBytes: 0, badRecords: 0 };
  const seqs = [...readTlog(Buffer.concat(recs), stats)].map((r) => r.frame.seq);
  assert.deepEqual(seqs, [0, 2]);
  assert.equal(stats.badRecords, 1);
});

test('writer records frames in and out with clock timestamps; reading it back is byte-identical', async () => {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const { a: gcs, b: drone, ca } = await nodePair({ clock });
  const chunks: Buffer[] = [];
  const writer = new TlogWriter(gcs, { write: (c) => void chunks.push(c) });
  writer.start();
  const hb = new minimal.Heartbeat();
  const sentRaw = ca.send(hb, gcs);
  clock.advance(250);
  drone.broadcast(hb);
  await flush();
  writer.stop();
  const recs = [...readTlog(Buffer.concat(chunks))];
  assert.equal(recs.length, 2);
  assert.deepEqual(recs[0]!.frame.raw, sentRaw);
  assert.equal(recs[0]!.timeUs, BigInt(Date.UTC(2026, 5, 1)) * 1000n);
  assert.equal(recs[1]!.timeUs - recs[0]!.timeUs, 250_000n);
  assert.equal(recs[1]!.frame.sysid, 1);
  assert.deepEqual(Buffer.concat(recs.map((r) => tlogRecord(Number(r.timeUs) / 1000, r.frame.raw))), Buffer.concat(chunks));
});

test('replay link plays frames at their recorded offsets divided by the speed', async () => {
  const hb = new minimal.Heartbeat();
  const data = Buffer.concat([0, 1000, 3000].map((ms, i) => tlogRecord(Date.UTC(2020, 0, 1) + ms, encodeFrame(hb, { sysid: 1, compid: 1, seq: i }))));
  const clock = new ManualClock();
  const link = new TlogReplayLink(data, clock, 10);
  const seen: number[] = [];
  link.on('data', () => seen.push(clock.now()));
  const t0 = clock.now();
  await link.start();
  clock.advance(400);
  assert.deepEqual(seen.map((t) => t - t0), [0, 100, 300]);
  await link.done;
  assert.equal(link.played, 3);
  await link.stop();
});
