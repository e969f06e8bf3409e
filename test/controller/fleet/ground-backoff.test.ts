/**
 * The ground backoff (controller/fleet/ground-backoff.ts): 2 s after the first refusal, twice as
 * long after each further one, never more than a minute.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { leftS, NO_BACKOFF, refuse, waiting } from '../../../controller/fleet/ground-backoff.ts';

test('the wait doubles from 2 s up to a minute, and is over when its time has come', () => {
  let b = NO_BACKOFF;
  const waits: number[] = [];
  for (let i = 0; i < 7; i++) {
    const r = refuse(b, 1000);
    waits.push(r.waitMs);
    b = r.backoff;
  }
  assert.deepEqual(waits, [2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
  assert.equal(waiting(b, 60_999), true);
  assert.equal(leftS(b, 59_500), 2);
  assert.equal(waiting(b, 61_000), false);
  assert.equal(leftS(b, 70_000), 0);
  assert.equal(refuse(NO_BACKOFF, 0).waitMs, 2000, 'after a command is taken it starts over');
});
