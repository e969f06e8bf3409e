/**
 * The relief energy model (controller/fleet/relief.ts): the smoothed draw, the relieve level (home
 * and down, with the margin) and when a drone on station asks for relief.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DrawMeter, ReliefModel, type Energy } from '../../../controller/fleet/relief.ts';

const model = new ReliefModel({ batteryWh: 222, marginFraction: 0.1 });
const at = (patch: Partial<Energy> = {}): Energy => ({ pct: 50, drawW: 500, here: { n: 0, e: 0, u: 60 }, pad: { n: 50, e: 0 }, ...patch });

test('the draw is smoothed over about a minute', () => {
  const m = new DrawMeter();
  m.measure(25, 20, 0);
  assert.equal(m.watts, 500);
  m.measure(25, 40, 30_000);
  assert.equal(m.watts, 750, 'half way after half a minute');
  m.measure(undefined, 40, 40_000);
  assert.equal(m.watts, 750, 'no reading, no change');
});

test('the relieve level is the energy home and down at no less than the airframe\'s own draw, plus the margin', () => {
  // 8 m up, 50 m home, 58 m down at 1.5 m/s then 10 m at 0.5, and 20 s: 135.87 s at 500 W.
  const pct = model.relievePct(at(), 60);
  assert.ok(Math.abs(pct - 100 * ((500 * (8 / 2.5 + 50 / 5 + 58 / 1.5 + 20 + 20)) / 3600 / 222 + 0.1)) < 1e-9);
  assert.equal(model.relievePct(at({ drawW: -100 }), 60), model.relievePct(at({ drawW: 440 }), 60), 'charging in the sun counts as hovering without it');
  assert.ok(model.relievePct(at({ here: { n: 0, e: 0, u: 40 } }), 40) < pct, 'a lower net is nearer the ground');
});

test('time to the relieve level: none at or under it, none while charging above it', () => {
  const level = model.relievePct(at(), 60);
  assert.equal(model.secondsToRelieve(at({ pct: level }), 60), 0);
  assert.equal(model.secondsToRelieve(at({ drawW: -50 }), 60), Infinity);
  assert.ok(Math.abs(model.secondsToRelieve(at(), 60) - ((50 - level) / 100) * 222 * 3600 / 500) < 1e-6);
});

test('a drone asks for relief a launch plus one relief per drone due before it (and per token operation under way) ahead of its level', () => {
  const level = model.relievePct(at(), 60);
  // 5 minutes to its level at 500 W.
  const d = at({ pct: level + (500 * 300) / 3600 / 2.22 });
  const none = { relieving: 0, holding: [] };
  assert.equal(model.due(d, none, false, 180_000, 60), false, '300 s ahead of a 60 s launch');
  assert.equal(model.due(d, none, true, 180_000, 60), false, '…and of a 180 s relief under way');
  assert.equal(model.due(d, { relieving: 1, holding: [] }, true, 180_000, 60), true, '…but not of one more due before it');
  assert.equal(model.due(d, { relieving: 0, holding: [at({ pct: level + 1 })] }, true, 180_000, 60), true, 'one nearer its level is due before it');
  assert.equal(model.due(d, { relieving: 0, holding: [at({ pct: 99 })] }, true, 180_000, 60), false, 'one further from it is not');
});
