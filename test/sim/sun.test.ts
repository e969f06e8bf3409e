/**
 * The simulated sky: the site's clear sky under a seeded cloud cover.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { solarPosition } from '../../common/solar.ts';
import { CloudCover, recordedSkyIndex, skyModel } from '../../sim/sun.ts';

const HOUR = 3_600_000;
const MINUTE = 60_000;

test('sky model over a June day at 45°N, 0°E', () => {
  const sky = skyModel({ latitudeDeg: 45, longitudeDeg: 0, elevationM: 0 });
  const midnight = Date.UTC(2026, 5, 21);
  assert.equal(sky.ghiWm2(midnight), 0);
  assert.ok(sky.sunElevationDeg(midnight) < 0);
  assert.ok(sky.ghiWm2(midnight + 12 * HOUR) > 800);
  assert.equal(sky.cloudFactor(midnight + 12 * HOUR), 1);

  let peakMs = midnight;
  let peak = -1;
  for (let t = midnight; t < midnight + 24 * HOUR; t += MINUTE) {
    const ghi = sky.ghiWm2(t);
    assert.ok(ghi >= 0);
    if (ghi > peak) [peak, peakMs] = [ghi, t];
  }
  const eot = solarPosition({ timeMs: midnight + 12 * HOUR, latitudeDeg: 45, longitudeDeg: 0 }).equationOfTimeMin;
  const solarNoonMs = midnight + 12 * HOUR - eot * MINUTE;
  assert.ok(Math.abs(peakMs - solarNoonMs) <= 30 * MINUTE, `peak at ${new Date(peakMs).toISOString()}`);

  const haurwitz = skyModel({ latitudeDeg: 45, longitudeDeg: 0, elevationM: 0, model: 'haurwitz' });
  assert.ok(haurwitz.ghiWm2(midnight + 12 * HOUR) > 800);
  assert.equal(haurwitz.ghiWm2(midnight), 0);
});

test('midnight sun over McMurdo at the December solstice', () => {
  const sky = skyModel({ latitudeDeg: -77.85, longitudeDeg: 166.67, elevationM: 0 });
  const day = Date.UTC(2026, 11, 21);
  for (let h = 0; h < 24; h++) {
    const el = sky.sunElevationDeg(day + h * HOUR);
    assert.ok(el > 0, `sun below horizon at ${h}:00 UTC (${el}°)`);
    assert.ok(sky.ghiWm2(day + h * HOUR) > 0);
  }
});

test('cloud cover is a seeded, order-independent function of time', () => {
  const startMs = Date.UTC(2026, 0, 1);
  const times = Array.from({ length: 200 }, (_, i) => startMs - 6 * HOUR + i * 17 * MINUTE);
  const a = new CloudCover({ seed: 42, meanCover: 0.5, startMs });
  const b = new CloudCover({ seed: 42, meanCover: 0.5, startMs });
  const c = new CloudCover({ seed: 43, meanCover: 0.5, startMs });

  const forward = times.map((t) => a.factor(t));
  const backward = [...times].reverse().map((t) => b.factor(t)).reverse();
  assert.deepEqual(forward, backward);
  const shuffled = new CloudCover({ seed: 42, meanCover: 0.5, startMs });
  for (const i of [57, 3, 199, 0, 120, 3]) assert.equal(shuffled.factor(times[i]!), forward[i]);

  const other = times.map((t) => c.factor(t));
  assert.notDeepEqual(forward, other);

  for (const f of [...forward, ...other]) assert.ok(f >= 0.1 && f <= 1, `factor ${f}`);
  assert.ok(new Set(forward.map((f) => f.toFixed(6))).size > 10, 'cover should vary over time');

  // Smooth: a minute apart, barely different.
  for (const t of times) assert.ok(Math.abs(a.factor(t + MINUTE) - a.factor(t)) < 0.02);

  const clear = new CloudCover({ seed: 7, meanCover: 0, startMs });
  for (const t of times) assert.equal(clear.factor(t), 1);

  // More cover on average → less light on average.
  const mean = (cc: CloudCover) => times.reduce((s, t) => s + cc.factor(t), 0) / times.length;
  assert.ok(mean(new CloudCover({ seed: 1, meanCover: 0.9, startMs })) < mean(new CloudCover({ seed: 1, meanCover: 0.2, startMs })));

  const sky = skyModel({ latitudeDeg: 45, longitudeDeg: 0, elevationM: 0, clouds: a });
  assert.equal(sky.cloudFactor(times[10]!), forward[10]);
});

test('the recorded climate: the sky index of the same cloud climate in another year, not this one\'s clouds', () => {
  const site = { latitudeDeg: 53.55, longitudeDeg: 9.99, elevationM: 10 };
  const from = Date.UTC(2025, 5, 1);
  assert.equal(recordedSkyIndex({ ...site, meanCover: 0, changeHours: 3, seed: 1, fromMs: from }), 1, 'a cloudless climate is the clear sky');
  const a = recordedSkyIndex({ ...site, meanCover: 0.6, changeHours: 3, seed: 1, fromMs: from });
  const b = recordedSkyIndex({ ...site, meanCover: 0.6, changeHours: 3, seed: 2, fromMs: from });
  assert.notEqual(a, b, 'another seed, another year');
  assert.ok(Math.abs(a - b) < 0.02, `a year's record knows the climate to within 2 points: ${a} vs ${b}`);
  // This year's sky over 30 days under the same climate, weighted by energy as the record is.
  const sky = skyModel({ ...site, clouds: new CloudCover({ seed: 11, meanCover: 0.6, changeHours: 3, startMs: from + 365 * 86_400_000 }) });
  let measured = 0;
  let clear = 0;
  for (let t = from + 365 * 86_400_000; t < from + 395 * 86_400_000; t += HOUR) [measured, clear] = [measured + sky.ghiWm2(t) * sky.cloudFactor(t), clear + sky.ghiWm2(t)];
  assert.ok(Math.abs(measured / clear - a) < 0.06, `the record is near a month's own sky: ${a} vs ${measured / clear}`);
  assert.ok(a < 0.9 && a > 0.4, `a cover of 0.6 is a dull sky: ${a}`);
  const overcast = recordedSkyIndex({ ...site, meanCover: 0.9, changeHours: 3, seed: 1, fromMs: from });
  assert.ok(overcast < a, `more cover, less sun: ${overcast} < ${a}`);
});
