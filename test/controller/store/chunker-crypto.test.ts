import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { isCanopyError } from '../../../common/errors.ts';
import { Chunker, chunkAll, DEFAULT_CHUNKER, type ChunkerParams } from '../../../controller/store/chunker.ts';
import { chunkId, deriveKeys, newKdfParams, open, seal, verifyCheck, type Keys } from '../../../controller/store/crypto.ts';
import { openManifest, readManifestHeader, sealManifest, type ManifestBody, type ManifestHeader } from '../../../controller/store/manifest.ts';

const SMALL: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 4096 };

/** 32 KiB that every machine computes the same: SHA-256("canopy-test-<i>") for i < 1024. */
function fixedInput(): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < 1024; i++) parts.push(createHash('sha256').update(`canopy-test-${i}`).digest());
  return Buffer.concat(parts);
}

function cuts(chunks: Uint8Array[]): number[] {
  let off = 0;
  return chunks.map((c) => (off += c.length));
}

test('chunking is pinned: the same bytes give the same cut points on every machine and version (changing them ends dedup with old backups)', () => {
  const c = cuts(chunkAll(fixedInput(), SMALL));
  assert.equal(c.length, 29);
  assert.deepEqual(c.slice(0, 6), [1531, 3116, 4282, 6104, 6452, 7525]);
  assert.equal(createHash('sha256').update(JSON.stringify(c)).digest('hex'), '700cd173523a3343dbb7825e7ca9ec4626284c9c7a63b0a7939bf1c967f0e4f3');
});

test('cut points do not depend on how the stream is split into blocks; chunks are within min..max and join to the input', () => {
  const data = randomBytes(300_000);
  const whole = cuts(chunkAll(data, SMALL));
  for (const block of [1, 7, 255, 4096, 65_537]) {
    const c = new Chunker(SMALL);
    const got: Uint8Array[] = [];
    for (let i = 0; i < data.length; i += block) got.push(...c.push(data.subarray(i, i + block)));
    got.push(...c.finish());
    assert.deepEqual(cuts(got), whole, `block size ${block}`);
    assert.deepEqual(Buffer.concat(got), data);
    for (const [i, ch] of got.entries()) {
      assert.ok(ch.length <= SMALL.maxSize, `chunk ${i} is ${ch.length} bytes`);
      if (i < got.length - 1) assert.ok(ch.length > SMALL.minSize, `chunk ${i} is ${ch.length} bytes`);
    }
  }
  const mean = data.length / whole.length;
  assert.ok(mean > SMALL.avgSize * 0.7 && mean < SMALL.avgSize * 1.6, `mean chunk ${mean} bytes for a 1024-byte target`);
});

test('an edit in the middle of a file changes only the chunks around it (dedup across an edited file)', () => {
  const original = randomBytes(2 * 1024 * 1024);
  const edited = Buffer.concat([original.subarray(0, 1_000_000), Buffer.from('an inserted sentence'), original.subarray(1_000_000)]);
  const hashes = (chunks: Uint8Array[]) => new Set(chunks.map((c) => createHash('sha256').update(c).digest('hex')));
  const before = hashes(chunkAll(original, DEFAULT_CHUNKER));
  const after = chunkAll(edited, DEFAULT_CHUNKER);
  const fresh = after.filter((c) => !before.has(createHash('sha256').update(c).digest('hex')));
  assert.ok(fresh.length >= 1 && fresh.length <= 2, `${fresh.length} of ${after.length} chunks are new`);
  assert.ok(fresh.reduce((s, c) => s + c.length, 0) <= 2 * DEFAULT_CHUNKER.maxSize);
});

test('chunker parameters are checked', () => {
  assert.throws(() => new Chunker({ minSize: 10, avgSize: 1000, maxSize: 4000 }), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /power of two/.test(e.message));
  assert.throws(() => new Chunker({ minSize: 2048, avgSize: 1024, maxSize: 4096 }), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
});

const hex = (s: string) => Buffer.from(s, 'hex');

test('a sealed chunk is nonce ‖ XChaCha20-Poly1305 with the id as associated data (draft-irtf-cfrg-xchacha-03 §A.3.1 vector)', () => {
  const keys: Keys = { idKey: new Uint8Array(32), sealKey: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'), check: new Uint8Array(16) };
  const aad = hex('50515253c0c1c2c3c4c5c6c7');
  const sealed = Buffer.concat([
    hex('404142434445464748494a4b4c4d4e4f5051525354555657'),
    hex(
      'bd6d179d3e83d43b9576579493c0e939572a1700252bfaccbed2902c21396cbb731c7f1b0b4aa6440bf3a82f4eda7e39ae64c6708c54c216cb96b72e1213b4522f8c9ba40db5d945b11b69b982c1bb9e3f3fac2bc369488f76b2383565d3fff921f9664c97637da9768812f615c68b13b52e',
    ),
    hex('c0875924c1c7987947deafd8780acf49'),
  ]);
  assert.equal(Buffer.from(open(keys, aad, sealed)).toString(), "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  const flipped = Buffer.from(sealed);
  flipped[40]! ^= 1;
  assert.throws(() => open(keys, aad, flipped), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT') && /altered/.test(e.message));
  assert.throws(() => open(keys, hex('50515253c0c1c2c3c4c5c6c8'), sealed), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT'), 'a chunk moved to another id does not open');
});

test('keys: the same passphrase and salt give the same keys; ids are keyed; seals use fresh nonces; a wrong passphrase fails the check', async () => {
  const kdf = newKdfParams(4);
  const a = await deriveKeys('correct horse', kdf);
  const b = await deriveKeys('correct horse', kdf);
  const other = await deriveKeys('correct horse', newKdfParams(4));
  const wrong = await deriveKeys('wrong horse', kdf);
  const text = Buffer.from('the same plaintext');
  assert.deepEqual(chunkId(a, text), chunkId(b, text));
  assert.notDeepEqual(chunkId(a, text), chunkId(other, text), 'another repository (salt) gives other ids');
  assert.notDeepEqual(Buffer.from(chunkId(a, text)), createHash('sha256').update(text).digest(), 'the id is not the plain hash');
  const id = chunkId(a, text);
  const s1 = seal(a, id, text);
  const s2 = seal(a, id, text);
  assert.notDeepEqual(s1, s2, 'random nonces');
  assert.deepEqual(Buffer.from(open(b, id, s1)), text);
  assert.doesNotThrow(() => verifyCheck(b, a.check));
  assert.throws(() => verifyCheck(wrong, a.check), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE') && /wrong passphrase/.test(e.message));
});

test('manifest: sealed with its KDF header in clear; opens with the passphrase; a wrong one or an altered byte is a clear error', async () => {
  const kdf = newKdfParams(4);
  const keys = await deriveKeys('pass phrase', kdf);
  const header: ManifestHeader = { v: 1, kdf, check: Buffer.from(keys.check).toString('base64'), createdAt: 1 };
  const body: ManifestBody = {
    source: '/home/owner/secret-project',
    owner: 'phone',
    chunker: DEFAULT_CHUNKER,
    erasure: { k: 3, n: 6 },
    dirs: [],
    files: [{ path: 'secret-project/plan.txt', size: 5, mode: 0o644, mtimeMs: 0, chunks: [0] }],
    chunks: [{ id: 'aa', addr: 'bb', size: 5, sealed: 45, shares: [] }],
  };
  const bytes = sealManifest(header, body, keys);
  assert.ok(!Buffer.from(bytes).includes('secret-project'), 'file names are sealed');
  assert.deepEqual(readManifestHeader(bytes).header, header);
  const opened = await openManifest(bytes, 'pass phrase');
  assert.deepEqual(opened.body, body);
  await assert.rejects(openManifest(bytes, 'pass frase'), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE'));
  const altered = Buffer.from(bytes);
  altered[altered.length - 20]! ^= 0x40;
  await assert.rejects(openManifest(altered, 'pass phrase'), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT'));
  await assert.rejects(openManifest(Buffer.from('not a manifest at all, sorry'), 'x', { source: 'notes.txt' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_MANIFEST') && /notes.txt/.test(e.message));
});
