/**
 * Sealing chunks on other cores. XChaCha20-Poly1305 in pure JS (@noble/ciphers) is most of a
 * backup's work, so a backup hands each new chunk to a small pool of worker threads while the main
 * thread goes on chunking, hashing and indexing. The format does not change: each worker runs
 * crypto.ts's seal() (random 24-byte nonce, chunk id as associated data).
 *
 *   size 0   no workers: seal() seals in this thread (the same function, one code path)
 *   size n   n workers; a job goes to the one with the fewest jobs out, while it has fewer
 *            than `backlog`. When every worker has its backlog, jobs wait here, and this thread
 *            seals one of them per event-loop turn (a thread pool's caller-runs policy): the main
 *            thread's own work is a fraction of the sealing, so it would otherwise idle waiting
 *            for the workers, and a worker short of CPU does not hold the backup up. One job per
 *            turn, so the workers' answers come in between and they are refilled before they
 *            run dry.
 *
 * The pool queues what the workers have no room for; callers bound it with their own window of
 * chunks in flight (backup.ts's ChunkPipeline), which bounds the memory on any size of tree. The
 * plaintext is copied into a fresh buffer that is transferred to the worker (a chunk is a view of a file block that later
 * chunks still read), and the sealed bytes are transferred back. A job that fails rejects with
 * CANOPY_ERR_STORE_SEAL; a worker that dies (uncaught error, exit) fails its jobs and the pool,
 * whose workers are then stopped. Idle workers are unref()ed, so a pool that is never closed does
 * not keep the process alive; close() stops them.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CanopyError } from '../../common/errors.ts';
import { seal, type Keys } from './crypto.ts';

/** A job as posted to a worker: `plain` arrives in a buffer of its own (offset 0, so 4-byte aligned). */
export interface SealJob {
  seq: number;
  key: Uint8Array;
  id: Uint8Array;
  plain: Uint8Array;
}

export type SealReply = { seq: number; sealed: Uint8Array } | { seq: number; error: string };

export interface SealPoolOptions {
  /** Worker threads; 0 seals in this thread. Default: defaultSealers(). */
  size?: number;
  /**
   * Jobs every worker holds before the caller seals in its own thread. Default 2 (one being
   * sealed, the next ready); Infinity: only the workers seal.
   */
  backlog?: number;
  /** The worker's entry point. Default seal-worker.js; tests pass one that fails on purpose. */
  worker?: URL;
}

/** One core for the main thread (chunking, ids, index, sending), the rest for sealing, at most 4 (a Raspberry Pi's). */
export function defaultSealers(): number {
  return Math.max(1, Math.min(availableParallelism() - 1, 4));
}

interface Job {
  resolve: (sealed: Uint8Array) => void;
  reject: (e: unknown) => void;
  what: string;
}

/** A job no worker has room for yet. */
interface Waiting extends Job {
  keys: Pick<Keys, 'sealKey'>;
  id: Uint8Array;
  plaintext: Uint8Array;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

function sealError(what: string, why: string, cause?: unknown): CanopyError {
  return new CanopyError('CANOPY_ERR_STORE_SEAL', `${what}: ${why}`, cause === undefined ? undefined : { cause });
}

export class SealPool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private seq = 0;
  private failure: CanopyError | undefined;
  private closing = false;
  private readonly backlog: number;
  private readonly waiting: Waiting[] = [];
  private turnScheduled = false;
  private closed: Promise<void> | undefined;
  /** Chunks sealed by the workers and in this thread. */
  readonly counts = { workers: 0, here: 0 };

  constructor(opts: SealPoolOptions = {}) {
    const size = opts.size ?? defaultSealers();
    if (!(Number.isInteger(size) && size >= 0 && size <= 64)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `seal workers: ${size}; need an integer from 0 to 64`);
    this.size = size;
    this.backlog = opts.backlog ?? 2;
    const url = opts.worker ?? new URL('./seal-worker.js', import.meta.url);
    for (let i = 0; i < size; i++) {
      const slot: Slot = { worker: new Worker(url), jobs: new Map() };
      slot.worker.unref();
      slot.worker.on('message', (reply: SealReply) => this.settle(slot, reply));
      slot.worker.on('error', (e: Error) => this.fail(sealError(`seal worker ${i + 1} of ${size}`, `failed: ${e.message}`, e)));
      slot.worker.on('exit', (code) => {
        if (!this.closing) this.fail(sealError(`seal worker ${i + 1} of ${size}`, `stopped unexpectedly (exit code ${code})`));
      });
      this.slots.push(slot);
    }
  }

  /**
   * `plaintext` sealed as crypto.ts's seal() does; CANOPY_ERR_STORE_SEAL when that fails.
   * `plaintext` must not change until this resolves (a Chunker's chunks never do).
   */
  seal(keys: Pick<Keys, 'sealKey'>, id: Uint8Array, plaintext: Uint8Array): Promise<Uint8Array> {
    const what = `sealing chunk ${Buffer.from(id).toString('hex').slice(0, 16)}…`;
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(sealError(what, 'the seal pool is closed'));
    return new Promise<Uint8Array>((resolve, reject) => {
      const job: Waiting = { keys, id, plaintext, what, resolve, reject };
      if (this.slots.length === 0) this.sealHere(job);
      else {
        this.waiting.push(job);
        this.pump();
      }
    });
  }

  /** Posts waiting jobs to workers with room; schedules a turn of this thread for the rest. */
  private pump(): void {
    if (this.failure || this.closing) return;
    while (this.waiting.length > 0) {
      const slot = this.slots.reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
      if (slot.jobs.size >= this.backlog) break;
      this.post(slot, this.waiting.shift()!);
    }
    if (this.waiting.length > 0 && !this.turnScheduled) {
      this.turnScheduled = true;
      setImmediate(() => this.turn());
    }
  }

  /** This thread's turn: the workers' answers came in since the last one, so refill them first; then seal one job here. */
  private turn(): void {
    this.turnScheduled = false;
    this.pump();
    if (this.failure || this.closing) return;
    const job = this.waiting.shift();
    if (job) this.sealHere(job);
    this.pump();
  }

  private sealHere(job: Waiting): void {
    let sealed: Uint8Array;
    try {
      sealed = seal(job.keys, job.id, job.plaintext);
    } catch (e) {
      job.reject(sealError(job.what, (e as Error).message, e));
      return;
    }
    this.counts.here++;
    job.resolve(sealed);
  }

  private post(slot: Slot, w: Waiting): void {
    const plain = new Uint8Array(w.plaintext.length);
    plain.set(w.plaintext);
    const job: SealJob = { seq: this.seq++, key: w.keys.sealKey, id: w.id, plain };
    if (slot.jobs.size === 0) slot.worker.ref();
    slot.jobs.set(job.seq, { resolve: w.resolve, reject: w.reject, what: w.what });
    slot.worker.postMessage(job, [plain.buffer]);
  }

  /** Stops the workers; jobs still out reject. Every call waits for the same stop. */
  close(): Promise<void> {
    if (!this.closed) {
      this.closing = true;
      this.rejectAll(this.failure ?? sealError('seal pool', 'closed with chunks still being sealed'));
      this.closed = Promise.all(this.slots.map((s) => s.worker.terminate())).then(() => {});
    }
    return this.closed;
  }

  private settle(slot: Slot, reply: SealReply): void {
    const job = slot.jobs.get(reply.seq);
    if (!job) return;
    slot.jobs.delete(reply.seq);
    if (slot.jobs.size === 0) slot.worker.unref();
    if ('error' in reply) job.reject(sealError(job.what, reply.error));
    else {
      this.counts.workers++;
      job.resolve(reply.sealed);
    }
    this.pump();
  }

  /** The first failure fails every job out and every later seal(); the workers are stopped. */
  private fail(e: CanopyError): void {
    if (this.failure || this.closing) return;
    this.failure = e;
    void this.close();
  }

  private rejectAll(e: CanopyError): void {
    for (const job of this.waiting.splice(0)) job.reject(e);
    for (const slot of this.slots) {
      for (const job of slot.jobs.values()) job.reject(e);
      slot.jobs.clear();
    }
  }
}
