/**
 * The fleet's wind estimate: the ten-minute mean of each source (the holders' autopilots, their
 * median; a station anemometer), the stronger of the two, nothing before three minutes of readings,
 * and a source forgotten after ten silent minutes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WindEstimate } from '../../../controller/fleet/wind.ts';

const MIN = 60_000;

test('the holders\' median, as a ten-minute time-weighted mean once three minutes are covered', () => {
  const w = new WindEstimate();
  // One confused EKF (40 m/s) among three: the median ignores it.
  for (let t = 0; t < 2.5 * MIN; t += 10_000) w.update(t, [8, 40, 8.5]);
  assert.equal(w.value(2.5 * MIN), undefined, 'two and a half minutes are not a mean wind');
  for (let t = 2.5 * MIN; t <= 10 * MIN; t += 10_000) w.update(t, [8, 40, 8.5]);
  assert.equal(w.value(10 * MIN), 8.5);
  // Five minutes at 12.5: the last ten minutes average (5 × 8.5 + 5 × 12.5) / 10.
  for (let t = 10 * MIN + 10_000; t <= 15 * MIN; t += 10_000) w.update(t, [12.5, 12.5]);
  assert.ok(Math.abs(w.value(15 * MIN)! - 10.5) < 0.1, String(w.value(15 * MIN)));
});

test('the stronger source counts; a silent source is forgotten after ten minutes', () => {
  const w = new WindEstimate();
  for (let t = 0; t <= 5 * MIN; t += 10_000) w.update(t, [6], 9);
  assert.equal(w.value(5 * MIN), 9, 'the anemometer reads more than the drones');
  // The drones land; the anemometer keeps reading.
  for (let t = 5 * MIN + 10_000; t <= 20 * MIN; t += 10_000) w.update(t, [], 7);
  assert.equal(w.value(20 * MIN), 7);
  // Then nothing at all.
  assert.equal(w.value(20 * MIN + 9 * MIN), 7);
  assert.equal(w.value(20 * MIN + 11 * MIN), undefined);
  // A new reading after the silence starts a new mean: three minutes before it counts.
  w.update(31 * MIN, [10]);
  assert.equal(w.value(31 * MIN + 1000), undefined);
});
