/**
 * The store's k-of-n erasure code: the field, the matrix inversion and the parity bytes against the
 * vectors Backblaze JavaReedSolomon and klauspost/reedsolomon publish, then round trips through every
 * k-subset (or a large random sample of them) and the errors a caller can hit.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanopyError } from '../../../common/errors.ts';
import { randomInt, seededRandom, type Random } from '../../../firmware-bridge/random.ts';
import {
  decodeShares,
  encodeShares,
  encodingMatrix,
  gfDivide,
  gfExp,
  gfMultiply,
  invertMatrix,
  MAX_SHARES,
  type Share,
} from '../../../controller/store/erasure.ts';

const bytes = (...v: number[]) => Uint8Array.from(v);
const rows = (m: Uint8Array[] | null) => m?.map((r) => [...r]);

function randomBytes(random: Random, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = randomInt(random, 256);
  return out;
}

function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(random, i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** All k-element subsets of 0..n-1, in lexicographic order. */
function* subsets(n: number, k: number): Generator<number[]> {
  const pick = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield [...pick];
    let i = k - 1;
    while (i >= 0 && pick[i] === n - k + i) i--;
    if (i < 0) return;
    pick[i]!++;
    for (let j = i + 1; j < k; j++) pick[j] = pick[j - 1]! + 1;
  }
}

function throwsShares(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isCanopyError(e, 'CANOPY_ERR_STORE_SHARES'), `expected CANOPY_ERR_STORE_SHARES, got ${String(e)}`);
    assert.match(e.message, message);
    return true;
  });
}

test('GF(2^8) over 0x11D matches the Python prototype answers in Backblaze GaloisTest.testWithPythonAnswers', () => {
  // Backblaze/JavaReedSolomon src/test/java/com/backblaze/erasure/GaloisTest.java
  assert.equal(gfMultiply(3, 4), 12);
  assert.equal(gfMultiply(7, 7), 21);
  assert.equal(gfMultiply(23, 45), 41);
  assert.equal(gfExp(2, 2), 4);
  assert.equal(gfExp(5, 20), 235);
  assert.equal(gfExp(13, 7), 43);
  // ... and it is a field: every non-zero element has an inverse, multiplication commutes and
  // distributes over XOR (checked exhaustively on a, b and a sample of c).
  for (let a = 1; a < 256; a++) assert.equal(gfMultiply(a, gfDivide(1, a)), 1, `inverse of ${a}`);
  for (let a = 0; a < 256; a++) {
    for (let b = 0; b < 256; b++) {
      assert.equal(gfMultiply(a, b), gfMultiply(b, a));
      const c = (a * 31 + b * 7) & 0xff;
      assert.equal(gfMultiply(a, b ^ c), gfMultiply(a, b) ^ gfMultiply(a, c));
    }
  }
  assert.throws(() => gfDivide(5, 0), RangeError);
});

test('matrix inversion matches Backblaze MatrixTest.inverse and inverse2; a singular matrix gives null', () => {
  // Backblaze/JavaReedSolomon src/test/java/com/backblaze/erasure/MatrixTest.java
  assert.deepEqual(rows(invertMatrix([bytes(56, 23, 98), bytes(3, 100, 200), bytes(45, 201, 123)])), [
    [175, 133, 33],
    [130, 13, 245],
    [112, 35, 126],
  ]);
  assert.deepEqual(
    rows(invertMatrix([bytes(1, 0, 0, 0, 0), bytes(0, 1, 0, 0, 0), bytes(0, 0, 0, 1, 0), bytes(0, 0, 0, 0, 1), bytes(7, 7, 6, 6, 1)])),
    [
      [1, 0, 0, 0, 0],
      [0, 1, 0, 0, 0],
      [123, 123, 1, 122, 122],
      [0, 0, 1, 0, 0],
      [0, 0, 0, 1, 0],
    ],
  );
  assert.equal(invertMatrix([bytes(1, 2), bytes(2, 4)]), null); // row 2 = 2 · row 1
});

test('5 data + 5 parity: the parity of Backblaze testOneEncode / klauspost TestOneEncode', () => {
  // Backblaze/JavaReedSolomon src/test/java/com/backblaze/erasure/ReedSolomonTest.java testOneEncode and
  // klauspost/reedsolomon reedsolomon_test.go TestOneEncode: data shards {0,1} {4,5} {2,3} {6,7} {8,9}
  // give parity shards {12,13} {10,11} {14,15} {90,91} {94,95}.
  const shares = encodeShares(bytes(0, 1, 4, 5, 2, 3, 6, 7, 8, 9), 5, 10);
  assert.deepEqual(
    shares.map((s) => [s.index, ...s.data]),
    [
      [0, 0, 1],
      [1, 4, 5],
      [2, 2, 3],
      [3, 6, 7],
      [4, 8, 9],
      [5, 12, 13],
      [6, 10, 11],
      [7, 14, 15],
      [8, 90, 91],
      [9, 94, 95],
    ],
  );
  // Only the published parity shards, nothing of the data: the bytes come back.
  assert.deepEqual([...decodeShares(shares.slice(5), 5, 10, 10)], [0, 1, 4, 5, 2, 3, 6, 7, 8, 9]);
});

test('the encoding matrix is systematic and its parity rows do not depend on n', () => {
  const small = encodingMatrix(3, 6);
  const large = encodingMatrix(3, 10);
  for (let r = 0; r < 3; r++) assert.deepEqual([...small[r]!], [0, 1, 2].map((c) => (c === r ? 1 : 0)));
  for (let r = 3; r < 6; r++) assert.deepEqual([...small[r]!], [...large[r]!]);
});

const CODES: [k: number, n: number][] = [
  [1, 1],
  [1, 3],
  [2, 2],
  [3, 6],
  [3, 10], // Tahoe-LAFS's default
  [5, 8],
  [10, 14],
  [17, 30],
  [20, MAX_SHARES],
];
const EXHAUSTIVE = 1100; // every subset up to this many (10-of-14 has 1001); else a random sample
const SAMPLE = 300;

for (const [k, n] of CODES) {
  test(`${k}-of-${n}: any ${k} share${k > 1 ? 's' : ''} rebuild the bytes, for lengths incl. 0 and not multiples of k`, () => {
    const random = seededRandom(k * 1000 + n);
    const lengths = [0, 1, k - 1, k, k + 1, 3 * k + 2, 1 + randomInt(random, 3000)].filter(
      (l, i, all) => l >= 0 && all.indexOf(l) === i,
    );
    for (const length of lengths) {
      const data = randomBytes(random, length);
      const shares = encodeShares(data, k, n);
      const size = Math.ceil(length / k);
      assert.deepEqual(
        shares.map((s) => s.index),
        Array.from({ length: n }, (_, i) => i),
      );
      for (const s of shares) assert.equal(s.data.length, size);
      // Systematic: shares 0..k-1 are the data, zero padded at the end.
      const padded = new Uint8Array(k * size);
      padded.set(data);
      for (let i = 0; i < k; i++) assert.deepEqual(shares[i]!.data, padded.subarray(i * size, (i + 1) * size));

      let tried = 0;
      const tryPick = (pick: number[]) => {
        tried++;
        const given = shuffled(random, pick.map((i) => shares[i]!));
        const back = decodeShares(given, k, n, length);
        assert.deepEqual(back, data, `${k}-of-${n}, ${length} bytes, shares ${pick.join(',')}`);
        // The parity is right too, not only the data: re-encoding what came back gives every share.
        if (tried % 25 === 1) assert.deepEqual(encodeShares(back, k, n), shares);
      };
      let total = 1;
      for (let i = 0; i < k; i++) total = (total * (n - i)) / (i + 1);
      if (total <= EXHAUSTIVE) for (const pick of subsets(n, k)) tryPick(pick);
      else {
        tryPick(Array.from({ length: k }, (_, i) => n - k + i)); // parity only, the hardest case
        while (tried < SAMPLE / (length > 1000 ? 10 : 1)) tryPick(shuffled(random, [...Array(n).keys()]).slice(0, k));
      }
      assert.ok(tried >= Math.min(total, 2));
      // Extra shares beyond k are ignored, whatever their order.
      assert.deepEqual(decodeShares(shuffled(random, shares), k, n, length), data);
    }
  });
}

test('fewer than k distinct shares throws, naming what is there and what is missing', () => {
  const data = seededRandom(1)().toString().padEnd(28, 'x');
  const shares = encodeShares(new TextEncoder().encode(data), 3, 6);
  throwsShares(() => decodeShares([shares[4]!, shares[1]!], 3, 6, 28), /need 3 distinct shares of 6, got 2 \(index 1, 4\); 1 more needed from the missing index 0, 2, 3, 5$/);
  throwsShares(() => decodeShares([], 3, 6, 28), /need 3 distinct shares of 6, got 0; 3 more needed from the missing index 0, 1, 2, 3, 4, 5$/);
  // A 1-of-1 code with its one share gone.
  throwsShares(() => decodeShares([], 1, 1, 0), /need 1 distinct share of 1, got 0; 1 more needed from the missing index 0$/);
});

test('a duplicate index does not count twice; two different shares with one index are refused', () => {
  const data = randomBytes(seededRandom(2), 100);
  const shares = encodeShares(data, 3, 6);
  const copy = (s: Share): Share => ({ index: s.index, data: s.data.slice() });
  throwsShares(() => decodeShares([shares[0]!, shares[5]!, copy(shares[5]!)], 3, 6, 100), /got 2 \(index 0, 5\)/);
  // The same share twice among enough others is harmless.
  assert.deepEqual(decodeShares([shares[2]!, copy(shares[2]!), shares[3]!, shares[4]!], 3, 6, 100), data);
  const forged = copy(shares[3]!);
  forged.data[7]! ^= 1;
  throwsShares(() => decodeShares([shares[0]!, shares[3]!, forged, shares[5]!], 3, 6, 100), /two different shares claim index 3/);
});

test('shares of the wrong size, an index out of range, a bad length or bad k/n throw', () => {
  const data = randomBytes(seededRandom(3), 28);
  const shares = encodeShares(data, 3, 6); // ceil(28 / 3) = 10 bytes each
  const short: Share = { index: 4, data: shares[4]!.data.subarray(0, 9) };
  throwsShares(() => decodeShares([shares[0]!, shares[1]!, short], 3, 6, 28), /share 4 has 9 bytes, expected 10 \(ceil\(28 \/ 3\)\)/);
  // Even an extra one: a share of another size means the set is mixed up.
  throwsShares(() => decodeShares([...shares.slice(0, 3), short], 3, 6, 28), /share 4 has 9 bytes/);
  // The length says how big the shares must be.
  throwsShares(() => decodeShares(shares, 3, 6, 31), /expected 11/);
  throwsShares(() => decodeShares([...shares.slice(0, 2), { index: 6, data: shares[5]!.data }], 3, 6, 28), /share index 6 is outside 0\.\.5 for a 3-of-6 code/);
  throwsShares(() => decodeShares([{ index: -1, data: shares[0]!.data }], 3, 6, 28), /share index -1/);
  throwsShares(() => decodeShares([{ index: 1.5, data: shares[0]!.data }], 3, 6, 28), /share index 1.5/);
  throwsShares(() => decodeShares([{ index: 0, data: 'x' as unknown as Uint8Array }], 3, 6, 28), /share 0 has no byte data/);
  throwsShares(() => decodeShares(shares, 3, 6, -1), /bad length -1/);
  throwsShares(() => decodeShares(shares, 3, 6, 2.5), /bad length 2.5/);
  for (const [k, n] of [[0, 1], [4, 3], [1, 256], [2.5, 4], [Number.NaN, 4], [3, Infinity]] as const) {
    throwsShares(() => encodeShares(data, k, n), new RegExp(`bad erasure parameters k=${k}, n=${n}: need whole numbers with 1 ≤ k ≤ n ≤ 255`));
    throwsShares(() => decodeShares(shares, k, n, 28), /bad erasure parameters/);
  }
  throwsShares(() => encodeShares('text' as unknown as Uint8Array, 3, 6), /data must be a Uint8Array/);
});

test('shares and the rebuilt bytes are copies: changing them afterwards changes nothing else', () => {
  const data = bytes(1, 2, 3, 4, 5, 6, 7);
  const shares = encodeShares(data, 2, 4);
  data[0] = 99;
  assert.equal(shares[0]!.data[0], 1);
  const back = decodeShares(shares.slice(0, 2), 2, 4, 7);
  back[1] = 77;
  assert.equal(shares[0]!.data[1], 2);
  assert.deepEqual([...decodeShares(shares.slice(2), 2, 4, 7)], [1, 2, 3, 4, 5, 6, 7]);
});
