/**
 * Energy today (controller/power/energy.ts): trapezoids between budget ticks, a reset at the
 * site's local midnight (mean solar time), and gaps longer than a minute left out, not guessed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dayStart, EnergyMeter, solarOffsetMs } from '../../controller/power/energy.ts';

const H = 3_600_000;

test('energy today integrates generation and loads between ticks', () => {
  const m = new EnergyMeter();
  const t0 = Date.UTC(2026, 5, 21, 10);
  m.add(t0, 0, 100);
  // A ramp 0 → 600 W over 30 s is 300 W on average; loads stay at 100 W.
  const e = m.add(t0 + 30_000, 600, 100);
  assert.ok(Math.abs(e.generatedWh - (300 * 30) / 3600) < 1e-9);
  assert.ok(Math.abs(e.consumedWh - (100 * 30) / 3600) < 1e-9);
  assert.equal(e.dayStartMs, Date.UTC(2026, 5, 21));
});

test('energy today resets at local midnight and skips gaps longer than a minute', () => {
  // Zürich, 8.54° E: local mean time is 34 minutes ahead of UTC.
  const offset = solarOffsetMs(8.54);
  assert.ok(Math.abs(offset - 8.54 * 240_000) < 1e-6);
  const midnight = Date.UTC(2026, 5, 22) - offset;
  assert.equal(dayStart(midnight - 1, offset), Date.UTC(2026, 5, 21) - offset);
  assert.equal(dayStart(midnight, offset), midnight);
  const m = new EnergyMeter(offset);
  for (let t = midnight - 10 * 60_000; t <= midnight - 10_000; t += 10_000) m.add(t, 360, 36);
  assert.ok(m.value!.generatedWh > 50, 'the evening counted');
  // The tick that crosses midnight counts only the part after it.
  const after = m.add(midnight + 30_000, 360, 36);
  assert.equal(after.dayStartMs, midnight);
  assert.ok(Math.abs(after.generatedWh - (360 * 30) / 3600) < 1e-9);
  // The controller was off for two hours: nothing is made up for it.
  const later = m.add(midnight + 2 * H, 360, 36);
  assert.equal(later.generatedWh, after.generatedWh);
});
