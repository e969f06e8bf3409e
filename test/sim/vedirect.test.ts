import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { bmvReading, mpptReading, VeDirectParser, type BmvReading } from '../../hardware/vedirect.ts';
import { SimBmv } from '../../sim/vedirect.ts';

function bmvRun(opts: Omit<ConstructorParameters<typeof SimBmv>[0], 'clock'>, seconds: number) {
  const clock = new ManualClock(Date.UTC(2026, 5, 1));
  const parser = new VeDirectParser();
  const blocks: ReturnType<VeDirectParser['push']> = [];
  const bmv = new SimBmv({ clock, ...opts }, (b) => blocks.push(...parser.push(b)));
  bmv.start();
  clock.advance(seconds * 1000);
  bmv.stop();
  return { bmv, blocks, parser, readings: blocks.map((b) => bmvReading(b, 0)).filter((r): r is BmvReading => r !== undefined) };
}

test('simulated BMV: a main block and a history block a second, the charge counted from the current', () => {
  // 10 A out of 100 Ah for an hour: a tenth of the battery.
  const { blocks, parser, readings, bmv } = bmvRun({ currentA: () => -10, capacityAh: 100, initialSoc: 0.9 }, 3600);
  assert.equal(blocks.length, 7200);
  assert.equal(parser.stats.badBlocks, 0);
  assert.equal(readings.length, 3600, 'every main block is a reading, no history block is');
  assert.ok(blocks.every((b) => mpptReading(b, 0) === undefined), 'a monitor is no charger');
  assert.ok(Math.abs(bmv.soc - 0.8) < 1e-9);
  const last = readings.at(-1)!;
  assert.equal(last.soc, 0.8);
  assert.equal(last.consumedAh, -20);
  assert.equal(last.batteryA, -10);
  assert.ok(Math.abs(last.batteryW - last.batteryV * -10) < 1);
  // Down to the 50 % floor at 10 A: 30 Ah, 180 minutes.
  assert.equal(last.timeToGoMin, 180);
  const history = new Map(blocks.at(-1)!.fields);
  assert.equal(history.get('H6'), '-10000', 'cumulative Ah drawn, mAh');
  assert.equal(history.get('H1'), '-20000', 'deepest discharge, mAh');
  assert.ok(Number(history.get('H7')) <= Number(history.get('H8')));
});

test('simulated BMV: charging is an infinite time to go, low SOC raises the alarm, an unsynchronised monitor sends "---"', () => {
  const charging = bmvRun({ currentA: () => 4, initialSoc: 0.6 }, 10).readings.at(-1)!;
  assert.equal(charging.timeToGoMin, null);
  assert.equal(charging.alarm, false);
  const low = bmvRun({ currentA: () => -5, initialSoc: 0.45 }, 5).readings.at(-1)!;
  assert.deepEqual([low.alarm, low.alarmReasons, low.relayOn], [true, ['low SOC'], true]);
  const unsynced = bmvRun({ currentA: () => -5, synchronised: false }, 3).readings.at(-1)!;
  assert.deepEqual([unsynced.soc, unsynced.consumedAh, unsynced.timeToGoMin, unsynced.alarm], [undefined, undefined, undefined, false]);
});
