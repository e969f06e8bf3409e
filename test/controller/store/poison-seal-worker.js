// A seal worker that fails on purpose (seal-pool.test.ts): a chunk containing "POISON" throws out
// of the message handler (an uncaught error in the worker), one containing "EXIT-7" ends the
// thread with exit code 7, one containing "HOLD" is never answered; everything else is sealed by
// the real worker's answer().
import { parentPort } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
const { answer } = await import('../../../controller/store/seal-worker.ts');
parentPort.removeAllListeners('message');
parentPort.on('message', (job) => {
  const text = Buffer.from(job.plain).toString('latin1');
  if (text.includes('POISON')) throw new Error('poisoned chunk');
  if (text.includes('EXIT-7')) process.exit(7);
  if (text.includes('HOLD')) return;
  answer(parentPort, job);
});
