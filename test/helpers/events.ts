import type { EventEmitter } from 'node:events';

/** Resolves on the next `event`, or rejects after `ms` with a message naming what was awaited. */
export function nextEvent(emitter: EventEmitter, event: string, ms = 5000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no "${event}" event within ${ms} ms`));
    }, ms);
    const on = (...args: unknown[]) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, on);
  });
}

/** Polls `check` until it is true or `ms` pass. */
export async function eventually(check: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * Collects the bytes `link` emits as 'data' until `count` have arrived; rejects after `ms` saying
 * how many came. Listens from the moment it is called.
 */
export function receiveBytes(link: EventEmitter, count: number, ms = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const timer = setTimeout(() => {
      link.off('data', on);
      reject(new Error(`${got} of ${count} bytes arrived within ${ms} ms`));
    }, ms);
    const on = (chunk: Buffer) => {
      chunks.push(Buffer.from(chunk));
      got += chunk.length;
      if (got < count) return;
      clearTimeout(timer);
      link.off('data', on);
      resolve(Buffer.concat(chunks));
    };
    link.on('data', on);
  });
}
