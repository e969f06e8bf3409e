/**
 * The transit token (controller/fleet/token.ts) and the pace it teaches (pace.ts): holds that ran
 * their course are smoothed into the launch and return times; the transit layer is clear of
 * drones landing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pace } from '../../../controller/fleet/pace.ts';
import { MOVE_TOKEN, TransitToken, transitLayerClear } from '../../../controller/fleet/token.ts';

test('a hold that ran its course is folded into the pace; one cut short, too long or the net\'s move is not', () => {
  const pace = new Pace();
  const token = new TransitToken(pace);
  token.pass(1, 0, undefined);
  token.pass(1, 5_000, 'launch');
  assert.equal(token.holder, 1, 'the same holder again changes nothing');
  token.pass(undefined, 20_000, 'launch');
  assert.deepEqual(pace.transit(), { launchMs: 20_000 });
  token.pass(2, 30_000, undefined);
  token.pass(undefined, 60_000, 'launch');
  assert.equal(pace.transit().launchMs, 0.8 * 20_000 + 0.2 * 30_000);
  token.pass(3, 60_000, undefined);
  token.pass(undefined, 60_500, 'return');
  token.pass(4, 61_000, undefined);
  token.pass(undefined, 400_000, 'return');
  token.pass(MOVE_TOKEN, 400_000, undefined);
  token.pass(undefined, 430_000, undefined);
  assert.deepEqual(Object.keys(pace.transit()), ['launchMs'], 'half a second and over five minutes are no pace');
  token.pass(5, 430_000, undefined);
  token.pass(undefined, 455_000, 'return');
  assert.equal(pace.transit().landMs, 25_000);
});

test('a relief\'s duration is learnt', () => {
  const pace = new Pace();
  pace.noteRelief(280_000);
  assert.equal(pace.reliefMs, 0.7 * 180_000 + 0.3 * 280_000);
});

test('the transit layer is clear once every drone landing is a separation under it', () => {
  assert.equal(transitLayerClear(48, 5, []), true);
  assert.equal(transitLayerClear(48, 5, [20, 43]), true);
  assert.equal(transitLayerClear(48, 5, [20, 43.5]), false);
});
