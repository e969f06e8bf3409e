/** The failsafe writes' retry wait (controller/fleet/preflight.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRetryWaitMs } from '../../../controller/fleet/preflight.ts';

test('a refused failsafe write waits a minute, then twice as long each time, up to ten minutes', () => {
  const waits: number[] = [];
  let w: number | undefined;
  for (let i = 0; i < 6; i++) waits.push((w = nextRetryWaitMs(w, 'rejected')));
  assert.deepEqual(waits.map((ms) => ms / 60_000), [1, 2, 4, 8, 10, 10]);
});

test('an unanswered failsafe write is tried again after 5 s, doubling; never less than a minute once refused', () => {
  const waits: number[] = [];
  let w: number | undefined;
  for (let i = 0; i < 5; i++) waits.push((w = nextRetryWaitMs(w, i % 2 ? 'absent' : 'timeout')));
  assert.deepEqual(waits.map((ms) => ms / 1000), [5, 10, 20, 40, 80]);
  assert.equal(nextRetryWaitMs(10_000, 'rejected'), 60_000);
});
