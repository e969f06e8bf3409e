/**
 * The VE.Direct reader against the simulated charge controller: over a pseudo-terminal at 19200
 * baud with a noisy cable and HEX frames in between, across an unplug; and as the power budget's
 * reference cell.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock, SystemClock } from '../../firmware-bridge/clock.ts';
import { createLink, createMemoryPair } from '../../firmware-bridge/links/index.ts';
import { ChargeController, irradianceFromMppt } from '../../controller/power/charge-controller.ts';
import { parseConfig } from '../../controller/config.ts';
import { isCodedError } from '../../firmware-bridge/errors.ts';
import { PowerPlanner } from '../../controller/power/budget.ts';
import { VeDirectReader, mpptReading, type MpptReading } from '../../hardware/vedirect.ts';
import { serveMppt, type SimMpptOptions } from '../../sim/vedirect.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { eventually, nextEvent } from '../helpers/events.ts';
import { PtyPair } from '../helpers/pty.ts';
import { needCommand } from '../helpers/tools.ts';
import { powerProfile } from '../helpers/power-profile.ts';
import { freePort } from '../../harness/rigs/ports.ts';

const clock = new SystemClock();

/** The simulated charge controller on one end of a fresh pty pair (the test reads `pty.b`); stopped after the test. */
async function mpptOnPty(t: { after(fn: () => Promise<void>): void }, opts: Omit<SimMpptOptions, 'clock'>) {
  const pty = new PtyPair();
  await pty.start();
  const device = createLink(`serial:${pty.a}?baud=19200`, { clock, waitForDevice: true });
  await device.start();
  const mppt = serveMppt(device, { clock, ...opts });
  t.after(async () => {
    mppt.stop();
    await device.stop();
    await pty.dispose();
  });
  return { pty, mppt };
}

test('reader over a pseudo-terminal: typed readings from a noisy line, bad blocks counted, back after an unplug', { timeout: 30_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  // 600 W/m² on a 400 Wp panel at 85 %: 204 W, all of it taken in bulk by a battery at 60 %.
  const { pty } = await mpptOnPty(t, { irradiance: () => 600, intervalMs: 50, byteErrorRate: 0.0005, hexEvery: 3, seed: 5 });
  const reader = new VeDirectReader(`serial:${pty.b}`, mpptReading, { clock });
  assert.equal(reader.url, `serial:${pty.b}?baud=19200`);
  const readings: MpptReading[] = [];
  reader.on('reading', (r) => readings.push(r));
  await reader.start();
  try {
    await eventually(() => readings.length >= 20 && reader.stats.badBlocks > 0, 15_000, '20 readings and a corrupted block');
    for (const r of readings) {
      assert.equal(r.solarW, 204);
      assert.equal(r.state, 3);
      assert.equal(r.stateName, 'bulk');
      assert.equal(r.trackerName, 'MPP tracker active');
      assert.ok(Math.abs(r.solarV * r.solarA - 204) < 1e-9, 'panel current derived as PPV / VPV');
      assert.ok(Math.abs(r.batteryV * r.batteryA - 204) < 1, `${r.batteryV} V × ${r.batteryA} A`);
      assert.equal(r.productId, '0xA060');
    }
    assert.ok(reader.stats.hexFrames > 0, 'HEX frames were skipped');
    assert.ok(readings.at(-1)!.yieldTotalWh! >= readings[0]!.yieldTotalWh!);

    // Unplug (socat goes away with both pty ends), plug back in: the reader comes back by itself.
    const down = nextEvent(reader, 'down');
    await pty.stop();
    await down;
    const before = readings.length;
    const up = nextEvent(reader, 'up', 10_000);
    await pty.start();
    await up;
    await eventually(() => readings.length >= before + 5, 10_000, 'readings after the reconnect');
    assert.ok(reader.stats.blocks >= readings.length);
  } finally {
    await reader.stop();
  }
});

test('irradiance from a reading: only bulk with the tracker active measures the sky; night reads 0', () => {
  const r = (over: Partial<MpptReading>): MpptReading => ({ atMs: 0, batteryV: 13, batteryA: 10, solarV: 35, solarW: 160, solarA: 4.6, state: 3, stateName: 'bulk', tracker: 2, error: 0, errorName: 'no error', ...over });
  assert.equal(irradianceFromMppt(r({}), 400, 0.8), 500);
  assert.equal(irradianceFromMppt(r({ tracker: undefined }), 400, 0.8), 500, 'firmware without the MPPT field');
  assert.equal(irradianceFromMppt(r({ state: 5, tracker: 1 }), 400), undefined, 'float: the panel is held back');
  assert.equal(irradianceFromMppt(r({ state: 4 }), 400), undefined, 'absorption');
  assert.equal(irradianceFromMppt(r({ tracker: 1 }), 400), undefined, 'bulk but current-limited');
  assert.equal(irradianceFromMppt(r({ state: 0, solarV: 0.01, solarW: 0 }), 400), 0, 'night');
  assert.equal(irradianceFromMppt(r({ state: 0, solarV: 40, solarW: 0 }), 400), undefined, 'off with panel voltage: not the sky');
  assert.equal(irradianceFromMppt(r({ state: 2, error: 17 }), 400), undefined, 'fault');
});

test('charge controller as the budget reference cell: half the clear sky on the panel is a cloud factor of one half', async () => {
  const clock = new ManualClock(Date.parse('2026-06-21T11:30:00Z'));
  const planner = new PowerPlanner(clock, powerProfile());
  const clear = planner.clearSkyGhiWm2(clock.now());
  const [device, host] = createMemoryPair('mppt', 'pi');
  await device.start();
  await host.start();
  let sky = 0.5;
  const mppt = serveMppt(device, { clock, irradiance: () => sky * clear, panelWp: 400, performance: 0.85, initialSoc: 0.5 });
  const cc = new ChargeController({ url: 'serial:/dev/ttyUSB1', panelWp: 400, performanceRatio: 0.85, clock, link: host });
  await cc.start();
  try {
    assert.equal(cc.referenceGhiWm2(), undefined, 'nothing read yet');
    await clock.advanceAsync(3000, 1000);
    const ghi = cc.referenceGhiWm2()!;
    // PPV is sent in whole watts.
    assert.ok(Math.abs(ghi - 0.5 * clear) < 1000 / 340, `estimate ${ghi} for ${0.5 * clear} W/m²`);
    assert.equal(cc.solarW(), Math.round(0.5 * clear * 0.4 * 0.85));
    const budget = planner.update({ available: 25, holding: 0, charging: 0, referenceGhiWm2: cc.referenceGhiWm2() });
    assert.ok(Math.abs(budget.cloudCorrection - 0.5) < 0.01, `cloud factor ${budget.cloudCorrection}`);

    // A full battery holds the panel back (float): no reading, rather than a false cloud.
    mppt.soc = 0.999;
    mppt.state = 5;
    sky = 1;
    await clock.advanceAsync(2000, 1000);
    assert.equal(cc.reading?.stateName, 'float');
    assert.equal(cc.referenceGhiWm2(), undefined);

    // The cable out: a reading older than 10 s is no reading.
    mppt.stop();
    await clock.advanceAsync(11_000, 1000);
    assert.equal(cc.reading, undefined);
    assert.equal(cc.referenceGhiWm2(), undefined);
  } finally {
    mppt.stop();
    await cc.stop();
    await device.stop();
  }
});

test('canopy start with chargeController in canopy.yaml reads the MPPT and shows it with the fleet', { timeout: 40_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const { pty } = await mpptOnPty(t, { irradiance: () => 600, intervalMs: 200 });
  const dir = mkdtempSync(join(tmpdir(), 'canopy-cc-'));
  const config = join(dir, 'canopy.yaml');
  writeFileSync(config, ['links:', `  drones: ["udpin://127.0.0.1:${await freePort()}"]`, '  gcs: []', `mesh: { mqtt: { port: ${await freePort()} }, websocket: false }`, 'chargeController:', `  url: "serial:${pty.b}"`, '  panelWp: 400', '  performanceRatio: 0.85', ''].join('\n'));
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--config', config, '--data', join(dir, 'data'), '--status-every', '1');
  await eventually(() => /charge controller 0xA060 HQ2250SIM01: battery [\d.]+ V [\d.]+ A, PV [\d.]+ V [\d.]+ A 204 W, bulk/.test(child.output()), 30_000, `status line with the MPPT reading in:\n${child.output()}`);
  assert.match(child.output(), /sky ≈ 600 W\/m²/);
});

test('canopy.yaml chargeController: url and panelWp are checked with their paths', () => {
  const ok = parseConfig('chargeController: { url: "serial:///dev/ttyUSB1", panelWp: 400 }', 'canopy.yaml');
  assert.deepEqual(ok.chargeController, { url: 'serial:///dev/ttyUSB1', panelWp: 400 });
  assert.throws(
    () => parseConfig('chargeController: { url: "serial:/dev/ttyUSB1?baud=1234", panelWp: -1 }', 'canopy.yaml'),
    (e) => isCodedError(e, 'CANOPY_ERR_CONFIG') && /chargeController\.url/.test(e.message) && /chargeController\.panelWp/.test(e.message),
  );
});
