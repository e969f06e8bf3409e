/**
 * Bench suite `store`: the phone store and the backup pipeline.
 *   pipeline_vs_raw_cipher  backup throughput in-process (FastCDC chunking + HMAC id + dedup index on
 *                           the main thread, XChaCha20-Poly1305 seal on `seal_workers` worker
 *                           threads, SHA-256 address; backup.ts's ChunkPipeline) ÷ raw
 *                           xchacha20poly1305 encryption of the same bytes in 64 KiB pieces on one
 *                           thread: the median over paired rounds (raw, pipeline, single-thread
 *                           pipeline, raw on the same 16 MiB, back to back; the mean of the two raw
 *                           runs against each pipeline run) (goal ≥ 0.8)
 *   pipeline_1thread_vs_raw_cipher
 *                           the same pipeline sealing in the main thread (seal workers 0)
 *   seal_workers            the pool's size: defaultSealers(), min(cores - 1, 4), at least 1
 *   sealed_by_workers_pct   chunks the workers sealed, of the pooled runs' (the rest: the main thread
 *                           sealing while every worker had its backlog; seal-pool.ts)
 *   pipeline_cores_used     CPU time of the process (main thread and workers) ÷ wall time over the
 *                           pooled pipeline runs: how much of the machine the pool actually got
 *                           (about 1 when other load leaves no second core free)
 *   seal_pool_start_ms      starting the pool until its first chunk comes back sealed (once per
 *                           backup; outside the timed rounds)
 *   pipeline_with_store_vs_raw_cipher
 *                           the pooled pipeline with every sealed chunk committed to a ChunkStore as
 *                           well (the phone's side of the work, here in the same process)
 *   dedup_ratio             plaintext bytes of a second backup of a slightly changed tree ÷ the
 *                           plaintext bytes it had to seal and send (two files edited in the
 *                           middle, one appended to, one added)
 *   restore_mb_s            restore of that backup from the phone agent over a real mesh, MB/s
 *   backup_mb_s             the first backup end to end over the mesh (phone only), MB/s
 *   prefetch_* / now_*      the downlink's dish energy per GB over a simulated day: bulk prefetch
 *                           waiting for the midday surplus against fetching when asked (store-prefetch.ts)
 *   sqlite_* / files_*      chunk bodies in the SQLite index vs as files, 64 KiB bodies,
 *                           synchronous FULL, put (batches of 32, as the agent's group commit) and get
 *   audit_*                 share audits: detection and traffic (store-audit.ts)
 *   cdn_*                   the phone's hot cache over HTTP: first byte of a range, a whole item
 *                           streamed (store-cdn.ts)
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { addressOf, ChunkStore, type PutInput } from '../../controller/store/chunk-store.ts';
import { Chunker } from '../../controller/store/chunker.ts';
import { deriveKeys, newKdfParams } from '../../controller/store/crypto.ts';
import { backup, ChunkPipeline } from '../../controller/store/backup.ts';
import { SealPool } from '../../controller/store/seal-pool.ts';
import { restore } from '../../controller/store/restore.ts';
import { PhoneAgent } from '../../controller/store/phone-agent.ts';
import { prefetchFigures } from './store-prefetch.ts';
import { StoreClient } from '../../controller/store/protocol.ts';
import { password, startMesh } from '../rigs/mesh.ts';
import { auditFigures } from './store-audit.ts';
import { cdnFigures } from './store-cdn.ts';
import { median } from './stats.ts';

const MB = 1e6;

/**
 * Seconds for the owner's side of a backup on `data` (1 MiB blocks, as a file read): chunk, keyed
 * id, dedup index lookup and insert, seal on `pool`, address (backup.ts's ChunkPipeline, without
 * the sending). With `store`, the sealed chunks are also committed to a ChunkStore (bodies in
 * SQLite, WAL, synchronous NORMAL, batches of 32): the phone's work, done here in the same process.
 */
async function pipelineSeconds(data: Uint8Array, pool: SealPool, dir: string | undefined): Promise<number> {
  const keys = await deriveKeys('bench', newKdfParams(4));
  const store = dir ? new ChunkStore({ dir, synchronous: 'NORMAL' }) : undefined;
  try {
    const t0 = performance.now();
    let batch: PutInput[] = [];
    const pipeline = new ChunkPipeline(keys, pool, (ref, _index, sealed) => {
      if (!store) return;
      batch.push({ addr: ref.addr, body: sealed, cls: 'own', owner: 'bench', tag: 'chunk' });
      if (batch.length === 32) {
        store.putMany(batch);
        batch = [];
      }
    });
    const chunker = new Chunker();
    for (let i = 0; i < data.length; i += 1 << 20) for (const c of chunker.push(data.subarray(i, i + (1 << 20)))) await pipeline.add(c);
    for (const c of chunker.finish()) await pipeline.add(c);
    await pipeline.drain();
    store?.putMany(batch);
    return (performance.now() - t0) / 1000;
  } finally {
    store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}

function rawCipherSeconds(data: Uint8Array): number {
  const key = randomBytes(32);
  const aad = randomBytes(32);
  const t0 = performance.now();
  for (let i = 0; i < data.length; i += 65536) xchacha20poly1305(key, randomBytes(24), aad).encrypt(data.subarray(i, i + 65536));
  return (performance.now() - t0) / 1000;
}

function bodiesFigures(dir: string, count: number): Figures {
  const blobs = Array.from({ length: count }, () => {
    const body = randomBytes(65536);
    return { addr: addressOf(body), body };
  });
  const figures: Figures = {};
  for (const bodies of ['sqlite', 'files'] as const) {
    const d = join(dir, bodies);
    const store = new ChunkStore({ dir: d, bodies, synchronous: 'FULL' });
    let t0 = performance.now();
    for (let i = 0; i < blobs.length; i += 32) store.putMany(blobs.slice(i, i + 32).map((b) => ({ ...b, cls: 'own' as const, owner: 'bench' })));
    const put = (performance.now() - t0) / 1000;
    t0 = performance.now();
    for (const b of blobs) store.get(b.addr);
    const get = (performance.now() - t0) / 1000;
    store.close();
    rmSync(d, { recursive: true, force: true });
    const mb = (count * 65536) / MB;
    figures[`${bodies}_put_mb_s`] = mb / put;
    figures[`${bodies}_get_mb_s`] = mb / get;
  }
  return figures;
}

/** A tree of `files` files of `size` bytes (half text, half random: photos and notes). */
function makeTree(root: string, files: number, size: number): void {
  mkdirSync(root, { recursive: true });
  for (let i = 0; i < files; i++) {
    const body = i % 2 === 0 ? randomBytes(size) : Buffer.from(Array.from({ length: Math.ceil(size / 40) }, (_, j) => `note ${i} line ${j} ${randomBytes(8).toString('hex')}\n`).join('').slice(0, size));
    writeFileSync(join(root, `file-${String(i).padStart(3, '0')}.bin`), body);
  }
}

function editTree(root: string): void {
  for (const i of [1, 4]) {
    const p = join(root, `file-${String(i).padStart(3, '0')}.bin`);
    const b = readFileSync(p);
    writeFileSync(p, Buffer.concat([b.subarray(0, b.length >> 1), Buffer.from('an edit in the middle'), b.subarray(b.length >> 1)]));
  }
  writeFileSync(join(root, 'file-002.bin'), 'appended at the end\n', { flag: 'a' });
  writeFileSync(join(root, 'added.txt'), 'a new small file\n');
}

export const suite: BenchSuite = {
  description: 'phone store and backup: pipeline vs raw cipher, dedup, restore, bodies in SQLite vs files, prefetch dish Wh per GB',
  async run(progress, { quick }) {
    const work = mkdtempSync(join(tmpdir(), 'canopy-bench-store-'));
    try {
      const figures: Figures = {};
      // Paired rounds on the same 16 MiB: raw cipher, then the pipeline, back to back, so both see
      // the same load on a shared machine; the figures are the medians (one warm-up round first).
      const size = 16 << 20;
      const rounds = quick ? 5 : 11;
      const data = randomBytes(size);
      const t0 = performance.now();
      const pool = new SealPool();
      const inThread = new SealPool({ size: 0 });
      await pool.seal({ sealKey: randomBytes(32) }, randomBytes(32), randomBytes(64));
      figures.seal_pool_start_ms = performance.now() - t0;
      figures.seal_workers = pool.size;
      progress(`pipeline (${pool.size} seal workers, and in one thread) vs raw cipher: ${rounds} paired rounds on ${size >> 20} MiB`);
      const ratios: number[] = [];
      const ratios1: number[] = [];
      const pipe: number[] = [];
      const pipe1: number[] = [];
      const withStore: number[] = [];
      const raw: number[] = [];
      const cores: number[] = [];
      try {
        for (let round = -1; round < rounds; round++) {
          const r = rawCipherSeconds(data);
          const c0 = process.cpuUsage();
          const p = await pipelineSeconds(data, pool, undefined);
          const c = process.cpuUsage(c0);
          const p1 = await pipelineSeconds(data, inThread, undefined);
          const r2 = rawCipherSeconds(data);
          const w = await pipelineSeconds(data, pool, join(work, `pipe-${round}`));
          if (round < 0) continue;
          raw.push(r, r2);
          pipe.push(p);
          cores.push((c.user + c.system) / 1e6 / p);
          pipe1.push(p1);
          withStore.push(w);
          ratios.push((r + r2) / 2 / p);
          ratios1.push((r + r2) / 2 / p1);
        }
      } finally {
        await pool.close();
      }
      figures.sealed_by_workers_pct = (100 * pool.counts.workers) / (pool.counts.workers + pool.counts.here);
      figures.raw_cipher_mb_s = size / MB / median(raw);
      figures.pipeline_mb_s = size / MB / median(pipe);
      figures.pipeline_vs_raw_cipher = median(ratios);
      figures.pipeline_cores_used = median(cores);
      figures.pipeline_1thread_mb_s = size / MB / median(pipe1);
      figures.pipeline_1thread_vs_raw_cipher = median(ratios1);
      figures.pipeline_with_store_mb_s = size / MB / median(withStore);
      figures.pipeline_with_store_vs_raw_cipher = median(raw) / median(withStore);

      progress('chunk bodies: SQLite vs files');
      Object.assign(figures, bodiesFigures(join(work, 'bodies'), quick ? 160 : 480));
      Object.assign(figures, await prefetchFigures(work, quick, progress));

      progress('backup, second backup of a changed tree, restore over a real mesh');
      const { mesh, url } = await startMesh();
      const store = new ChunkStore({ dir: join(work, 'phone') });
      const agent = new PhoneAgent({ store, url, username: 'phone', password: password('phone'), name: 'phone' });
      await agent.start();
      const client = await StoreClient.connect({ url, username: 'phone', password: password('phone'), timeoutMs: 30_000 });
      try {
        const src = join(work, 'src', 'tree');
        const files = quick ? 8 : 24;
        makeTree(src, files, 1 << 20);
        const opts = { client, owner: 'phone', neighbours: [], k: 3, n: 6, path: src, passphrase: 'bench', kdfLogN: 4, uplink: false } as const;
        let t0 = performance.now();
        const first = await backup(opts);
        figures.backup_mb_s = first.bytes / MB / ((performance.now() - t0) / 1000);
        editTree(src);
        const second = await backup(opts);
        figures.dedup_ratio = second.bytes / second.newBytes;
        figures.second_backup_new_chunks = second.newChunks;
        figures.second_backup_chunks = second.chunks;
        t0 = performance.now();
        const r = await restore({ manifest: second.manifestAddr, dir: join(work, 'out'), passphrase: 'bench', sources: [{ client, agent: 'phone', label: 'phone' }] });
        figures.restore_mb_s = r.bytes / MB / ((performance.now() - t0) / 1000);
        if (r.failed.length > 0) throw new Error(`restore failed: ${JSON.stringify(r.failed)}`);
      } finally {
        await client.close();
        await agent.stop();
        store.close();
        await mesh.stop();
      }
      progress('share audits: a clean round, then one with shares deleted, altered, swapped and missing');
      Object.assign(figures, await auditFigures(work, quick));
      progress("the hot cache over HTTP: a range's first byte, a 32 MB item streamed");
      Object.assign(figures, await cdnFigures(work, quick));
      return figures;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  },
};
