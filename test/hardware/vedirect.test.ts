import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isCodedError } from '../../firmware-bridge/errors.ts';
import { seededRandom } from '../../firmware-bridge/random.ts';
import { VeDirectParser, bmvReading, encodeVeDirectBlock, mpptReading, vedirectUrl, type VeDirectBlock } from '../../hardware/vedirect.ts';
import { fixtureFigures, fixturePath, type VeDirectFigures } from '../helpers/fixtures.ts';
import { needReference } from '../helpers/tools.ts';

/** Parses a whole buffer fed in chunks of random sizes (1..max bytes). */
function parseChunked(buf: Buffer, seed: number, max = 64): { blocks: VeDirectBlock[]; parser: VeDirectParser } {
  const parser = new VeDirectParser();
  const random = seededRandom(seed);
  const blocks: VeDirectBlock[] = [];
  for (let i = 0; i < buf.length; ) {
    const n = 1 + Math.floor(random() * max);
    blocks.push(...parser.push(buf.subarray(i, i + n)));
    i += n;
  }
  return { blocks, parser };
}

/** How many Checksum fields a recording holds (independent of the parser). */
function checksumFields(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf('\r\nChecksum\t'); i >= 0; i = buf.indexOf('\r\nChecksum\t', i + 1)) n++;
  return n;
}

const field = (b: VeDirectBlock, label: string) => b.fields.find(([l]) => l === label)?.[1];

/** The good blocks as the independent frame handler hashed them: "label=value" lines, a blank line between blocks. */
const blocksDigest = (blocks: VeDirectBlock[]) =>
  createHash('sha256')
    .update(blocks.map((b) => b.fields.map(([l, v]) => `${l}=${v}`).join('\n')).join('\n\n'), 'latin1')
    .digest('hex');

/** Consecutive distinct values of a field over the blocks that carry it. */
function changes(blocks: VeDirectBlock[], label: string): string[] {
  const seq: string[] = [];
  for (const b of blocks) {
    const v = field(b, label);
    if (v !== undefined && seq.at(-1) !== v) seq.push(v);
  }
  return seq;
}

for (const rel of ['vedirect/sim-mppt.dump', 'vedirect/sim-bmv.dump']) {
  test(`${rel}: the blocks the protocol document's frame handler finds good, bad ones counted, whatever the chunking`, () => {
    const figures = fixtureFigures<VeDirectFigures>(rel);
    const buf = readFileSync(fixturePath(rel));
    assert.equal(checksumFields(buf), figures.checksum_fields);
    const parser = new VeDirectParser();
    const blocks = parser.push(buf);
    assert.equal(blocks.length, figures.good_blocks);
    assert.equal(blocksDigest(blocks), figures.good_blocks_sha256, 'the same blocks, field for field');
    assert.deepEqual(blocks[0]!.fields, figures.first_good_block);
    assert.deepEqual(blocks.at(-1)!.fields, figures.last_good_block);
    // The frame handler counts the block a dump opens inside as bad; the parser counts it as skipped.
    const openedInside = parser.stats.skippedBytes > 0 ? 1 : 0;
    assert.ok(parser.stats.badBlocks > 0, 'the recording was made over a noisy cable');
    assert.equal(parser.stats.badBlocks + openedInside, figures.bad_blocks);
    assert.equal(parser.stats.hexFrames, figures.hex_frames);
    for (const label of Object.keys(figures.changes)) assert.deepEqual(changes(blocks, label), figures.changes[label], label);
    for (const seed of [1, 2]) assert.equal(blocksDigest(parseChunked(buf, seed, 9).blocks), figures.good_blocks_sha256, `chunked, seed ${seed}`);
  });
}

test('the simulated MPPT recording at dawn: off, then bulk with the tracker on, then absorption, in units', () => {
  const figures = fixtureFigures<VeDirectFigures>('vedirect/sim-mppt.dump');
  const blocks = new VeDirectParser().push(readFileSync(fixturePath('vedirect/sim-mppt.dump')));
  const readings = blocks.map((b) => mpptReading(b, 0));
  assert.ok(readings.every((r) => r !== undefined) && blocks.every((b) => bmvReading(b, 0) === undefined));
  const states = [...new Set(readings.map((r) => r!.stateName))];
  assert.deepEqual(states, ['off', 'bulk', 'absorption']);
  const raw = (b: [string, string][], label: string) => Number(b.find(([l]) => l === label)![1]);
  const first = readings[0]!;
  const f = figures.first_good_block;
  assert.deepEqual([first.batteryV, first.batteryA, first.solarV, first.solarW, first.state], [raw(f, 'V') / 1000, raw(f, 'I') / 1000, raw(f, 'VPV') / 1000, raw(f, 'PPV'), raw(f, 'CS')]);
  const last = readings.at(-1)!;
  const l = figures.last_good_block;
  assert.deepEqual([last.batteryV, last.batteryA, last.solarW, last.trackerName], [raw(l, 'V') / 1000, raw(l, 'I') / 1000, raw(l, 'PPV'), 'voltage or current limited']);
  assert.ok(readings.filter((r) => r!.stateName === 'bulk').every((r) => r!.trackerName === 'MPP tracker active'));
});

test('the simulated BMV recording: main and history block alternate; the low-SOC alarm rises; charging is an infinite time to go', () => {
  const figures = fixtureFigures<VeDirectFigures>('vedirect/sim-bmv.dump');
  const blocks = new VeDirectParser().push(readFileSync(fixturePath('vedirect/sim-bmv.dump')));
  const readings = blocks.map((b) => bmvReading(b, 0));
  assert.equal(readings.filter((r) => r !== undefined).length, figures.blocks_by_first_label.PID);
  assert.ok(blocks.every((b, i) => (readings[i] === undefined) === (b.fields[0]![0] === 'H1')), 'history blocks are no reading');
  assert.ok(blocks.every((b) => mpptReading(b, 0) === undefined));
  const main = readings.filter((r) => r !== undefined);
  const f = new Map(figures.first_good_block);
  assert.deepEqual(main[0], {
    atMs: 0,
    productId: f.get('PID'),
    model: f.get('BMV'),
    firmware: f.get('FW'),
    batteryV: Number(f.get('V')) / 1000,
    batteryA: Number(f.get('I')) / 1000,
    batteryW: Number(f.get('P')),
    consumedAh: Number(f.get('CE')) / 1000,
    soc: Number(f.get('SOC')) / 1000,
    timeToGoMin: Number(f.get('TTG')),
    alarm: false,
    alarmReasons: [],
    relayOn: false,
  });
  assert.deepEqual([...new Set(main.map((r) => r.alarmReasons.join()))], ['', 'low SOC']);
  const last = main.at(-1)!;
  assert.deepEqual([last.batteryA > 0, last.timeToGoMin, last.alarm], [true, null, true]);
});

test('extra, reference BlueSolar MPPT recording (fw 1.23): every block after the first partial one, HEX frames skipped, exact values', (t) => {
  const path = needReference(t, 'vedirect/bluesolar_1.23.dump');
  if (!path) return;
  const buf = readFileSync(path);
  const parser = new VeDirectParser();
  const blocks = parser.push(buf);
  // The recording opens on the last byte of a block (its checksum), so the first block it holds
  // is counted as skipped, not as bad; 248 Checksum fields, 247 whole blocks.
  assert.equal(checksumFields(buf), 248);
  assert.equal(blocks.length, 247);
  assert.deepEqual(parser.stats, { blocks: 247, badBlocks: 0, hexFrames: 7, skippedBytes: 165, overruns: 0 });

  const first = mpptReading(blocks[0]!, 0)!;
  assert.deepEqual(first, {
    atMs: 0,
    productId: '0xA042',
    serial: 'HQ1411MYIKN',
    firmware: '123',
    batteryV: 12.53,
    batteryA: 0.64,
    solarV: 31.39,
    solarW: 8,
    solarA: 8 / 31.39,
    state: 3,
    stateName: 'bulk',
    tracker: undefined,
    trackerName: undefined,
    error: 0,
    errorName: 'no error',
    loadOn: true,
    loadA: 0,
    yieldTotalWh: 82720,
    yieldTodayWh: 0,
    maxPowerTodayW: 11,
    yieldYesterdayWh: 250,
    maxPowerYesterdayW: 119,
    daySequence: 274,
  });
  const last = mpptReading(blocks.at(-1)!, 0)!;
  assert.deepEqual([last.batteryV, last.batteryA, last.solarV, last.solarW], [12.54, 0.5, 29.99, 7]);
  // Fed in random pieces, the same blocks come out.
  const chunked = parseChunked(buf, 7);
  assert.deepEqual(
    chunked.blocks.map((b) => b.raw.toString('hex')),
    blocks.map((b) => b.raw.toString('hex')),
  );
});

test('extra, reference SmartSolar MPPT recording (fw 1.39): 493 blocks at night, the tracker mode field read', (t) => {
  const path = needReference(t, 'vedirect/smartsolar_1.39.dump');
  if (!path) return;
  const buf = readFileSync(path);
  const { blocks, parser } = parseChunked(buf, 3, 8);
  assert.equal(checksumFields(buf), 494, 'the recording opens inside the first block ("ID\\t0xA05F")');
  assert.equal(blocks.length, 493);
  assert.equal(parser.stats.badBlocks, 0);
  assert.equal(parser.stats.hexFrames, 2);
  const r = mpptReading(blocks[0]!, 0)!;
  assert.deepEqual([r.productId, r.serial, r.batteryV, r.batteryA, r.solarV, r.solarW, r.solarA, r.stateName, r.tracker, r.trackerName], ['0xA05F', 'HQ18486U2B4', 12.81, -0.01, 0.01, 0, 0, 'off', 0, 'off']);
  const last = mpptReading(blocks.at(-1)!, 0)!;
  assert.equal(last.batteryV, 12.73);
});

test('extra, reference BMV-702 recording: two alternating blocks a second, none of them an MPPT reading', (t) => {
  const path = needReference(t, 'vedirect/bvm702.dump');
  if (!path) return;
  const buf = readFileSync(path);
  const parser = new VeDirectParser();
  const blocks = parser.push(buf);
  assert.equal(checksumFields(buf), 906);
  assert.equal(blocks.length, 906, 'the recording opens on a block boundary, so its first block counts');
  assert.deepEqual(parser.stats, { blocks: 906, badBlocks: 0, hexFrames: 0, skippedBytes: 0, overruns: 0 });
  assert.deepEqual(blocks[0]!.fields.slice(0, 4), [
    ['PID', '0x203'],
    ['V', '12065'],
    ['I', '-7625'],
    ['P', '-92'],
  ]);
  assert.equal(field(blocks[1]!, 'H6'), '-5526294');
  assert.equal(field(blocks[1]!, 'H18'), '8527');
  assert.ok(blocks.every((b) => mpptReading(b, 0) === undefined));
  assert.equal(blocks.filter((b) => b.fields[0]![0] === 'PID').length, 453);
});

test('extra, reference BMV recording: the battery monitor\'s readings in units, as sent (first and last whole main block), history blocks skipped', (t) => {
  const path = needReference(t, 'vedirect/bvm702.dump');
  if (!path) return;
  const blocks = new VeDirectParser().push(readFileSync(path));
  const readings = blocks.map((b) => bmvReading(b, 0));
  // Main block and history block (H1…H18) alternate: every main block is a reading, no history block is.
  assert.equal(readings.filter((r) => r !== undefined).length, 453);
  assert.ok(blocks.every((b, i) => (readings[i] === undefined) === (b.fields[0]![0] === 'H1')));
  // By hand from the capture: PID 0x203, V 12065, I -7625, P -92, CE -65473, SOC 839, TTG 942,
  // Alarm OFF, Relay OFF, AR 0, BMV 700, FW 0308.
  assert.deepEqual(readings[0], {
    atMs: 0,
    productId: '0x203',
    model: '700',
    firmware: '0308',
    batteryV: 12.065,
    batteryA: -7.625,
    batteryW: -92,
    consumedAh: -65.473,
    soc: 0.839,
    timeToGoMin: 942,
    alarm: false,
    alarmReasons: [],
    relayOn: false,
  });
  // The capture ends inside a main block; the last whole one: V 12169, I -2673, P -33, CE -66033, SOC 837, TTG 3417.
  const last = readings.filter((r) => r !== undefined).at(-1)!;
  assert.deepEqual([last.batteryV, last.batteryA, last.batteryW, last.consumedAh, last.soc, last.timeToGoMin], [12.169, -2.673, -33, -66.033, 0.837, 3417]);
  assert.ok(readings.every((r) => r === undefined || (r.soc! >= 0.837 && r.soc! <= 0.839 && r.batteryA < 0)), 'discharging at 83.7–83.9 % throughout');
});

test('BMV fields the protocol leaves open: "---" while not synchronised, TTG -1 infinite, alarm reasons by bit, no P on a BMV-600', () => {
  const block = (fields: [string, string][]) => new VeDirectParser().push(encodeVeDirectBlock(fields))[0]!;
  const unsynced = bmvReading(block([['PID', '0x204'], ['V', '12800'], ['I', '1500'], ['P', '19'], ['CE', '---'], ['SOC', '---'], ['TTG', '---'], ['Alarm', 'OFF'], ['AR', '0']]), 5)!;
  assert.deepEqual([unsynced.atMs, unsynced.consumedAh, unsynced.soc, unsynced.timeToGoMin], [5, undefined, undefined, undefined]);
  const charging = bmvReading(block([['V', '13600'], ['I', '2000'], ['CE', '0'], ['SOC', '1000'], ['TTG', '-1'], ['Alarm', 'ON'], ['AR', '5'], ['Relay', 'ON']]), 0)!;
  assert.equal(charging.timeToGoMin, null, 'not discharging: infinite');
  assert.equal(charging.soc, 1);
  assert.equal(charging.batteryW, 13.6 * 2, 'no P field: V × I');
  assert.deepEqual([charging.alarm, charging.alarmReasons, charging.relayOn], [true, ['low voltage', 'low SOC'], true]);
  // A charger's block is not a monitor's.
  assert.equal(bmvReading(block([['V', '13100'], ['I', '2500'], ['VPV', '35000'], ['PPV', '33'], ['CS', '3']]), 0), undefined);
});

/** A block whose checksum byte is `want`, made by varying the serial number. */
function blockWithChecksum(want: number): Buffer {
  // Three printable characters (no ':'): their sums span more than 256.
  const chars = Array.from({ length: 94 }, (_, k) => String.fromCharCode(0x21 + k)).filter((c) => c !== ':');
  const pick = (n: number) => chars[Math.floor(n) % chars.length];
  for (let i = 0; i < chars.length ** 3; i++) {
    const b = encodeVeDirectBlock([
      ['PID', '0xA060'],
      ['SER#', `HQ${pick(i)}${pick(i / chars.length)}${pick(i / chars.length ** 2)}`],
      ['V', '13100'],
      ['I', '2500'],
      ['VPV', '35000'],
      ['PPV', '33'],
      ['CS', '3'],
    ]);
    if (b.at(-1) === want) return b;
  }
  throw new Error('no such block');
}

test('checksum bytes that look like CR, LF, TAB or a HEX-frame colon end their block and nothing else', () => {
  const parts = [0x0d, 0x0a, 0x09, 0x3a, 0x00, 0xff].map(blockWithChecksum);
  const stream = Buffer.concat([...parts, ...parts]);
  for (const seed of [1, 2, 3]) {
    const { blocks, parser } = parseChunked(stream, seed, 5);
    assert.equal(blocks.length, 12);
    assert.equal(parser.stats.badBlocks, 0);
    assert.deepEqual(
      blocks.map((b) => b.raw.at(-1)),
      [0x0d, 0x0a, 0x09, 0x3a, 0x00, 0xff, 0x0d, 0x0a, 0x09, 0x3a, 0x00, 0xff],
    );
  }
});

test('HEX frames between blocks, right after a checksum byte and between fields are skipped', () => {
  const a = encodeVeDirectBlock([
    ['V', '12800'],
    ['I', '100'],
  ]);
  const b = encodeVeDirectBlock([
    ['V', '12900'],
    ['I', '200'],
  ]);
  const hex = Buffer.from(':A0102000543\n');
  const cut = b.indexOf('\r\nI');
  const stream = Buffer.concat([a, hex, b.subarray(0, cut), hex, b.subarray(cut), hex, hex]);
  const p = new VeDirectParser();
  const blocks = p.push(stream);
  assert.deepEqual(
    blocks.map((x) => x.raw),
    [a, b],
  );
  assert.equal(p.stats.hexFrames, 4);
});

test('a corrupted block is counted and dropped; the parser is back on the next block', () => {
  const blocks = [1, 2, 3, 4].map((i) => encodeVeDirectBlock([['V', `1280${i}`], ['PPV', String(i)]]));
  const bad = Buffer.from(blocks[1]!);
  bad[5]! ^= 0x04;
  const p = new VeDirectParser();
  const out = p.push(Buffer.concat([blocks[0]!, bad, blocks[2]!, Buffer.from('\x00\xff garbage \t\r'), blocks[3]!, blocks[0]!]));
  assert.deepEqual(
    out.map((b) => field(b, 'PPV')),
    ['1', '3', '1'],
  );
  assert.equal(p.stats.badBlocks, 2, 'the flipped block, and the one behind the garbage');
});

test('a damaged CR before a Checksum field costs only its own block: the LF still starts the next label', () => {
  const blocks = [1, 2, 3].map((i) => encodeVeDirectBlock([['V', `1280${i}`], ['PPV', String(i)]]));
  for (const damage of [0x05, 0x0a, 0x8d]) {
    const bad = Buffer.from(blocks[0]!);
    // The CR that ends the last value ("PPV\t1\r\nChecksum\t…").
    bad[bad.lastIndexOf('\r\nChecksum')] = damage;
    const p = new VeDirectParser();
    const out = p.push(Buffer.concat([bad, blocks[1]!, blocks[2]!]));
    assert.deepEqual(out.map((b) => field(b, 'PPV')), ['2', '3'], `CR damaged to 0x${damage.toString(16)}`);
    assert.equal(p.stats.badBlocks, 1);
  }
});

test('a panel current field (IPV) is used when present; PPV / VPV otherwise', () => {
  const base: [string, string][] = [
    ['V', '13000'],
    ['I', '5000'],
    ['VPV', '32000'],
    ['PPV', '64'],
    ['CS', '3'],
  ];
  const raw = encodeVeDirectBlock(base);
  assert.equal(mpptReading({ fields: base, raw }, 0)!.solarA, 2);
  assert.equal(mpptReading({ fields: [...base, ['IPV', '2100']], raw }, 0)!.solarA, 2.1);
  assert.equal(mpptReading({ fields: [...base.slice(0, 3), ['PPV', 'x'], ['CS', '3']], raw }, 0), undefined, 'a non-numeric power is no reading');
});

test('VE.Direct URLs get 19200 baud unless they name a rate; UDP is refused', () => {
  assert.equal(vedirectUrl('serial:/dev/ttyUSB1'), 'serial:/dev/ttyUSB1?baud=19200');
  assert.equal(vedirectUrl('serial:///dev/ttyUSB1'), 'serial:///dev/ttyUSB1?baud=19200');
  assert.equal(vedirectUrl('serial:/dev/ttyUSB1?baud=9600'), 'serial:/dev/ttyUSB1?baud=9600');
  assert.equal(vedirectUrl('tcp://10.0.0.5:3000'), 'tcp://10.0.0.5:3000');
  assert.throws(() => vedirectUrl('udpin://0.0.0.0:1'), (e) => isCodedError(e, 'CANOPY_ERR_LINK_URL'));
  assert.throws(() => vedirectUrl('serial:/dev/ttyUSB1?baud=12345'), (e) => isCodedError(e, 'CANOPY_ERR_LINK_URL'));
});
