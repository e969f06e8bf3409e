/**
 * A seal worker's loop (loaded through seal-worker.js): seals each chunk it is sent with crypto.ts's
 * seal(), the same code the in-thread path runs, and sends the sealed bytes back (transferred, not
 * copied). A failure is answered as an error for that job; the worker carries on.
 */
import { parentPort, type MessagePort } from 'node:worker_threads';
import { seal } from './crypto.ts';
import type { SealJob, SealReply } from './seal-pool.ts';

export function answer(port: MessagePort, job: SealJob): void {
  let reply: SealReply;
  try {
    const sealed = seal({ sealKey: job.key }, job.id, job.plain);
    reply = { seq: job.seq, sealed };
    port.postMessage(reply, [sealed.buffer as ArrayBuffer]);
  } catch (e) {
    reply = { seq: job.seq, error: e instanceof Error ? e.message : String(e) };
    port.postMessage(reply);
  }
}

const port = parentPort;
if (!port) throw new Error('seal-worker.ts runs in a worker thread (seal-pool.ts starts it)');
port.on('message', (job: SealJob) => answer(port, job));
