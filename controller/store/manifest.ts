/**
 * A backup's manifest: what was backed up and where every piece went, sealed with the backup's
 * keys. The header is in clear so a restore needs only the manifest and the passphrase:
 *
 *   "CNPYMAN1"                         8 bytes, magic and format version
 *   u32 BE n, header JSON (n bytes)    { v: 1, kdf: KdfParams, check: base64, createdAt }
 *   nonce ‖ XChaCha20-Poly1305(sealKey, nonce, aad = magic ‖ n ‖ header)(deflate(body JSON))
 *
 * The header is the associated data, so changing the KDF parameters or the check value makes the
 * body fail authentication. The body (ManifestBody) names every file and, per chunk, its keyed id,
 * the address of its sealed form and where its erasure shares are held.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { randomBytes } from 'node:crypto';
import { CanopyError } from '../../common/errors.ts';
import type { ShareAudit } from './audit-proof.ts';
import type { ChunkerParams } from './chunker.ts';
import { deriveKeys, NONCE_BYTES, TAG_BYTES, verifyCheck, type KdfParams, type Keys } from './crypto.ts';

const MAGIC = new TextEncoder().encode('CNPYMAN1');

export interface ManifestHeader {
  v: 1;
  kdf: KdfParams;
  /** Base64 of the key check (crypto.ts). */
  check: string;
  createdAt: number;
}

export interface ShareRef {
  index: number;
  addr: string;
  /** The neighbour holding it. */
  holder: string;
  /** Precomputed audit answers (audit-proof.ts); absent in manifests made before audits. */
  audit?: ShareAudit;
}

export interface ChunkRef {
  /** Hex of the keyed chunk id (the seal's associated data). */
  id: string;
  /** Address (SHA-256 hex) of the sealed chunk on the phone and upstream. */
  addr: string;
  /** Plaintext bytes. */
  size: number;
  /** Sealed bytes (the erasure code's data length). */
  sealed: number;
  shares: ShareRef[];
}

export interface FileEntry {
  /** Relative to the backed-up root, "/"-separated. */
  path: string;
  size: number;
  mode: number;
  mtimeMs: number;
  /** Indexes into ManifestBody.chunks, in file order. */
  chunks: number[];
}

export interface ManifestBody {
  /** What was backed up, as given on the command line (for the owner's eyes only: it is sealed). */
  source: string;
  owner: string;
  chunker: ChunkerParams;
  erasure: { k: number; n: number };
  dirs: { path: string; mode: number }[];
  files: FileEntry[];
  chunks: ChunkRef[];
}

export interface OpenedManifest {
  header: ManifestHeader;
  body: ManifestBody;
  keys: Keys;
}

export function sealManifest(header: ManifestHeader, body: ManifestBody, keys: Keys): Uint8Array {
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const clear = new Uint8Array(MAGIC.length + 4 + headerBytes.length);
  clear.set(MAGIC, 0);
  new DataView(clear.buffer).setUint32(MAGIC.length, headerBytes.length);
  clear.set(headerBytes, MAGIC.length + 4);
  const nonce = randomBytes(NONCE_BYTES);
  const sealed = xchacha20poly1305(keys.sealKey, nonce, clear).encrypt(deflateRawSync(JSON.stringify(body)));
  const out = new Uint8Array(clear.length + NONCE_BYTES + sealed.length);
  out.set(clear, 0);
  out.set(nonce, clear.length);
  out.set(sealed, clear.length + NONCE_BYTES);
  return out;
}

/** The header alone (no passphrase needed); CANOPY_ERR_STORE_MANIFEST when the bytes are not a manifest. */
export function readManifestHeader(bytes: Uint8Array, source = 'manifest'): { header: ManifestHeader; clearLength: number } {
  const bad = (why: string) => new CanopyError('CANOPY_ERR_STORE_MANIFEST', `${source} is not a Canopy backup manifest: ${why}`);
  if (bytes.length < MAGIC.length + 4 || !MAGIC.every((b, i) => bytes[i] === b)) throw bad('it does not start with CNPYMAN1');
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(MAGIC.length);
  const clearLength = MAGIC.length + 4 + n;
  if (bytes.length < clearLength + NONCE_BYTES + TAG_BYTES) throw bad('it is cut short');
  let header: ManifestHeader;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(MAGIC.length + 4, clearLength))) as ManifestHeader;
  } catch {
    throw bad('its header is not JSON');
  }
  if (header?.v !== 1 || typeof header.check !== 'string' || header.kdf?.name !== 'scrypt') throw bad(`unsupported header ${JSON.stringify(header).slice(0, 120)}`);
  return { header, clearLength };
}

/**
 * Derives the keys from `passphrase` and opens the manifest. A wrong passphrase is
 * CANOPY_ERR_STORE_PASSPHRASE; a manifest altered after it was sealed is CANOPY_ERR_STORE_CORRUPT.
 */
export async function openManifest(bytes: Uint8Array, passphrase: string, opts: { source?: string; keys?: Keys; onProgress?: (f: number) => void } = {}): Promise<OpenedManifest> {
  const source = opts.source ?? 'manifest';
  const { header, clearLength } = readManifestHeader(bytes, source);
  const keys = opts.keys ?? (await deriveKeys(passphrase, header.kdf, opts.onProgress));
  verifyCheck(keys, Buffer.from(header.check, 'base64'));
  let body: ManifestBody;
  try {
    const nonce = bytes.subarray(clearLength, clearLength + NONCE_BYTES);
    const plain = xchacha20poly1305(keys.sealKey, nonce, bytes.subarray(0, clearLength)).decrypt(bytes.subarray(clearLength + NONCE_BYTES));
    body = JSON.parse(inflateRawSync(plain).toString('utf8')) as ManifestBody;
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `${source} fails authentication: it was altered after the backup sealed it`, { cause: e });
  }
  return { header, body, keys };
}
