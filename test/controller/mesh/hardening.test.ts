/**
 * The mesh broker against clients nobody here wrote: backlogs released at once, crowds, oversized
 * packets, login floods and client-id takeovers (issue 15).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AedesPublishPacket } from 'aedes';
import { Mesh } from '../../../controller/mesh/mesh.ts';

test('a backlog released at once is delivered on fresh stacks: no delivery completes into the next one', { timeout: 60_000 }, async () => {
  const mesh = new Mesh({ tcp: false, ws: false });
  await mesh.start();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  try {
    let got = 0;
    let deepest = 0;
    await mesh.subscribe('t/#', () => {
      got++;
      deepest = Math.max(deepest, new Error().stack!.split('\n').length);
    });
    // A slow subscriber (a client whose socket is full) holds mqemitter's concurrency, so the
    // publishes queue; then it goes (the client disconnects) and its callbacks are all released.
    const held: (() => void)[] = [];
    const slow = (_p: AedesPublishPacket, cb: () => void) => held.push(cb);
    await new Promise<void>((r) => mesh.broker.subscribe('t/#', slow, r));
    const n = 20_000;
    for (let i = 0; i < n; i++) mesh.broker.publish({ cmd: 'publish', topic: 't/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => {});
    await new Promise((r) => setImmediate(r));
    assert.ok(held.length > 0, 'the slow subscriber holds deliveries');
    await new Promise<void>((r) => mesh.broker.unsubscribe('t/#', slow, r));
    for (const cb of held.splice(0)) cb();
    for (let i = 0; i < 200 && got < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got, n, 'every message delivered');
    assert.ok(deepest < 100, `handler stack depth stays flat (deepest ${deepest} frames)`);
  } finally {
    Error.stackTraceLimit = limit;
    await mesh.stop();
  }
});
