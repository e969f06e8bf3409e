/**
 * The one place where a request waits for its answer (zigbee-herdsman's waitress): a predicate
 * over messages from a MessagePort, a timeout on the injected clock, and cancellation.
 */
import type { MavLinkData, MavLinkDataConstructor } from 'mavlink-mappings';
import type { TimerHandle } from '../clock.ts';
import type { MessagePort } from '../node.ts';

export type WaitResult<T> = { ok: true; message: T } | { ok: false; reason: 'timeout' | 'cancelled' };

export interface Wait<T> {
  readonly result: Promise<WaitResult<T>>;
  cancel(): void;
  /** Restarts the timeout (e.g. after COMMAND_ACK IN_PROGRESS). */
  extend(ms: number): void;
}

/** Waits for the first message of `type` from the port's target that satisfies `match`. */
export function waitFor<T extends MavLinkData>(port: MessagePort, type: MavLinkDataConstructor<T>, match: (m: T) => boolean, timeoutMs: number): Wait<T> {
  return waitForAny(port, (m): m is T => m instanceof type && match(m), timeoutMs);
}

/** Waits for the first message from the port's target that `accept` takes, of whatever type (an answer or the error that replaces it). */
export function waitForAny<T extends MavLinkData>(port: MessagePort, accept: (m: MavLinkData) => m is T, timeoutMs: number): Wait<T> {
  let settle!: (r: WaitResult<T>) => void;
  const result = new Promise<WaitResult<T>>((resolve) => (settle = resolve));
  let timer: TimerHandle | undefined;
  let done = false;
  const finish = (r: WaitResult<T>) => {
    if (done) return;
    done = true;
    port.clock.clearTimeout(timer);
    unsubscribe();
    settle(r);
  };
  const unsubscribe = port.onMessage((msg) => {
    if (accept(msg)) finish({ ok: true, message: msg });
  });
  const arm = (ms: number) => {
    port.clock.clearTimeout(timer);
    timer = port.clock.setTimeout(() => finish({ ok: false, reason: 'timeout' }), ms);
  };
  arm(timeoutMs);
  return {
    result,
    cancel: () => finish({ ok: false, reason: 'cancelled' }),
    extend: (ms) => {
      if (!done) arm(ms);
    },
  };
}
