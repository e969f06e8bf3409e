/**
 * The power history behind `<base>/power/history`: 5-minute averages of the published power
 * states, each with what the first forecast covering it expected (later forecasts do not rewrite
 * it), the last 24 hours only, published retained when a step is complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PowerHistoryRecorder } from '../../../controller/dashboard/history.ts';
import type { Mesh } from '../../../controller/mesh/mesh.ts';
import { topicTree, type PowerHistory, type PowerState } from '../../../common/topics.ts';

function fakeMesh() {
  const published: { topic: string; payload: string; retain?: boolean }[] = [];
  const mesh = {
    topics: topicTree('canopy'),
    publish: (topic: string, payload: string, opts: { retain?: boolean } = {}) => {
      published.push({ topic, payload, retain: opts.retain });
      return Promise.resolve();
    },
  } as unknown as Mesh;
  return { mesh, published };
}

const T0 = Date.UTC(2026, 5, 21, 9);
const Q = 15 * 60_000;

function state(atMs: number, solarW: number, forecast?: PowerState['forecast']): PowerState {
  return { solarW, loadW: 100, batteryPct: 80, dishW: 0, uplinkGranted: false, ghiWm2: solarW / 2, forecast, updatedAt: atMs };
}

test('power history: 5-minute averages with the first forecast for each step, published retained', () => {
  const { mesh, published } = fakeMesh();
  const h = new PowerHistoryRecorder(mesh);
  // The day-ahead forecast (made at 09:00) says 400 W/m² at 09:00 rising to 700 at 09:15.
  h.add(state(T0, 1000, [{ atMs: T0, ghiWm2: 400, stations: 5 }, { atMs: T0 + Q, ghiWm2: 700, stations: 6 }]));
  // States every 5 s; generation 1000 W in the first step, 2000 W in the second. A later forecast
  // that says something else does not rewrite what was forecast first.
  for (let t = T0 + 5000; t < T0 + 10 * 60_000; t += 5000) h.add(state(t, t < T0 + 5 * 60_000 ? 1000 : 2000, [{ atMs: T0 + Q, ghiWm2: 100, stations: 1 }]));
  h.add(state(T0 + 10 * 60_000, 3000));
  assert.equal(published.length, 2, 'one publication per finished step');
  assert.ok(published.every((p) => p.topic === 'canopy/power/history' && p.retain));
  const last = JSON.parse(published[1]!.payload) as PowerHistory;
  assert.equal(last.stepMs, 300_000);
  assert.deepEqual(last.points.map((p) => [p.atMs, p.solarW, p.loadW, p.batteryPct, p.ghiWm2]), [
    [T0, 1000, 100, 80, 500],
    [T0 + 300_000, 2000, 100, 80, 1000],
  ]);
  // Step mid-points 09:02:30 and 09:07:30 on the line from 400 (09:00) to 700 (09:15).
  assert.equal(last.points[0]!.forecastGhiWm2, 450);
  assert.equal(last.points[1]!.forecastGhiWm2, 550);
});

test('power history keeps the last 24 hours', () => {
  const { mesh, published } = fakeMesh();
  const h = new PowerHistoryRecorder(mesh);
  for (let t = T0; t <= T0 + 25 * 3_600_000; t += 60_000) h.add(state(t, 500));
  const last = JSON.parse(published.at(-1)!.payload) as PowerHistory;
  const span = last.points.at(-1)!.atMs - last.points[0]!.atMs;
  assert.ok(span <= 24 * 3_600_000 && span >= 24 * 3_600_000 - 2 * 300_000, `spans a day (${span / 3_600_000} h)`);
  assert.equal(last.points[0]!.forecastGhiWm2, undefined, 'no forecast was made for it');
});
