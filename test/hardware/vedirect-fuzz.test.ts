/**
 * Fuzzing the VE.Direct parser: random bytes, protocol-flavoured noise and mutated streams of real
 * blocks. Properties: push() never throws; every block it returns is well formed and sums to 0
 * (it re-encodes to exactly its own bytes); after garbage it is back in step by the next block.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { randomInt, seededRandom, type Random } from '../../firmware-bridge/random.ts';
import { VeDirectParser, encodeVeDirectBlock, type VeDirectBlock } from '../../hardware/vedirect.ts';
import { SimMppt } from '../../sim/vedirect.ts';

function assertWellFormed(b: VeDirectBlock): void {
  let sum = 0;
  for (const x of b.raw) sum = (sum + x) & 0xff;
  assert.equal(sum, 0, 'a returned block sums to 0 modulo 256');
  // The fields and the checksum byte say everything the block's bytes say.
  assert.deepEqual(encodeVeDirectBlock(b.fields), b.raw, 'a returned block re-encodes to its own bytes');
  for (const [label, value] of b.fields) {
    assert.ok(label.length > 0 && !/[\r\n\t:]/.test(label) && !/[\r\n\t:]/.test(value), `field ${JSON.stringify([label, value])}`);
  }
}

/** Noise made of the protocol's own pieces, which reaches deeper states than uniform bytes. */
function flavoured(random: Random, n: number): Buffer {
  const pieces = ['\r\n', '\t', ':', 'Checksum\t', 'V\t', 'PPV\t', '12', 'A0', '\n', '\r', 'CS'];
  const parts: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const p = random() < 0.5 ? Buffer.from(pieces[randomInt(random, pieces.length)]!, 'latin1') : Buffer.of(randomInt(random, 256));
    parts.push(p);
    len += p.length;
  }
  return Buffer.concat(parts);
}

/** A day of blocks from the simulated charge controller. */
function simulatedBlocks(count: number): Buffer[] {
  const clock = new ManualClock(Date.parse('2026-06-21T04:00:00Z'));
  const blocks: Buffer[] = [];
  const mppt = new SimMppt({ clock, irradiance: () => Math.max(0, 900 * Math.sin(((clock.now() / 3600_000 - 4) / 16) * Math.PI)), hexEvery: 7 }, (d) => blocks.push(d));
  for (let i = 0; i < count; i++) {
    clock.advance(60_000);
    mppt.tick();
  }
  return blocks;
}

test('random and protocol-flavoured noise: never throws, returns only well-formed blocks', () => {
  const random = seededRandom(2026);
  const parser = new VeDirectParser();
  let returned = 0;
  for (let i = 0; i < 3000; i++) {
    const chunk = i % 2 === 0 ? Buffer.from(Array.from({ length: randomInt(random, 300) }, () => randomInt(random, 256))) : flavoured(random, randomInt(random, 300));
    for (const b of parser.push(chunk)) {
      assertWellFormed(b);
      returned++;
    }
  }
  const s = parser.stats;
  assert.ok(s.badBlocks + s.skippedBytes + s.overruns > 0, 'the noise was seen and dropped');
  // Whatever passed is a genuine (if accidental) block: checked above field by field.
  assert.equal(s.blocks, returned);
});

test('mutated streams of real blocks: well-formed output only, and back in step after every burst of garbage', () => {
  const random = seededRandom(8);
  const originals = simulatedBlocks(1440);
  // Each original block as the parser returns it on its own (without the HEX frame behind some).
  const known = new Set(originals.map((b) => new VeDirectParser().push(b)[0]!.raw.toString('latin1')));
  const parser = new VeDirectParser();
  let mutated = 0;
  let forged = 0;
  /** Indices of clean blocks that follow a clean block (they must all come out). */
  let mustArrive = 0;
  let arrivedOfThose = 0;
  let previousClean = true;
  for (const original of originals) {
    let b = Buffer.from(original);
    const roll = random();
    if (roll < 0.1) {
      // Bit flips.
      for (let k = 0; k < 1 + randomInt(random, 3); k++) b[randomInt(random, b.length)]! ^= 1 << randomInt(random, 8);
    } else if (roll < 0.15) {
      b = Buffer.concat([b.subarray(0, randomInt(random, b.length)), b.subarray(randomInt(random, b.length))]);
    } else if (roll < 0.25) {
      // A burst of garbage in front of the block (a cable plugged in, another baud rate).
      b = Buffer.concat([flavoured(random, 1 + randomInt(random, 2000)), b]);
    }
    const clean = b.equals(original);
    if (!clean) mutated++;
    // Feed in random pieces.
    const out: VeDirectBlock[] = [];
    for (let i = 0; i < b.length; ) {
      const n = 1 + randomInt(random, 40);
      out.push(...parser.push(b.subarray(i, i + n)));
      i += n;
    }
    for (const x of out) {
      assertWellFormed(x);
      if (!known.has(x.raw.toString('latin1'))) forged++;
    }
    if (clean && previousClean) {
      mustArrive++;
      if (out.some((x) => original.toString('latin1').startsWith(x.raw.toString('latin1')))) arrivedOfThose++;
    }
    previousClean = clean;
  }
  assert.ok(mutated > 300, `${mutated} blocks mutated`);
  assert.equal(arrivedOfThose, mustArrive, 'every clean block behind a clean block is returned: the parser resynchronises');
  // The protocol's checksum is a sum modulo 256: two flips of the same bit in opposite directions
  // cancel, and if the bytes stay printable ASCII no parser can tell. Printable-only fields and no
  // repeated labels catch the rest; what is left is rare (several flips per block are far harsher
  // than a real cable, where two errors in one 200-byte block almost never happen).
  assert.ok(forged <= mutated / 50, `${forged} accidental blocks out of ${mutated} mutated`);
  assert.ok(parser.stats.badBlocks >= mutated / 2, `bad blocks counted (${parser.stats.badBlocks})`);
});
