/**
 * The station battery monitor (controller/power/battery-monitor.ts) feeding the power budget: a
 * budget with a monitor follows the measured state of charge (its integrator re-anchored to it),
 * falls back to integrating when the reading goes stale (said once), and comes back to it; a
 * budget without one integrates, as before. The BMV's blocks come over a memory link.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import { streamLogger } from '../../../firmware-bridge/log.ts';
import { encodeVeDirectBlock } from '../../../hardware/vedirect.ts';
import { BatteryMonitor, formatBatteryMonitor } from '../../../controller/power/battery-monitor.ts';
import { PowerPlanner, type PowerInputs } from '../../../controller/power/budget.ts';
import { parseConfig } from '../../../controller/config.ts';
import { realEnvironment } from '../../../controller/app/real-environment.ts';
import { testApplication } from '../../helpers/application.ts';
import { powerProfile } from '../../helpers/power-profile.ts';

const settle = () => new Promise<void>((r) => setImmediate(r));

/** A BMV on the far end of a memory link: `send` writes its main block (SOC in ‰ or "---") and its history block. */
async function bmvOnLink(t: TestContext, clock: ManualClock, lines: string[] = []) {
  const [device, host] = createMemoryPair('bmv', 'pi');
  const monitor = new BatteryMonitor({ url: 'serial:/dev/ttyUSB2', clock, link: host, log: streamLogger({ write: (l) => lines.push(l) }) });
  await device.start();
  await monitor.start();
  t.after(async () => {
    await monitor.stop();
    await device.stop();
  });
  const send = async (soc: number | '---', over: Record<string, string> = {}) => {
    const main = { PID: '0x203', V: '12400', I: '-10000', P: '-124', CE: '-50000', SOC: String(soc), TTG: '600', Alarm: 'OFF', Relay: 'OFF', AR: '0', BMV: '700', FW: '0308', ...over };
    device.write(Buffer.concat([encodeVeDirectBlock(Object.entries(main)), encodeVeDirectBlock([['H1', '-149322'], ['H2', '-82854'], ['H17', '6843'], ['H18', '8527']])]));
    await settle();
  };
  return { monitor, send };
}

const NIGHT = Date.parse('2026-06-21T23:00:00Z');
/** Ten pads charging at night: the bus draws 2,500 W + Pi 4 + radio 2 + phone 30 from the station battery. */
const padsAtNight = (stationSoc?: number): PowerInputs => ({ available: 25, holding: 0, charging: 10, stationSoc });
const DRAW_W = 2500 + 4 + 2 + 30;

test('a budget with a monitor follows the measured state of charge; without one it integrates the bus', async (t) => {
  const clock = new ManualClock(NIGHT);
  const lines: string[] = [];
  const { monitor, send } = await bmvOnLink(t, clock, lines);
  const open = new PowerPlanner(clock, powerProfile());
  const measured = new PowerPlanner(clock, powerProfile());
  open.update(padsAtNight());
  measured.update(padsAtNight(monitor.stateOfCharge()));
  // Ten minutes, a block a second; the monitor measures 62.0 % falling 0.1 % a minute.
  for (let minute = 1; minute <= 10; minute++) {
    for (let s = 0; s < 60; s++) {
      clock.advance(1000);
      await send(620 - minute);
    }
    const o = open.update(padsAtNight());
    const m = measured.update(padsAtNight(monitor.stateOfCharge()));
    assert.equal(o.stationBattery.measured, false);
    assert.ok(Math.abs(o.stationBattery.energyWh - (4000 - (DRAW_W * minute) / 60)) < 1e-6, `integrated: ${o.stationBattery.energyWh} Wh`);
    assert.equal(m.stationBattery.measured, true);
    assert.equal(m.stationBattery.soc, (620 - minute) / 1000, 'as measured');
    assert.deepEqual(m.decisions.shed, [], 'shedding follows the measured charge (62 %), not the profile\'s 80 %');
  }
  assert.equal(lines.filter((l) => l.startsWith('WARN')).length, 0);
  assert.match(formatBatteryMonitor(monitor), /^battery monitor 0x203: 12\.40 V -10\.00 A -124 W, 61\.0 %, -50\.0 Ah, time to go 10\.0 h$/);

  // The cable out: within 10 s the last reading still counts; after that the budget integrates from it, said once.
  clock.advance(10_000);
  assert.equal(measured.update(padsAtNight(monitor.stateOfCharge())).stationBattery.measured, true);
  const anchorWh = 0.61 * 5000;
  let b = measured.update(padsAtNight(monitor.stateOfCharge()));
  for (let i = 1; i <= 30; i++) {
    clock.advance(2000);
    b = measured.update(padsAtNight(monitor.stateOfCharge()));
    assert.equal(b.stationBattery.measured, false);
  }
  assert.ok(Math.abs(b.stationBattery.energyWh - (anchorWh - (DRAW_W * 60) / 3600)) < 1e-6, `integrated from the last reading: ${b.stationBattery.energyWh} Wh`);
  const warnings = lines.filter((l) => l.startsWith('WARN'));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0]!, /battery-monitor: battery monitor: no fresh reading for 1\d s; the budget integrates the station battery from its last state/);
  assert.match(formatBatteryMonitor(monitor), /no valid block in the last 10 s/);

  // Plugged back in: measured again, and said so.
  await send(598);
  b = measured.update(padsAtNight(monitor.stateOfCharge()));
  assert.deepEqual([b.stationBattery.measured, b.stationBattery.soc], [true, 0.598]);
  assert.equal(lines.filter((l) => /uses the measured state of charge again/.test(l)).length, 1);
});

test('a monitor not synchronised ("---") or in alarm: no measured charge, each said once', async (t) => {
  const clock = new ManualClock(NIGHT);
  const lines: string[] = [];
  const { monitor, send } = await bmvOnLink(t, clock, lines);
  assert.equal(monitor.stateOfCharge(), undefined, 'nothing read yet');
  assert.equal(lines.filter((l) => l.startsWith('WARN')).length, 0, 'not an outage before a reading is overdue');
  for (let i = 0; i < 5; i++) {
    clock.advance(1000);
    await send('---', { Alarm: 'ON', AR: '4' });
    assert.equal(monitor.stateOfCharge(), undefined);
  }
  assert.deepEqual(
    lines.filter((l) => l.startsWith('WARN')).map((l) => l.replace(/^WARN +canopy:battery-monitor: /, '')),
    ['battery monitor alarm: low SOC', 'battery monitor: the monitor is not synchronised (no state of charge); the budget integrates the station battery from its last state'],
  );
});

test('never read at all: after 10 s the budget says once that it integrates', async (t) => {
  const clock = new ManualClock(NIGHT);
  const lines: string[] = [];
  const { monitor } = await bmvOnLink(t, clock, lines);
  for (let i = 0; i < 20; i++) {
    clock.advance(1000);
    monitor.stateOfCharge();
  }
  assert.deepEqual(lines.filter((l) => l.startsWith('WARN')).length, 1);
  assert.match(lines.find((l) => l.startsWith('WARN'))!, /no reading for 11 s/);
});

test('canopy.yaml batteryMonitor: read into the real environment; the application starts it before the site, whose budget uses it', async (t) => {
  const c = parseConfig('links: { drones: ["tcp://127.0.0.1:5760"], gcs: [] }\nbatteryMonitor: { url: "serial:///dev/ttyUSB2" }', 'canopy.yaml', '.', {});
  assert.deepEqual(realEnvironment(c, { log: streamLogger({ write: () => {} }), users: [] }).batteryMonitor, { url: 'serial:///dev/ttyUSB2' });
  assert.equal(realEnvironment(parseConfig('{}', 'canopy.yaml', '.', {}), { log: streamLogger({ write: () => {} }), users: [] }).batteryMonitor, undefined);

  const clock = new ManualClock(NIGHT);
  const [device, host] = createMemoryPair('bmv', 'pi');
  const app = testApplication({ clock, droneLinks: [], mesh: false, batteryMonitor: { url: 'serial:/dev/ttyUSB2', link: host }, site: { origin: { latDeg: 47.4, lonDeg: 8.5 }, power: powerProfile() } });
  assert.deepEqual(app.extensions.map((e) => e.name), ['bridge', 'battery-monitor', 'site', 'radios']);
  await device.start();
  await app.start();
  t.after(async () => {
    await app.stop();
    await device.stop();
  });
  assert.equal(app.site!.tick().stationBattery.measured, false, 'nothing read yet: the integrator');
  device.write(encodeVeDirectBlock([['V', '12400'], ['I', '-10000'], ['P', '-124'], ['SOC', '455']]));
  await settle();
  const b = app.site!.tick();
  assert.deepEqual([b.stationBattery.measured, b.stationBattery.soc], [true, 0.455]);
});
