/**
 * The SiK radio model: rate cap and overflow, latency, bursty loss, bit flips, range, RADIO_STATUS,
 * determinism and blackout, all on a ManualClock.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { decodeFrame, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { sikToDbm } from '../../firmware-bridge/vehicles/link-quality.ts';
import { sikRadio, SIK_COMPID, SIK_SYSID, type SikRadioOptions } from '../../sim/radio.ts';

const LOSSLESS = { pGoodToBad: 0, pBadToGood: 1, lossGood: 0, lossBad: 0 };

interface Rx {
  chunks: { at: number; data: Buffer }[];
  bytes: number;
}

function collect(link: Link, clock: ManualClock): Rx {
  const rx: Rx = { chunks: [], bytes: 0 };
  link.on('data', (data) => {
    rx.chunks.push({ at: clock.now(), data: Buffer.from(data) });
    rx.bytes += data.length;
  });
  return rx;
}

async function rig(opts: Partial<SikRadioOptions> & { drones?: number[] } = {}) {
  const clock = new ManualClock();
  const radio = sikRadio({ clock, seed: 1, radioStatus: false, ...opts });
  const drones = new Map<number, Link>();
  for (const sysid of opts.drones ?? [1]) drones.set(sysid, radio.attach(sysid));
  await radio.ground.start();
  for (const d of drones.values()) await d.start();
  const ground = collect(radio.ground, clock);
  const heard = new Map([...drones].map(([id, l]) => [id, collect(l, clock)] as const));
  return { clock, radio, drones, ground, heard };
}

/** Calls `write` every `everyMs` for `forMs`, advancing the clock. */
function drive(clock: ManualClock, forMs: number, everyMs: number, write: (i: number) => void): void {
  const n = Math.floor(forMs / everyMs);
  for (let i = 0; i < n; i++) {
    write(i);
    clock.advance(everyMs);
  }
}

function numbered(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, 0x55);
  b.writeUInt32LE(i, 0);
  return b;
}

test('throughput is capped at baud/10 bytes per second and overflow is counted', async () => {
  const { clock, radio, drones, heard } = await rig({ loss: LOSSLESS, byteErrorRate: 0 });
  const t0 = clock.now();
  // Offer 20 kB/s for 10 s: far above 57600 baud.
  drive(clock, 10_000, 5, () => radio.ground.write(Buffer.alloc(100, 1)));
  const got = heard.get(1)!.chunks.filter((c) => c.at <= t0 + 10_000).reduce((s, c) => s + c.data.length, 0);
  const rate = got / 10;
  console.log(`throughput: ${rate} B/s one way, overflow ${radio.stats.bytesDroppedOverflow} B of ${radio.stats.bytesOffered}`);
  assert.ok(Math.abs(rate - 5760) / 5760 < 0.05, `delivered ${rate} B/s`);
  assert.equal(radio.stats.bytesOffered, 200_000);
  assert.ok(radio.stats.bytesDroppedOverflow > 200_000 - 57_600 - 4096 - 100, `overflow ${radio.stats.bytesDroppedOverflow}`);
  assert.equal(radio.stats.bytesOffered, radio.stats.bytesDroppedOverflow + radio.stats.bytesOnAir + radio.groundQueued);

  // Both directions at once still share one budget.
  const t1 = clock.now();
  const groundBefore = radio.stats.bytesDelivered;
  const ground = collect(radio.ground, clock);
  const droneHeardBefore = heard.get(1)!.bytes;
  drive(clock, 10_000, 5, () => {
    radio.ground.write(Buffer.alloc(100, 2));
    drones.get(1)!.write(Buffer.alloc(100, 3));
  });
  const up = ground.chunks.filter((c) => c.at <= t1 + 10_000).reduce((s, c) => s + c.data.length, 0);
  const down = heard.get(1)!.chunks.filter((c) => c.at > t1 && c.at <= t1 + 10_000).reduce((s, c) => s + c.data.length, 0);
  const total = (up + down) / 10;
  console.log(`throughput: ${total} B/s both ways (up ${up / 10}, down ${down / 10})`);
  assert.ok(Math.abs(total - 5760) / 5760 < 0.05, `shared ${total} B/s (up ${up / 10}, down ${down / 10})`);
  assert.ok(up > 0.4 * (up + down) && down > 0.4 * (up + down), 'round-robin shares the air');
  assert.ok(radio.stats.bytesDelivered > groundBefore && heard.get(1)!.bytes > droneHeardBefore);
});

test('a small write arrives no earlier than latencyMs', async () => {
  for (const latencyMs of [30, 120]) {
    const { clock, radio, drones, ground, heard } = await rig({ loss: LOSSLESS, byteErrorRate: 0, latencyMs });
    const t0 = clock.now();
    drones.get(1)!.write(Buffer.from('hello'));
    radio.ground.write(Buffer.from('world'));
    clock.advance(latencyMs - 1);
    assert.equal(ground.bytes + heard.get(1)!.bytes, 0);
    clock.advance(20);
    assert.equal(ground.chunks.length, 1);
    assert.equal(heard.get(1)!.chunks.length, 1);
    console.log(`latency ${latencyMs}: arrived after ${ground.chunks[0]!.at - t0} ms / ${heard.get(1)!.chunks[0]!.at - t0} ms`);
    assert.ok(ground.chunks[0]!.at - t0 >= latencyMs);
    assert.ok(heard.get(1)!.chunks[0]!.at - t0 >= latencyMs);
    assert.equal(ground.chunks[0]!.data.toString(), 'hello');
    assert.equal(heard.get(1)!.chunks[0]!.data.toString(), 'world');
  }
});

test('Gilbert–Elliott loss: stationary fraction and bursts', async () => {
  const pGoodToBad = 0.05;
  const pBadToGood = 0.2;
  const { clock, radio, drones, ground } = await rig({ loss: { pGoodToBad, pBadToGood, lossGood: 0, lossBad: 1 }, byteErrorRate: 0, seed: 42 });
  const N = 20_000;
  drive(clock, N * 5, 5, (i) => drones.get(1)!.write(numbered(i, 20)));
  clock.advance(1000);
  const got = new Set<number>();
  for (const c of ground.chunks) for (let o = 0; o < c.data.length; o += 20) got.add(c.data.readUInt32LE(o));
  const lost = N - got.size;
  const fraction = lost / N;
  const stationary = pGoodToBad / (pGoodToBad + pBadToGood);
  let bursts = 0;
  for (let i = 0; i < N; i++) if (!got.has(i) && (i === 0 || got.has(i - 1))) bursts++;
  const meanBurst = lost / bursts;
  console.log(`GE: loss ${(fraction * 100).toFixed(2)} % (stationary ${(stationary * 100).toFixed(1)} %), mean burst ${meanBurst.toFixed(2)} (1/pBG = ${1 / pBadToGood})`);
  assert.ok(Math.abs(fraction - stationary) < 0.03, `loss ${fraction}`);
  assert.ok(meanBurst > 3, `mean burst ${meanBurst}`);
  assert.equal(radio.stats.framesLostBurst, lost);
});

test('default loss is about 1 % and bursty', async () => {
  const { clock, drones, ground } = await rig({ byteErrorRate: 0, seed: 3 });
  const N = 40_000;
  drive(clock, N * 5, 5, (i) => drones.get(1)!.write(numbered(i, 20)));
  clock.advance(1000);
  const got = new Set<number>();
  for (const c of ground.chunks) for (let o = 0; o < c.data.length; o += 20) got.add(c.data.readUInt32LE(o));
  const lost = N - got.size;
  let bursts = 0;
  for (let i = 0; i < N; i++) if (!got.has(i) && (i === 0 || got.has(i - 1))) bursts++;
  console.log(`default: loss ${((100 * lost) / N).toFixed(2)} %, mean burst ${(lost / bursts).toFixed(2)}`);
  assert.ok(lost / N > 0.004 && lost / N < 0.02, `loss ${lost / N}`);
  assert.ok(lost / bursts > 1.2);
});

test('byte corruption flips single bits in about byteErrorRate of the bytes', async () => {
  const { clock, radio, drones, ground } = await rig({ loss: LOSSLESS, byteErrorRate: 1e-3 });
  const N = 6000;
  drive(clock, N * 10, 10, (i) => drones.get(1)!.write(numbered(i, 50)));
  clock.advance(1000);
  // Lossless and in order: the received stream lines up with what was sent, byte for byte.
  const sent = Buffer.concat(Array.from({ length: N }, (_, i) => numbered(i, 50)));
  const got = Buffer.concat(ground.chunks.map((c) => c.data));
  assert.equal(got.length, sent.length);
  const bytes = got.length;
  let flipped = 0;
  for (let k = 0; k < bytes; k++) {
    const diff = got[k]! ^ sent[k]!;
    if (diff === 0) continue;
    flipped++;
    assert.equal(diff & (diff - 1), 0, 'a single bit');
  }
  const rate = flipped / bytes;
  console.log(`corruption: ${flipped} of ${bytes} bytes (${rate.toExponential(2)}), stats ${radio.stats.bytesCorrupted}`);
  assert.ok(rate > 0.7e-3 && rate < 1.3e-3, `rate ${rate}`);
  assert.equal(radio.stats.bytesCorrupted, flipped);
});

test('distance: a drone far beyond range loses nearly everything, a close one almost nothing', async () => {
  const distances = new Map([
    [1, 80],
    [2, 6000],
  ]);
  const { clock, radio, drones, ground, heard } = await rig({ drones: [1, 2], loss: LOSSLESS, byteErrorRate: 0, distanceM: (id) => distances.get(id)! });
  const N = 2000;
  const fromGround = new Map<number, number>();
  ground.chunks.length = 0;
  drive(clock, N * 20, 20, (i) => {
    drones.get(1)!.write(Buffer.concat([Buffer.from([1]), numbered(i, 19)]));
    drones.get(2)!.write(Buffer.concat([Buffer.from([2]), numbered(i, 19)]));
    radio.ground.write(numbered(i, 20));
  });
  clock.advance(1000);
  for (const c of ground.chunks) fromGround.set(c.data[0]!, (fromGround.get(c.data[0]!) ?? 0) + c.data.length / 20);
  const near = (fromGround.get(1) ?? 0) / N;
  const far = (fromGround.get(2) ?? 0) / N;
  const nearDown = heard.get(1)!.bytes / 20 / N;
  const farDown = heard.get(2)!.bytes / 20 / N;
  console.log(`range: near up ${near} down ${nearDown}; far up ${far} down ${farDown}; p(80 m) ${radio.rangeLoss(1).toExponential(1)} p(6 km) ${radio.rangeLoss(2).toFixed(4)}`);
  assert.ok(near > 0.995 && nearDown > 0.995);
  assert.ok(far < 0.01 && farDown < 0.01);
  assert.ok(radio.stats.framesLostRange > 1.98 * N);
  // Smooth in between: half lost at the range, little at half of it, nearly all at double.
  const at = (m: number) => sikRadio({ clock, seed: 1, distanceM: () => m }).rangeLoss(1);
  assert.ok(Math.abs(at(2000) - 0.5) < 1e-9);
  assert.ok(at(1000) < 0.05 && at(1500) < at(1800) && at(1800) < at(2000) && at(4000) > 0.95);
});

test('RADIO_STATUS: ~1 Hz from sysid 51 / compid 68, MAVLink 2, consistent with the channel', async () => {
  const { clock, radio, drones, ground } = await rig({ radioStatus: true, loss: LOSSLESS, byteErrorRate: 0, distanceM: () => 500 });
  const statuses: { frame: Frame; m: common.RadioStatus }[] = [];
  const others: Frame[] = [];
  const framer = new Framer((frame) => {
    if (frame.msgid === common.RadioStatus.MSG_ID) statuses.push({ frame, m: decodeFrame(frame) as common.RadioStatus });
    else others.push(frame);
  });
  radio.ground.on('data', (chunk) => framer.push(chunk));
  // Some telemetry from the drone so the ground radio has packets to measure.
  drive(clock, 10_000, 100, () => drones.get(1)!.write(Buffer.alloc(30, 7)));
  assert.ok(statuses.length >= 9 && statuses.length <= 11, `${statuses.length} statuses`);
  assert.equal(radio.stats.radioStatusSent, statuses.length);
  const rssiDbm = sikToDbm(statuses.at(-1)!.m.rssi);
  const expected = radio.signalDbm(1);
  console.log(`status: rssi ${statuses.at(-1)!.m.rssi} (${rssiDbm.toFixed(1)} dBm, model ${expected.toFixed(1)}), noise ${statuses.at(-1)!.m.noise}, txbuf ${statuses.at(-1)!.m.txbuf}`);
  for (const { frame, m } of statuses) {
    assert.equal(frame.version, 2);
    assert.equal(frame.sysid, SIK_SYSID);
    assert.equal(frame.compid, SIK_COMPID);
    assert.equal(frame.msgid, 109);
    assert.ok(m.rssi > m.noise);
    assert.ok(m.txbuf >= 0 && m.txbuf <= 100);
  }
  assert.ok(Math.abs(rssiDbm - expected) < 3);
  assert.equal(statuses.at(-1)!.m.txbuf, 100);
  assert.equal(statuses.at(-1)!.m.remrssi, 0, 'no ground traffic: nothing heard remotely');
  assert.ok(ground.bytes > 0);

  // The ground floods its radio: txbuf falls; a blackout: rssi drops to the noise floor, rxerrors grow.
  drive(clock, 2000, 5, () => radio.ground.write(Buffer.alloc(100, 1)));
  const busy = statuses.at(-1)!.m;
  assert.ok(busy.txbuf < 20, `txbuf ${busy.txbuf}`);
  assert.ok(busy.remrssi > busy.remnoise);
  radio.setBlackout(true);
  drive(clock, 3000, 100, () => drones.get(1)!.write(Buffer.alloc(30, 7)));
  const dark = statuses.at(-1)!.m;
  assert.equal(dark.rssi, dark.noise);
  assert.ok(dark.rxerrors > 0);
  await radio.ground.stop();
  const n = statuses.length;
  clock.advance(5000);
  assert.equal(statuses.length, n, 'no status once the ground link is stopped');
});

async function scenario(seed: number): Promise<Buffer> {
  const { clock, radio, drones, ground, heard } = await rig({ seed, drones: [1, 2, 3], byteErrorRate: 1e-3, radioStatus: true, loss: { pGoodToBad: 0.02, pBadToGood: 0.3 }, distanceM: (id) => id * 700 });
  drive(clock, 20_000, 7, (i) => {
    const d = drones.get((i % 3) + 1)!;
    d.write(numbered(i, 10 + (i % 40)));
    if (i % 4 === 0) radio.ground.write(numbered(i, 60));
  });
  clock.advance(1000);
  const parts = [ground, ...heard.values()].flatMap((rx) => rx.chunks.flatMap((c) => [Buffer.from(`@${c.at}:`), c.data]));
  return Buffer.concat(parts);
}

test('determinism: the same seed gives byte-identical streams, another seed does not', async () => {
  const a = await scenario(7);
  const b = await scenario(7);
  const c = await scenario(8);
  assert.ok(a.length > 100_000);
  assert.ok(a.equals(b));
  assert.ok(!a.equals(c));
});

test('blackout: nothing arrives while on, traffic resumes after', async () => {
  const { clock, radio, drones, ground, heard } = await rig({ loss: LOSSLESS, byteErrorRate: 0 });
  drones.get(1)!.write(Buffer.from('before'));
  clock.advance(100);
  assert.equal(ground.chunks.length, 1);
  radio.setBlackout(true);
  // A packet already in the air when the blackout starts is lost too.
  radio.ground.write(Buffer.from('in flight'));
  clock.advance(5);
  drive(clock, 2000, 50, () => {
    drones.get(1)!.write(Buffer.from('dark-up'));
    radio.ground.write(Buffer.from('dark-down'));
  });
  assert.equal(ground.chunks.length, 1);
  assert.equal(heard.get(1)!.chunks.length, 0);
  assert.ok(radio.stats.bytesDroppedBlackout >= 40 * 16);
  radio.setBlackout(false);
  drones.get(1)!.write(Buffer.from('after-up'));
  radio.ground.write(Buffer.from('after-down'));
  clock.advance(100);
  assert.equal(ground.chunks.at(-1)!.data.toString(), 'after-up');
  assert.equal(heard.get(1)!.chunks.at(-1)!.data.toString(), 'after-down');
  assert.equal(clock.pending, 0, 'no timers left behind');
});
