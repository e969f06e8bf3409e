import { ManualClock, settle, type Clock } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { MavlinkNode, type Inbound } from '../../firmware-bridge/node.ts';
import type { Channel, ChannelOptions } from '../../firmware-bridge/channel.ts';

/** Two MAVLink nodes joined by an in-memory link pair, started, heartbeats off. */
export async function nodePair(opts: { clock?: Clock; a?: { sysid?: number; compid?: number; channel?: ChannelOptions }; b?: { sysid?: number; compid?: number; channel?: ChannelOptions } } = {}) {
  const clock = opts.clock ?? new ManualClock();
  const [la, lb] = createMemoryPair('a', 'b');
  const a = new MavlinkNode({ clock, sysid: opts.a?.sysid ?? 255, compid: opts.a?.compid ?? 190, heartbeatHz: 0 });
  const b = new MavlinkNode({ clock, sysid: opts.b?.sysid ?? 1, compid: opts.b?.compid ?? 1, heartbeatHz: 0 });
  const ca = a.addLink(la, opts.a?.channel);
  const cb = b.addLink(lb, opts.b?.channel);
  await la.start();
  await lb.start();
  return { clock, a, b, ca, cb, la, lb };
}

/** Collects decoded messages a node receives. */
export function collect(node: MavlinkNode): Inbound[] {
  const got: Inbound[] = [];
  node.on('message', (m) => got.push(m));
  return got;
}

/** Lets in-memory deliveries (setImmediate) run. */
export async function flush(rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) await settle();
}

export type { Channel };

/**
 * Runs a ManualClock forward in small steps, letting in-memory deliveries happen between them
 * (each step yields to the event loop), until `done` settles or `maxMs` of simulated time pass.
 */
export async function runUntil<T>(clock: ManualClock, done: Promise<T>, maxMs = 60_000, stepMs = 10): Promise<T> {
  let finished = false;
  let value!: T;
  void done.then((v) => {
    finished = true;
    value = v;
  });
  for (let t = 0; t < maxMs && !finished; t += stepMs) await clock.advanceAsync(stepMs);
  await flush();
  if (!finished) throw new Error(`not finished after ${maxMs} ms of simulated time`);
  return value;
}
