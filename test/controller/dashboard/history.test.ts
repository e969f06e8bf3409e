/**
 * The histories a page opened later draws: the power history behind `<base>/power/history`
 * (5-minute averages of the published power states, each with what the first forecast covering it
 * expected, later forecasts not rewriting it, the last 24 hours only, published retained when a
 * step is complete and every minute with the step under way), and the event history behind
 * `<base>/bridge/event/history` (the bridge events since the site's local midnight, bounded,
 * republished at most once a second with the last of a burst).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { EventHistoryRecorder, PowerHistoryRecorder } from '../../../controller/dashboard/history.ts';
import type { Mesh } from '../../../controller/mesh/mesh.ts';
import { topicTree, type BridgeEvent, type EventHistory, type PowerHistory, type PowerState } from '../../../common/topics.ts';

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
  assert.ok(published.every((p) => p.topic === 'canopy/power/history' && p.retain));
  const histories = published.map((p) => JSON.parse(p.payload) as PowerHistory);
  // By the newest state in each: the step under way at once and then every minute (09:00, 09:01 …
  // 09:04), the first step finished by the 09:05 state (its newest 09:04:55), the second under way
  // every minute after that, then finished by the 09:10 state.
  assert.deepEqual(histories.map((x) => (x.updatedAt - T0) / 1000), [0, 60, 120, 180, 240, 295, 355, 415, 475, 535, 595, 595]);
  // Half a minute into the second step: the first step's average, then the second's so far.
  const partial = histories[6]!;
  assert.deepEqual(partial.points.map((p) => [p.atMs, p.solarW]), [[T0, 1000], [T0 + 300_000, 2000]]);
  const last = histories.at(-1)!;
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
  assert.ok(last.points.length <= 24 * 12 + 1, `${last.points.length} points`);
  const span = last.points.at(-1)!.atMs - last.points[0]!.atMs;
  assert.ok(span <= 24 * 3_600_000 && span >= 24 * 3_600_000 - 2 * 300_000, `spans a day (${span / 3_600_000} h)`);
  assert.equal(last.points[0]!.forecastGhiWm2, undefined, 'no forecast was made for it');
});

const transition = (atMs: number, sysid: number, to: string): BridgeEvent => ({ type: 'fleet-transition', data: { sysid, from: 'ready', to, reason: 'the net grows', atMs } });

test('event history: the events since local midnight, bounded, republished at most once a second with the last of a burst', () => {
  const { mesh, published } = fakeMesh();
  const clock = new ManualClock(T0);
  const h = new EventHistoryRecorder(mesh, clock, 5, 1000);
  const midnight = Date.UTC(2026, 5, 21, 0);
  h.startDay(midnight);
  const last = () => JSON.parse(published.at(-1)!.payload) as EventHistory;
  // The morning launch: the first event is published at once, the burst after it a second later.
  h.add(transition(T0, 1, 'launching'));
  assert.equal(published.length, 1);
  assert.ok(published.every((p) => p.topic === 'canopy/bridge/event/history' && p.retain));
  h.add(transition(T0 + 10, 2, 'launching'));
  h.add(transition(T0 + 20, 3, 'launching'));
  assert.equal(published.length, 1, 'the burst waits for the second to pass');
  clock.advance(1000);
  assert.equal(published.length, 2, 'then goes out with its last event');
  assert.deepEqual(last().events.map((e) => (e.type === 'fleet-transition' ? e.data.sysid : 0)), [1, 2, 3]);
  assert.equal(last().dayStartMs, midnight);
  // Bounded: the newest five.
  for (let i = 4; i <= 8; i++) h.add(transition(T0 + 2000 + i, i, 'launching'));
  clock.advance(1000);
  assert.deepEqual(last().events.map((e) => (e.type === 'fleet-transition' ? e.data.sysid : 0)), [4, 5, 6, 7, 8]);
  // An event from before the day is not the day's; a new day drops yesterday's.
  h.add(transition(midnight - 1, 9, 'landing'));
  clock.advance(1000);
  assert.equal(last().events.length, 5);
  h.add(transition(midnight + 24 * 3_600_000 + 5, 10, 'charging'));
  h.startDay(midnight + 24 * 3_600_000);
  clock.advance(1000);
  assert.deepEqual(last().events.map((e) => (e.type === 'fleet-transition' ? e.data.sysid : 0)), [10]);
});
