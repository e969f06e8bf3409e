/** The failsafe writes' retry wait (controller/fleet/preflight.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nextRetryWaitMs } from '../../../controller/fleet/preflight.ts';

test('a failed failsafe write waits a minute, then twice as long each time, up to ten minutes', () => {
  const waits: number[] = [];
  let w: number | undefined;
  for (let i = 0; i < 6; i++) waits.push((w = nextRetryWaitMs(w)));
  assert.deepEqual(waits.map((ms) => ms / 60_000), [1, 2, 4, 8, 10, 10]);
});
