import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { isCanopyError } from '../../../common/errors.ts';
import { backup, ChunkPipeline } from '../../../controller/store/backup.ts';
import { Chunker } from '../../../controller/store/chunker.ts';
import { deriveKeys, newKdfParams, open, type Keys } from '../../../controller/store/crypto.ts';
import { openManifest, type ChunkRef } from '../../../controller/store/manifest.ts';
import { restore } from '../../../controller/store/restore.ts';
import { defaultSealers, SealPool } from '../../../controller/store/seal-pool.ts';
import { makeTree, OWNER, storeRig, TEST_LOG_N, treeHashes } from './rig.ts';

const PASS = 'seal pool';
const POISON_WORKER = new URL('./poison-seal-worker.js', import.meta.url);

function isSealError(message: RegExp) {
  return (e: unknown) => isCanopyError(e, 'CANOPY_ERR_STORE_SEAL') && message.test(e.message);
}

/** Every chunk of `data` through a ChunkPipeline on `pool`; the refs and each sealed chunk by index. */
async function runPipeline(keys: Keys, pool: Pick<SealPool, 'seal'>, data: Uint8Array, window?: number) {
  const sealed = new Map<number, Uint8Array>();
  const pipeline = new ChunkPipeline(keys, pool, (_ref, index, s) => void sealed.set(index, s), new Map(), window);
  const chunker = new Chunker({ minSize: 1024, avgSize: 4096, maxSize: 16384 });
  const order: number[] = [];
  // Blocks at odd offsets, so chunks are unaligned views, as from a file read.
  for (let i = 0; i < data.length; i += 100_003) for (const c of chunker.push(data.subarray(i, i + 100_003))) order.push(await pipeline.add(c));
  for (const c of chunker.finish()) order.push(await pipeline.add(c));
  await pipeline.drain();
  return { chunks: pipeline.chunks, sealed, order };
}

test('the default pool leaves one core to the main thread, with at least one and at most four workers', () => {
  assert.equal(defaultSealers(), Math.max(1, Math.min(availableParallelism() - 1, 4)));
  assert.throws(() => new SealPool({ size: -1 }), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
});

test('sealed on 3 workers or in this thread, a stream gives the same chunk ids in the same order, and every sealed chunk opens to its plaintext', async () => {
  const keys = await deriveKeys(PASS, newKdfParams(TEST_LOG_N));
  const block = randomBytes(50_000);
  // Repeats inside the stream: the dedup index must hand back the first chunk's index.
  const data = Buffer.concat([randomBytes(400_000), block, randomBytes(300_000), block, block, randomBytes(99_999)]);
  const pool = new SealPool({ size: 3 });
  try {
    const pooled = await runPipeline(keys, pool, data, 8);
    const inThread = await runPipeline(keys, new SealPool({ size: 0 }), data);
    assert.ok(pooled.chunks.length > 50, `${pooled.chunks.length} chunks`);
    assert.ok(pool.counts.workers > 0, 'the workers sealed some');
    assert.deepEqual(pooled.chunks.map((c) => c.id), inThread.chunks.map((c) => c.id));
    assert.deepEqual(pooled.order, inThread.order);
    assert.ok(new Set(pooled.order).size < pooled.order.length, 'repeated blocks reuse chunks');
    const rebuilt = Buffer.concat(pooled.order.map((i) => open(keys, Buffer.from(pooled.chunks[i]!.id, 'hex'), pooled.sealed.get(i)!)));
    assert.ok(rebuilt.equals(data), 'the opened chunks, in order, are the input');
    for (const [i, c] of pooled.chunks.entries()) {
      assert.equal(c.sealed, pooled.sealed.get(i)!.length);
      assert.equal(c.sealed, c.size + 40, 'nonce ‖ ciphertext ‖ tag');
      // A fresh random nonce each time: the two runs seal the same chunk differently.
      assert.notEqual(c.addr, inThread.chunks[i]!.addr);
    }
  } finally {
    await pool.close();
  }
});

test('the pipeline keeps the manifest order when seals finish out of order, and never has more than its window out', async () => {
  const keys = await deriveKeys(PASS, newKdfParams(TEST_LOG_N));
  const inline = new SealPool({ size: 0 });
  let out = 0;
  let most = 0;
  // Seals that finish in a shuffled order, after a few event-loop turns each.
  const slow: Pick<SealPool, 'seal'> = {
    async seal(k, id, plain) {
      most = Math.max(most, ++out);
      for (let i = 0, n = 1 + (id[0]! % 7); i < n; i++) await new Promise((r) => setImmediate(r));
      out--;
      return inline.seal(k, id, plain);
    },
  };
  const data = randomBytes(600_000);
  const shuffled = await runPipeline(keys, slow, data, 4);
  const straight = await runPipeline(keys, inline, data);
  assert.equal(most, 4);
  assert.deepEqual(shuffled.chunks.map((c: ChunkRef) => c.id), straight.chunks.map((c) => c.id));
  assert.deepEqual(shuffled.order, straight.order);
});

test('a backup sealed on two workers restores byte-identically through the existing restore path', async (t) => {
  const rig = await storeRig(t, { neighbours: 3 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  writeFileSync(join(src, 'big.bin'), randomBytes(1_500_000));
  const opts = { client: rig.client, owner: OWNER, neighbours: [...rig.neighbours.keys()], k: 2, n: 3, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N, uplink: false } as const;
  const pool = new SealPool({ size: 2 });
  t.after(() => pool.close());
  const pooled = await backup({ ...opts, sealPool: pool });
  assert.ok(pooled.newChunks >= 20, `${pooled.newChunks} chunks`);
  // The first chunk always finds a worker with room; the main thread may have sealed some too.
  assert.ok(pool.counts.workers >= 1);
  assert.equal(pool.counts.workers + pool.counts.here, pooled.newChunks);
  assert.equal(pooled.shares, pooled.chunks * 3);
  const out = join(rig.dir, 'out');
  const r = await restore({ manifest: pooled.manifestAddr, dir: out, passphrase: PASS, sources: [{ client: rig.client, agent: OWNER, label: 'phone' }], timeoutMs: 1500 });
  assert.deepEqual(r.failed, []);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));

  // The same tree again, sealed in this thread: everything dedups against the pooled backup, in
  // the same chunk order (ids are made on the main thread either way).
  const again = await backup({ ...opts, sealers: 0 });
  assert.equal(again.newChunks, 0);
  const [a, b] = await Promise.all([openManifest(pooled.manifest, PASS), openManifest(again.manifest, PASS)]);
  assert.deepEqual(b.body.chunks.map((c) => c.addr), a.body.chunks.map((c) => c.addr));
});

test('when every worker has its backlog, the caller seals in its own thread; close() fails what the workers still hold', async () => {
  const keys = { sealKey: randomBytes(32) };
  const full = { ...keys, idKey: keys.sealKey, check: keys.sealKey };
  const pool = new SealPool({ size: 2, backlog: 1, worker: POISON_WORKER });
  // Each worker gets a chunk it never answers: from then on every worker has its backlog.
  const held = [pool.seal(keys, randomBytes(32), Buffer.from('HOLD one')), pool.seal(keys, randomBytes(32), Buffer.from('HOLD two'))];
  for (const h of held) h.catch(() => {});
  const jobs = Array.from({ length: 4 }, () => ({ id: randomBytes(32), plain: randomBytes(3000) }));
  const sealed = await Promise.all(jobs.map((j) => pool.seal(keys, j.id, j.plain)));
  assert.deepEqual(pool.counts, { workers: 0, here: 4 });
  for (const [i, j] of jobs.entries()) assert.deepEqual(open(full, j.id, sealed[i]!), new Uint8Array(j.plain));
  await pool.close();
  for (const h of held) await assert.rejects(h, isSealError(/closed with chunks still being sealed/));
  await assert.rejects(pool.seal(keys, randomBytes(32), randomBytes(10)), isSealError(/the seal pool is closed/));
});

test('a seal that fails inside a worker rejects that chunk with CANOPY_ERR_STORE_SEAL; the worker carries on', async () => {
  const pool = new SealPool({ size: 1 });
  try {
    const id = randomBytes(32);
    await assert.rejects(pool.seal({ sealKey: randomBytes(16) }, id, randomBytes(1000)), isSealError(/^sealing chunk [0-9a-f]{16}…: .*key/));
    const keys = { sealKey: randomBytes(32) };
    const plain = randomBytes(1000);
    assert.deepEqual(open(keys, id, await pool.seal(keys, id, plain)), new Uint8Array(plain));
  } finally {
    await pool.close();
  }
  // The in-thread path fails the same way.
  await assert.rejects(new SealPool({ size: 0 }).seal({ sealKey: randomBytes(16) }, randomBytes(32), randomBytes(10)), isSealError(/key/));
});

test('a worker that dies (uncaught error, exit) fails its chunks and the pool with a clear error, without hanging', async () => {
  const keys = { sealKey: randomBytes(32) };
  for (const [marker, why] of [
    ['POISON', /seal worker \d of 2: failed: poisoned chunk/],
    ['EXIT-7', /seal worker \d of 2: stopped unexpectedly \(exit code 7\)/],
  ] as const) {
    const pool = new SealPool({ size: 2, worker: POISON_WORKER, backlog: Infinity });
    try {
      assert.equal((await pool.seal(keys, randomBytes(32), randomBytes(100))).length, 140);
      const jobs = Array.from({ length: 6 }, (_, i) => pool.seal(keys, randomBytes(32), i === 0 ? Buffer.from(`a ${marker} chunk`) : randomBytes(5000)));
      for (const j of jobs) j.catch(() => {});
      await assert.rejects(jobs[0]!, isSealError(why));
      await assert.rejects(pool.seal(keys, randomBytes(32), randomBytes(10)), isSealError(why), 'a failed pool refuses later chunks');
      await Promise.allSettled(jobs);
    } finally {
      await pool.close();
    }
  }
  const missing = new SealPool({ size: 1, worker: new URL('./no-such-worker.js', import.meta.url) });
  await assert.rejects(missing.seal(keys, randomBytes(32), randomBytes(10)), isSealError(/seal worker 1 of 1: failed: .*no-such-worker/));
  await missing.close();
});

test('a backup whose seal worker dies rejects with CANOPY_ERR_STORE_SEAL instead of hanging', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  writeFileSync(join(src, 'zz-poisoned.txt'), 'this file holds a POISON chunk');
  // Only the workers seal here: the poisoned chunk must reach one.
  const pool = new SealPool({ size: 2, worker: POISON_WORKER, backlog: Infinity });
  try {
    await assert.rejects(
      backup({ client: rig.client, owner: OWNER, neighbours: [], k: 1, n: 1, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N, uplink: false, sealPool: pool }),
      isSealError(/poisoned chunk/),
    );
  } finally {
    await pool.close();
  }
});
