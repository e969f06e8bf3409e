/**
 * scrypt (RFC 7914, node:crypto) in worker threads of its own, `size` checks at once, the rest in
 * line. Not node:crypto's async scrypt: that runs on libuv's pool of four threads, each with its
 * own malloc arena, and glibc's dynamic mmap threshold keeps a freed 16 MiB work area in the arena
 * it came from, so four checks in a row left 64 MB resident for good (measured); one dedicated
 * thread reuses one area (16 MB, measured). A thread also keeps the event loop free while a check
 * runs (≈ 0.14 s on a laptop core, a second on a Pi). Idle threads do not keep the process alive.
 */
import { Worker } from 'node:worker_threads';
import { CanopyError } from '../../common/errors.ts';

export interface ScryptJob {
  password: string | Uint8Array;
  salt: Uint8Array;
  dkLen: number;
  N: number;
  r: number;
  p: number;
}

/** The thread's side, CommonJS for `eval: true` (no loader needed for a TypeScript file). */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { scryptSync } = require('node:crypto');
parentPort.on('message', ({ password, salt, dkLen, N, r, p }) => {
  try {
    // maxmem: the 128·N·r bytes of work memory plus p blocks; node's default (32 MiB) is too small for N = 2^15, r = 8 (older hashes).
    parentPort.postMessage({ key: scryptSync(password, salt, dkLen, { N, r, p, maxmem: 128 * N * r + 1024 * 1024 * p }) });
  } catch (e) {
    parentPort.postMessage({ error: e instanceof Error ? e.message : String(e) });
  }
});
`;

interface Waiting {
  job: ScryptJob;
  resolve: (key: Uint8Array) => void;
  reject: (e: Error) => void;
}

interface Thread {
  worker: Worker;
  current?: Waiting;
}

export class ScryptPool {
  private readonly threads: Thread[] = [];
  private readonly queue: Waiting[] = [];
  private closed = false;

  constructor(private readonly size = 1) {
    if (!(size >= 1)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `scrypt threads: ${size}; at least 1`);
  }

  derive(job: ScryptJob): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new CanopyError('CANOPY_ERR_STATE', 'the scrypt pool is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.next();
    });
  }

  /** Ends the threads; checks running or still in line are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const threads = this.threads.splice(0);
    const refused = [...this.queue.splice(0), ...threads.flatMap((t) => (t.current ? [t.current] : []))];
    for (const w of refused) w.reject(new CanopyError('CANOPY_ERR_STATE', 'the scrypt pool is closed'));
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  private next(): void {
    while (this.queue.length > 0) {
      let thread = this.threads.find((t) => !t.current);
      if (!thread && this.threads.length < this.size) thread = this.spawn();
      if (!thread) return;
      const waiting = this.queue.shift()!;
      thread.current = waiting;
      thread.worker.ref();
      thread.worker.postMessage(waiting.job);
    }
  }

  private spawn(): Thread {
    const thread: Thread = { worker: new Worker(WORKER_SOURCE, { eval: true }) };
    const settle = (outcome: { key?: Uint8Array; error?: string }) => {
      const w = thread.current;
      thread.current = undefined;
      thread.worker.unref();
      if (w) {
        if (outcome.key) w.resolve(outcome.key);
        else w.reject(new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `scrypt: ${outcome.error ?? 'no key'}`));
      }
      this.next();
    };
    thread.worker.on('message', settle);
    // A thread that dies takes its check with it; the next check gets a new thread.
    const lost = (why: string) => {
      const i = this.threads.indexOf(thread);
      if (i < 0) return;
      this.threads.splice(i, 1);
      settle({ error: why });
    };
    thread.worker.on('error', (e) => lost(e.message));
    thread.worker.on('exit', (code) => lost(`its thread exited (${code})`));
    this.threads.push(thread);
    return thread;
  }
}
