/**
 * k-of-n erasure coding (systematic Reed-Solomon over GF(2^8)) for the store's shares.
 *
 * Construction, as in Backblaze's JavaReedSolomon (ReedSolomon.buildMatrix, Galois.java) and
 * klauspost/reedsolomon (buildMatrix, galois.go), so shares are byte-for-byte those libraries':
 * - the field is GF(2^8) with the generating polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), generator 2;
 * - the n×k encoding matrix is the Vandermonde matrix V[r][c] = r^c (with 0^0 = 1) multiplied by the
 *   inverse of its top k×k square, so its top k rows are the identity (shares 0..k-1 are the data
 *   itself) and any k of its rows stay invertible (distinct evaluation points r = 0..n-1 < 256);
 * - decoding takes k present shares, inverts the matching k rows by Gauss-Jordan elimination and
 *   multiplies the shares by that inverse to get the missing data shards back.
 * The data is cut into k consecutive shards of ceil(len/k) bytes, the last one zero padded.
 * Checked against the libraries' published vectors in test/controller/store/erasure.test.ts.
 */
import { CanopyError } from '../../common/errors.ts';

export interface Share {
  /** 0..n-1; indexes 0..k-1 are the data shards (systematic), k..n-1 the parity shards. */
  index: number;
  data: Uint8Array;
}

/** Largest n: row indexes are field elements, and GF(2^8) has 256 of them (0..255; we keep one spare). */
export const MAX_SHARES = 255;

// ---- GF(2^8) -------------------------------------------------------------------------------

const POLYNOMIAL = 0x11d;
const LOG = new Uint8Array(256); // LOG[0] is unused
const EXP = new Uint8Array(510); // doubled so EXP[LOG[a] + LOG[b]] needs no modulo
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    EXP[i + 255] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= POLYNOMIAL;
  }
}

/** Full multiplication table: MUL[a << 8 | b] = a·b. Row a is the per-coefficient table of the inner loop. */
const MUL = new Uint8Array(65536);
for (let a = 1; a < 256; a++) {
  for (let b = 1; b < 256; b++) MUL[(a << 8) | b] = EXP[LOG[a] + LOG[b]];
}

/** a·b in GF(2^8). */
export function gfMultiply(a: number, b: number): number {
  return MUL[((a & 0xff) << 8) | (b & 0xff)];
}

/** a/b in GF(2^8); b must not be 0. */
export function gfDivide(a: number, b: number): number {
  if (b === 0) throw new RangeError('division by zero in GF(2^8)');
  if (a === 0) return 0;
  return EXP[LOG[a] + 255 - LOG[b]];
}

/** a^n in GF(2^8), with a^0 = 1 (also for a = 0), as Backblaze's Galois.exp. */
export function gfExp(a: number, n: number): number {
  if (n === 0) return 1;
  if (a === 0) return 0;
  return EXP[(LOG[a] * n) % 255];
}

// ---- matrices over GF(2^8) -----------------------------------------------------------------

export type Matrix = Uint8Array[];

function matrixTimes(a: Matrix, b: Matrix): Matrix {
  const inner = b.length;
  const cols = b[0].length;
  return a.map((row) => {
    const out = new Uint8Array(cols);
    for (let c = 0; c < cols; c++) {
      let v = 0;
      for (let i = 0; i < inner; i++) v ^= gfMultiply(row[i], b[i][c]);
      out[c] = v;
    }
    return out;
  });
}

/** Inverse of a square matrix by Gauss-Jordan elimination; null when it is singular. */
export function invertMatrix(m: Matrix): Matrix | null {
  const size = m.length;
  // Work on [m | I] and reduce the left half to the identity.
  const work = m.map((row, r) => {
    const w = new Uint8Array(2 * size);
    w.set(row);
    w[size + r] = 1;
    return w;
  });
  for (let col = 0; col < size; col++) {
    let pivot = col;
    while (pivot < size && work[pivot][col] === 0) pivot++;
    if (pivot === size) return null;
    if (pivot !== col) [work[col], work[pivot]] = [work[pivot], work[col]];
    const row = work[col];
    const scale = gfDivide(1, row[col]);
    if (scale !== 1) for (let c = 0; c < 2 * size; c++) row[c] = gfMultiply(row[c], scale);
    for (let r = 0; r < size; r++) {
      const other = work[r];
      const factor = other[col];
      if (r === col || factor === 0) continue;
      const table = factor << 8;
      for (let c = 0; c < 2 * size; c++) other[c] ^= MUL[table | row[c]];
    }
  }
  return work.map((w) => w.slice(size));
}

function checkKN(k: number, n: number): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < k || n > MAX_SHARES) {
    throw new CanopyError(
      'CANOPY_ERR_STORE_SHARES',
      `bad erasure parameters k=${k}, n=${n}: need whole numbers with 1 ≤ k ≤ n ≤ ${MAX_SHARES}`,
    );
  }
}

const matrixCache = new Map<string, Matrix>();
const CACHE_LIMIT = 64;

function remember<T>(cache: Map<string, T>, key: string, make: () => T): T {
  let v = cache.get(key);
  if (v === undefined) {
    v = make();
    if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
    cache.set(key, v);
  }
  return v;
}

/**
 * The n×k systematic encoding matrix: Vandermonde V[r][c] = r^c times the inverse of V's top k×k
 * square (Backblaze ReedSolomon.buildMatrix; klauspost buildMatrix). Row r is the share with index r.
 */
export function encodingMatrix(k: number, n: number): Matrix {
  checkKN(k, n);
  return remember(matrixCache, `${k}/${n}`, () => {
    const vandermonde: Matrix = [];
    for (let r = 0; r < n; r++) {
      const row = new Uint8Array(k);
      for (let c = 0; c < k; c++) row[c] = gfExp(r, c);
      vandermonde.push(row);
    }
    const topInverse = invertMatrix(vandermonde.slice(0, k));
    // Cannot happen: a square Vandermonde matrix on distinct points is invertible.
    if (!topInverse) throw new Error(`Vandermonde top square for k=${k} is singular`);
    return matrixTimes(vandermonde, topInverse);
  });
}

/** out ^= coefficient · input, byte by byte, through the coefficient's multiplication table. */
function mulAddInto(out: Uint8Array, coefficient: number, input: Uint8Array): void {
  if (coefficient === 0) return;
  const len = out.length;
  if (coefficient === 1) {
    for (let i = 0; i < len; i++) out[i] ^= input[i];
    return;
  }
  const table = MUL.subarray(coefficient << 8, (coefficient << 8) + 256);
  for (let i = 0; i < len; i++) out[i] ^= table[input[i]];
}

// ---- the store's API -------------------------------------------------------------------------

/** Splits data into n shares of ceil(len/k) bytes each (zero padded); any k of them rebuild it. */
export function encodeShares(data: Uint8Array, k: number, n: number): Share[] {
  checkKN(k, n);
  if (!(data instanceof Uint8Array)) {
    throw new CanopyError('CANOPY_ERR_STORE_SHARES', 'encodeShares: data must be a Uint8Array');
  }
  const size = Math.ceil(data.length / k);
  const shares: Share[] = [];
  for (let i = 0; i < k; i++) {
    const shard = new Uint8Array(size); // a copy, zero padded: shares never alias the caller's buffer
    shard.set(data.subarray(Math.min(i * size, data.length), Math.min((i + 1) * size, data.length)));
    shares.push({ index: i, data: shard });
  }
  const matrix = encodingMatrix(k, n);
  for (let r = k; r < n; r++) {
    const parity = new Uint8Array(size);
    const row = matrix[r];
    for (let c = 0; c < k; c++) mulAddInto(parity, row[c], shares[c].data);
    shares.push({ index: r, data: parity });
  }
  return shares;
}

function shareError(message: string): CanopyError {
  return new CanopyError('CANOPY_ERR_STORE_SHARES', `decodeShares: ${message}`);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const decodeCache = new Map<string, Matrix>();

/**
 * Rebuilds the original `length` bytes from any k distinct shares (extra shares ignored). Throws
 * CanopyError('CANOPY_ERR_STORE_SHARES', ...) naming what is missing/wrong if fewer than k distinct
 * valid indexes, mismatched sizes, or bad k/n.
 */
export function decodeShares(shares: Share[], k: number, n: number, length: number): Uint8Array {
  checkKN(k, n);
  if (!Number.isSafeInteger(length) || length < 0) {
    throw shareError(`bad length ${length}: need a whole number of bytes ≥ 0`);
  }
  if (!Array.isArray(shares)) throw shareError('shares must be an array');
  const size = Math.ceil(length / k);

  const byIndex = new Map<number, Uint8Array>();
  for (const share of shares) {
    const index = share?.index;
    if (!Number.isInteger(index) || index < 0 || index >= n) {
      throw shareError(`share index ${String(index)} is outside 0..${n - 1} for a ${k}-of-${n} code`);
    }
    if (!(share.data instanceof Uint8Array)) throw shareError(`share ${index} has no byte data`);
    if (share.data.length !== size) {
      throw shareError(
        `share ${index} has ${share.data.length} bytes, expected ${size} (ceil(${length} / ${k})); ` +
          'it belongs to another object or was cut short',
      );
    }
    const seen = byIndex.get(index);
    if (seen === undefined) byIndex.set(index, share.data);
    else if (!sameBytes(seen, share.data)) {
      // Without a checksum there is no telling which one is right, so neither is trusted.
      throw shareError(`two different shares claim index ${index}; at most one of them is genuine`);
    }
  }

  if (byIndex.size < k) {
    const have = [...byIndex.keys()].sort((a, b) => a - b);
    const absent: number[] = [];
    for (let i = 0; i < n; i++) if (!byIndex.has(i)) absent.push(i);
    throw shareError(
      `need ${k} distinct share${k > 1 ? 's' : ''} of ${n}, got ${have.length}` +
        (have.length ? ` (index ${have.join(', ')})` : '') +
        `; ${k - have.length} more needed from the missing index ${absent.join(', ')}`,
    );
  }

  // Lowest indexes first: every data shard present is used as it is.
  const chosen = [...byIndex.keys()].sort((a, b) => a - b).slice(0, k);
  const out = new Uint8Array(length);
  const place = (shard: number, bytes: Uint8Array) => {
    const start = shard * size;
    if (start < length) out.set(bytes.subarray(0, Math.min(size, length - start)), start);
  };

  const missing: number[] = [];
  for (let i = 0; i < k; i++) {
    const bytes = byIndex.get(i);
    if (bytes && chosen.includes(i)) place(i, bytes);
    else missing.push(i);
  }
  if (missing.length === 0) return out;

  const decode = remember(decodeCache, `${k}/${n}/${chosen.join(',')}`, () => {
    const matrix = encodingMatrix(k, n);
    const inverse = invertMatrix(chosen.map((r) => matrix[r]));
    // Cannot happen: any k rows of the encoding matrix are independent (see the top of this file).
    if (!inverse) throw new Error(`encoding rows ${chosen.join(',')} are singular`);
    return inverse;
  });
  const inputs = chosen.map((i) => byIndex.get(i)!);
  for (const shard of missing) {
    const rebuilt = new Uint8Array(size);
    const row = decode[shard];
    for (let j = 0; j < k; j++) mulAddInto(rebuilt, row[j], inputs[j]);
    place(shard, rebuilt);
  }
  return out;
}
