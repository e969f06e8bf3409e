/**
 * The wind stages (controller/fleet/wind-stage.ts): entered over their thresholds, left only
 * under them less the hysteresis; the net's altitude follows in one move of the whole net.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../firmware-bridge/log.ts';
import { windStage, WindStages, type WindStage } from '../../../controller/fleet/wind-stage.ts';

const LIMITS = { windLowerMs: 9, windLimitMs: 12 };

test('stages with hysteresis: calm up to 9 m/s, lower up to 12, land over it; each left 1.5 m/s under its threshold', () => {
  const table: [WindStage, number | undefined, WindStage][] = [
    ['calm', 9, 'calm'],
    ['calm', 9.1, 'lower'],
    ['calm', 12.1, 'land'],
    ['lower', 7.6, 'lower'],
    ['lower', 7.5, 'calm'],
    ['land', 10.6, 'land'],
    ['land', 10.5, 'lower'],
    ['land', 7, 'calm'],
    // Not measured lately: after a strong wind the net goes up lowered, to measure again.
    ['calm', undefined, 'calm'],
    ['land', undefined, 'lower'],
  ];
  for (const [was, w, want] of table) assert.equal(windStage(was, w, LIMITS), want, `${was} at ${w} m/s`);
});

test('the net moves to the lower altitude in one move, which ends once every holder is there (or after two minutes)', () => {
  const s = new WindStages({ ...LIMITS, altitudeM: 60, lowAltitudeM: 40 }, silentLogger);
  const min = 60_000;
  // Ten minutes of a 10 m/s wind from the holders' autopilots; a stale report does not count.
  for (let t = 0; t <= 10 * min; t += 10_000) s.judge(t, [{ windSpeedMs: 10, windAtMs: t }, { windSpeedMs: 30, windAtMs: t - 31_000 }], undefined);
  assert.equal(s.windMs(10 * min), 10);
  assert.equal(s.stage, 'lower');
  assert.equal(s.wantsMove(), true);
  s.startMove(10 * min);
  assert.deepEqual([s.netAltM, s.isMoving, s.wantsMove()], [40, true, false]);
  assert.equal(s.endMove(10 * min + 1000, false), false, 'holders still on their way');
  assert.equal(s.endMove(12 * min + 1, false), true, 'given up on after two minutes');
  assert.equal(s.isMoving, false);
});
