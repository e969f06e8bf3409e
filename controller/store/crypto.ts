/**
 * The backup's keys and seals. Nothing readable leaves the owner: the phone, the neighbours and the
 * upstream only ever get sealed chunks, erasure shares of sealed chunks and sealed manifests.
 *
 *   master  = scrypt(passphrase, salt, N = 2^logN, r, p), 32 bytes (RFC 7914; params and salt in
 *             the manifest header)
 *   idKey   = HKDF-SHA256(master, info "canopy chunk id v1")     (RFC 5869)
 *   sealKey = HKDF-SHA256(master, info "canopy seal v1")
 *   check   = HKDF-SHA256(master, info "canopy key check v1"), 16 bytes, in the header: a wrong
 *             passphrase is told apart from a damaged manifest
 *   chunk id = HMAC-SHA256(idKey, plaintext): deterministic (dedup) but keyed, so a neighbour who
 *             guesses a file's content cannot confirm it from the ids
 *   sealed  = nonce (24 random bytes) ‖ XChaCha20-Poly1305(sealKey, nonce, aad = chunk id)(plaintext)
 *             (draft-irtf-cfrg-xchacha-03; 192-bit random nonces never repeat in practice; the id
 *             as associated data binds a sealed chunk to its place in the manifest)
 */
import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { scryptAsync } from '@noble/hashes/scrypt.js';
import { CanopyError } from '../../common/errors.ts';

export interface KdfParams {
  name: 'scrypt';
  logN: number;
  r: number;
  p: number;
  /** Base64. */
  salt: string;
}

/**
 * N = 2^17, r = 8, p = 1 (128 MiB): OWASP's scrypt minimum. It runs once per backup or restore,
 * ≈ 1 s here in pure JS; tests pass a lower logN.
 */
export const DEFAULT_KDF = { logN: 17, r: 8, p: 1 } as const;

export const NONCE_BYTES = 24;
export const TAG_BYTES = 16;
export const ID_BYTES = 32;

export interface Keys {
  idKey: Uint8Array;
  sealKey: Uint8Array;
  check: Uint8Array;
}

export function newKdfParams(logN: number = DEFAULT_KDF.logN): KdfParams {
  return { name: 'scrypt', logN, r: DEFAULT_KDF.r, p: DEFAULT_KDF.p, salt: randomBytes(16).toString('base64') };
}

export async function deriveKeys(passphrase: string, kdf: KdfParams, onProgress?: (f: number) => void): Promise<Keys> {
  if (kdf.name !== 'scrypt' || !(kdf.logN >= 1 && kdf.logN <= 22) || !(kdf.r >= 1) || !(kdf.p >= 1)) {
    throw new CanopyError('CANOPY_ERR_STORE_MANIFEST', `unsupported key derivation ${JSON.stringify({ ...kdf, salt: undefined })}: expected scrypt with 1 ≤ logN ≤ 22`);
  }
  if (passphrase.length === 0) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'the passphrase is empty');
  const master = await scryptAsync(passphrase, Buffer.from(kdf.salt, 'base64'), {
    N: 2 ** kdf.logN,
    r: kdf.r,
    p: kdf.p,
    dkLen: 32,
    maxmem: 2 ** (kdf.logN + 8) * kdf.r,
    ...(onProgress && { onProgress }),
  });
  const sub = (info: string, n: number) => new Uint8Array(hkdfSync('sha256', master, new Uint8Array(0), info, n));
  return { idKey: sub('canopy chunk id v1', 32), sealKey: sub('canopy seal v1', 32), check: sub('canopy key check v1', 16) };
}

/** Throws CANOPY_ERR_STORE_PASSPHRASE when `keys` were not derived from the passphrase that made `check`. */
export function verifyCheck(keys: Keys, check: Uint8Array): void {
  if (check.length !== keys.check.length || !timingSafeEqual(keys.check, check)) {
    throw new CanopyError('CANOPY_ERR_STORE_PASSPHRASE', 'wrong passphrase: it does not open this backup (nothing was written)');
  }
}

export function chunkId(keys: Keys, plaintext: Uint8Array): Uint8Array {
  return createHmac('sha256', keys.idKey).update(plaintext).digest();
}

/** The one place a chunk is sealed, in this thread or in a seal worker (seal-pool.ts). */
export function seal(keys: Pick<Keys, 'sealKey'>, id: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const out = new Uint8Array(NONCE_BYTES + plaintext.length + TAG_BYTES);
  const nonce = randomBytes(NONCE_BYTES);
  out.set(nonce, 0);
  // noble XORs 32 bits at a time only when input and output are 4-byte aligned; a chunk is a view
  // at any offset of a file block, and a copy costs far less than the byte-wise path.
  const input = plaintext.byteOffset % 4 === 0 ? plaintext : plaintext.slice();
  xchacha20poly1305(keys.sealKey, nonce, id).encrypt(input, out.subarray(NONCE_BYTES));
  return out;
}

/** The plaintext of a sealed chunk; CANOPY_ERR_STORE_CORRUPT when it fails authentication. */
export function open(keys: Pick<Keys, 'sealKey'>, id: Uint8Array, sealed: Uint8Array, what = `chunk ${Buffer.from(id).toString('hex')}`): Uint8Array {
  if (sealed.length < NONCE_BYTES + TAG_BYTES) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `${what}: ${sealed.length} bytes is too short for a sealed chunk`);
  try {
    const body = sealed.subarray(NONCE_BYTES);
    return xchacha20poly1305(keys.sealKey, sealed.subarray(0, NONCE_BYTES), id).decrypt(body.byteOffset % 4 === 0 ? body : body.slice());
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `${what} fails authentication: it was altered`, { cause: e });
  }
}
