/**
 * The power budget on its own: the forecast, the net sizing against the fleet-sizing anchor, the
 * cloud correction learnt from telemetry, the uplink grant, the sunset plan, and load shedding in
 * order as the station battery runs down.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { PowerPlanner } from '../../controller/power/budget.ts';
import { powerProfile } from '../helpers/power-profile.ts';

const profile = powerProfile;

const at = (iso: string) => new ManualClock(Date.parse(iso));

test('hover and solar per drone follow the stated model', () => {
  const p = new PowerPlanner(at('2026-06-21T12:00:00Z'), profile());
  // 180 W/kg × (2.5 kg + 0.25 kg/m² × 12 m²) + 15 W avionics
  assert.equal(p.hoverPerDroneW(), 180 * 5.5 + 15);
  assert.ok(Math.abs(p.solarPerDroneW(1000) - 1000 * 12 * 0.2 * 0.97) < 1e-9);
});

test('the forecast covers 24 h in 15-minute steps: no net at night, the full net at noon', () => {
  const clock = at('2026-06-21T00:00:00Z');
  const p = new PowerPlanner(clock, profile());
  const f = p.forecast(25);
  assert.equal(f.length, 96);
  assert.equal(f[1]!.atMs - f[0]!.atMs, 15 * 60_000);
  const noon = f.find((x) => x.atMs === Date.parse('2026-06-21T11:30:00Z'))!;
  const night = f.find((x) => x.atMs === Date.parse('2026-06-21T22:00:00Z'))!;
  assert.equal(night.clearSkyGhiWm2, 0);
  assert.equal(night.stations, 0);
  assert.ok(noon.clearSkyGhiWm2 > 850, `noon GHI ${noon.clearSkyGhiWm2}`);
  assert.equal(noon.stations, 24, 'all but the one spare');
});

test('net sizing under a deficit follows the anchor k = m(⌈R⌉+1)', () => {
  const p = new PowerPlanner(at('2026-06-21T12:00:00Z'), profile());
  const hover = p.hoverPerDroneW();
  for (const solar of [0, 300, 600, 900]) {
    const m = p.sustainableStations(25, solar);
    const usable = 222 * 0.65;
    const R = usable / 250 / (usable / (hover - solar));
    if (m > 0) assert.ok(m * (Math.ceil(R) + 1) <= 25, `${m} stations need ${m * (Math.ceil(R) + 1)} drones at ${solar} W`);
    assert.equal(p.requiredFleet(m, solar), m * (Math.ceil(R) + 1));
  }
  assert.equal(p.sustainableStations(2, 2000), 0, 'fewer than three drones hold no net');
});

test('the cloud factor is learnt from the holders that can still take charge', () => {
  const clock = at('2026-06-21T11:00:00Z');
  const p = new PowerPlanner(clock, profile());
  const hover = p.hoverPerDroneW();
  const clear = p.update({ available: 25, holding: 10, charging: 0 });
  const modelPer = clear.perDrone.solarW;
  // The holders see half the modelled sun: each draws hover − modelPer/2 from its battery.
  for (let i = 0; i < 60; i++) {
    clock.advance(60_000);
    p.update({ available: 25, holding: 10, charging: 0, measured: { holders: 10, batteryW: 10 * (hover - modelPer / 2) } });
  }
  const b = p.budget!;
  assert.ok(Math.abs(b.cloudCorrection - 0.5) < 0.05, `learnt ${b.cloudCorrection}`);
  assert.ok(b.forecast[0]!.expectedGhiWm2 < b.forecast[0]!.clearSkyGhiWm2 * 0.6, 'the forecast is corrected too');
});

test('sunset plan: the net comes down before generation stops covering hover, early enough to land everyone', () => {
  const clock = at('2026-06-21T12:00:00Z');
  const p = new PowerPlanner(clock, profile());
  let b = p.update({ available: 25, holding: 0, charging: 0 });
  assert.equal(b.decisions.stations, 24);
  b = p.update({ available: 25, holding: 24, charging: 0 });
  const breakEven = b.sunset.breakEvenAtMs!;
  const landBy = b.sunset.landByMs!;
  assert.ok(breakEven > Date.parse('2026-06-21T15:00:00Z') && breakEven < Date.parse('2026-06-21T17:30:00Z'), new Date(breakEven).toISOString());
  assert.ok(breakEven - landBy >= 24 * 30_000, 'time to land 24 drones one at a time through the transit token');
  // Just before landBy the net is up; at landBy it comes down, with the reason.
  clock.advance(landBy - clock.now() - 60_000);
  assert.equal(p.update({ available: 25, holding: 24, charging: 0 }).decisions.stations, 24);
  clock.advance(60_000);
  const down = p.update({ available: 25, holding: 24, charging: 0 });
  assert.equal(down.decisions.stations, 0);
  assert.match(down.decisions.reason, /sunset plan/);
});

test('the sunset plan lands at the pace the fleet measured: a slower fleet starts earlier, a quicker one later', () => {
  const landByWith = (pace?: { landMs?: number }) => {
    const clock = at('2026-06-21T12:00:00Z');
    const p = new PowerPlanner(clock, profile());
    p.update({ available: 25, holding: 0, charging: 0, transitPace: pace });
    const b = p.update({ available: 25, holding: 24, charging: 0, transitPace: pace });
    return { breakEven: b.sunset.breakEvenAtMs!, landBy: b.sunset.landByMs! };
  };
  const profileDefault = landByWith();
  const slow = landByWith({ landMs: 45_000 });
  const quick = landByWith({ landMs: 20_000 });
  assert.equal(slow.breakEven, profileDefault.breakEven);
  // 24 returns at the measured pace with 15 % to spare, and a minute for the last one's descent.
  assert.equal(slow.breakEven - slow.landBy, 24 * 45_000 * 1.15 + 60_000);
  assert.equal(quick.breakEven - quick.landBy, 24 * 20_000 * 1.15 + 60_000);
  assert.ok(slow.landBy < profileDefault.landBy && quick.landBy > profileDefault.landBy);
});

test('on a rising sun the net is launched ahead, whole, so it is full when the sun pays for it', () => {
  const clock = at('2026-06-21T04:00:00Z');
  const p = new PowerPlanner(clock, profile());
  let b = p.update({ available: 25, holding: 0, charging: 0 });
  while (b.decisions.stations === 0 && clock.now() < Date.parse('2026-06-21T12:00:00Z')) {
    clock.advance(60_000);
    b = p.update({ available: 25, holding: 0, charging: 0 });
  }
  const launchAt = clock.now();
  assert.ok(b.perDrone.solarW < b.perDrone.hoverW, 'launched before the sun pays');
  assert.ok(b.perDrone.solarW >= 0.9 * b.perDrone.hoverW, 'on a small deficit only');
  assert.equal(b.decisions.stations, 24, 'the whole net, not the rotation-sized one');
  assert.match(b.decisions.reason, /ahead of the sun/);
  // The sun pays within the time to launch 24 drones (30 s each), and the net stays whole.
  while (b.perDrone.solarW < b.perDrone.hoverW) {
    clock.advance(60_000);
    b = p.update({ available: 25, holding: 0, charging: 0 });
    assert.equal(b.decisions.stations, 24);
  }
  assert.ok(clock.now() - launchAt <= 24 * 30_000, `${(clock.now() - launchAt) / 60_000} min`);
  assert.match(b.decisions.reason, /carries itself/);
});

test('station battery low: shed the uplink, then phone charging, then the drones land', () => {
  const night = at('2026-06-21T23:00:00Z');
  const day = at('2026-06-21T12:00:00Z');
  const cases: [number, string[]][] = [
    [0.8, []],
    [0.35, ['uplink']],
    [0.2, ['uplink', 'phone']],
    [0.05, ['uplink', 'phone', 'drones']],
  ];
  for (const [soc, shed] of cases) {
    const b = new PowerPlanner(night, profile({ stationInitialSoc: soc })).update({ available: 25, holding: 0, charging: 0 });
    assert.deepEqual(b.decisions.shed, shed, `at ${soc * 100} %`);
    if (shed.includes('uplink')) assert.equal(b.decisions.uplinkGranted, false);
    if (shed.includes('phone')) assert.equal(b.decisions.phoneChargeW, 0);
  }
  // A net that carries itself refills the battery rather than landing: it keeps flying.
  const sunny = new PowerPlanner(day, profile({ stationInitialSoc: 0.05 })).update({ available: 25, holding: 0, charging: 0 });
  assert.equal(sunny.decisions.stations, 24);
  // Pads drain the battery at night: 10 drones charging for an hour take 2.5 kWh.
  const p = new PowerPlanner(night, profile({ stationBatteryWh: 5000, stationInitialSoc: 0.8 }));
  p.update({ available: 25, holding: 0, charging: 10 });
  night.advance(3600_000);
  const after = p.update({ available: 25, holding: 0, charging: 10 });
  assert.ok(Math.abs(after.stationBattery.energyWh - (4000 - 2500 - 4 - 2 - 30)) < 1, `${after.stationBattery.energyWh} Wh`);
});

test('the dish is granted only when the sun pays for it or the station battery is nearly full', () => {
  const noon = at('2026-06-21T12:00:00Z');
  const p = new PowerPlanner(noon, profile({ stationInitialSoc: 0.6 }));
  p.update({ available: 25, holding: 0, charging: 0 });
  assert.equal(p.update({ available: 25, holding: 0, charging: 0 }).decisions.uplinkGranted, false, 'no net, no surplus, battery at 60 %');
  assert.equal(p.update({ available: 25, holding: 24, charging: 0 }).decisions.uplinkGranted, true, 'the net pays');
  const night = new PowerPlanner(at('2026-06-21T23:00:00Z'), profile({ stationInitialSoc: 0.95 }));
  assert.equal(night.update({ available: 25, holding: 0, charging: 0 }).decisions.uplinkGranted, true, 'battery nearly full');
});

test('a fleet too small to hold the full net by rotation is warned about, and the net shrinks to what it can hold', () => {
  const clock = at('2026-06-21T11:30:00Z');
  // Panels just good enough for the net to carry itself at noon under a clear sky.
  const p = new PowerPlanner(clock, profile({ netEfficiency: 0.0985 }));
  const hover = p.hoverPerDroneW();
  const up = p.update({ available: 25, holding: 0, charging: 0 });
  assert.equal(up.decisions.stations, 24);
  assert.equal(up.warning, null);
  // Thin cloud: the holders find only 92 % of hover in the sun and draw the rest from their batteries.
  for (let i = 0; i < 30; i++) {
    clock.advance(60_000);
    p.update({ available: 25, holding: 10, charging: 0, measured: { holders: 10, batteryW: 10 * hover * 0.08 } });
  }
  const b = p.budget!;
  assert.ok(b.perDrone.solarW < hover && b.perDrone.solarW > 0.9 * hover, `${b.perDrone.solarW} W vs ${hover} W`);
  const usable = 222 * 0.65;
  const k = 24 * (Math.ceil(usable / 250 / (usable / (hover - b.perDrone.solarW))) + 1);
  assert.equal(b.warning?.includes(`need ${k} drones`), true, b.warning ?? 'no warning');
  assert.ok(b.decisions.stations < 24 && b.decisions.stations >= 3, `net shrinks to ${b.decisions.stations}`);
  assert.ok(p.requiredFleet(b.decisions.stations, b.perDrone.solarW) <= 25);
});

test('a reference cell keeps the cloud factor current while the net is on its pads, and the forecast relaxes to the recent mean', () => {
  const clock = at('2026-06-19T00:00:00Z');
  const p = new PowerPlanner(clock, profile());
  const step = (fraction: number) => {
    clock.advance(60_000);
    return p.update({ available: 25, holding: 0, charging: 0, referenceGhiWm2: fraction * p.clearSkyGhiWm2(clock.now()) });
  };
  // Two and a half grey days (30 % of clear sky): the net stays down and the planner knows why.
  let b = step(0.3);
  while (clock.now() < Date.parse('2026-06-21T09:00:00Z')) b = step(0.3);
  assert.ok(Math.abs(b.cloudCorrection - 0.3) < 0.03, `learnt ${b.cloudCorrection}`);
  assert.equal(b.decisions.stations, 0);
  assert.match(b.decisions.reason, /does not pay/);
  // The cloud clears: within half an hour the net is on its way up.
  for (let i = 0; i < 30; i++) b = step(1);
  assert.ok(b.cloudCorrection > 0.9, `learnt ${b.cloudCorrection}`);
  assert.equal(b.decisions.stations, 24);
  // Near ahead the forecast trusts the present sky; a day ahead it leans on the grey days' mean.
  const ratio = (f: { expectedGhiWm2: number; clearSkyGhiWm2: number }) => f.expectedGhiWm2 / f.clearSkyGhiWm2;
  assert.ok(ratio(b.forecast[1]!) > 0.85, `near ${ratio(b.forecast[1]!)}`);
  assert.ok(ratio(b.forecast.at(-1)!) < 0.7, `a day ahead ${ratio(b.forecast.at(-1)!)}`);
});

test('the holders\' draw teaches what hovering really costs (wind), up to 1.6× the still-air model', () => {
  const clock = at('2026-06-21T12:00:00Z');
  const p = new PowerPlanner(clock, profile());
  const model = p.modelHoverPerDroneW();
  const up = p.update({ available: 25, holding: 0, charging: 0, referenceGhiWm2: p.clearSkyGhiWm2(clock.now()) });
  assert.equal(up.decisions.stations, 24);
  // In a stiff wind each holder needs 2.2× the still-air model; the sun (≈2100 W) no longer covers it.
  for (let i = 0; i < 40; i++) {
    clock.advance(60_000);
    const ghi = p.clearSkyGhiWm2(clock.now());
    const battery = 2.2 * model - p.solarPerDroneW(ghi);
    p.update({ available: 25, holding: 24, charging: 0, referenceGhiWm2: ghi, measured: { holders: 24, batteryW: 24 * battery } });
  }
  const b = p.budget!;
  assert.ok(Math.abs(b.perDrone.hoverCorrection - 1.6) < 0.02, `correction ${b.perDrone.hoverCorrection} (capped at 1.6)`);
  assert.ok(Math.abs(b.perDrone.hoverW - b.perDrone.hoverCorrection * model) < 1e-6);
  assert.ok(b.perDrone.solarW < b.perDrone.hoverW * 1.4, 'the margin shrank');
});

test('a passing cloud is bridged whole on the holders\' batteries while they have charge, then the net is sized for rotation', () => {
  const clock = at('2026-06-21T11:30:00Z');
  const p = new PowerPlanner(clock, profile({ netEfficiency: 0.0985 }));
  const hover = p.hoverPerDroneW();
  assert.equal(p.update({ available: 25, holding: 0, charging: 0 }).decisions.stations, 24);
  const dip = (holdersMinSoc: number) => p.update({ available: 25, holding: 24, charging: 0, holdersMinSoc, measured: { holders: 24, batteryW: 24 * hover * 0.06 } });
  // The same thin cloud as above, with the holders' batteries nearly full: the net stays whole.
  let b = dip(0.95);
  for (let i = 0; i < 30; i++) {
    clock.advance(60_000);
    b = dip(0.95 - i * 0.01);
  }
  assert.ok(b.perDrone.solarW < hover && b.perDrone.solarW > 0.9 * hover, `${b.perDrone.solarW} W vs ${hover} W`);
  assert.equal(b.decisions.stations, 24);
  assert.match(b.decisions.reason, /bridging a dip/);
  // The lowest holder falls under half: rotation sizing from now on, even when fresh drones
  // (fuller batteries) take the stations.
  clock.advance(60_000);
  b = dip(0.49);
  assert.ok(b.decisions.stations < 24 && b.decisions.stations >= 3, `net shrinks to ${b.decisions.stations}`);
  assert.match(b.decisions.reason, /rotation/);
  clock.advance(60_000);
  assert.equal(dip(0.99).decisions.stations, b.decisions.stations);
  // A dip that starts with tired holders is sized for rotation at once.
  const q = new PowerPlanner(at('2026-06-21T11:30:00Z'), profile({ netEfficiency: 0.0985 }));
  q.update({ available: 25, holding: 0, charging: 0 });
  let c = q.budget!;
  for (let i = 0; i < 30; i++) c = q.update({ available: 25, holding: 24, charging: 0, holdersMinSoc: 0.4, measured: { holders: 24, batteryW: 24 * hover * 0.06 } });
  assert.ok(c.decisions.stations < 24, `${c.decisions.stations}`);
});

test('site.climate: the recorded sky index shapes tomorrow before anything is measured, month by month', () => {
  const clock = at('2026-06-30T18:00:00Z');
  const months = Array.from({ length: 12 }, (_, m) => (m === 5 ? 0.5 : m === 6 ? 0.8 : 0.9));
  const p = new PowerPlanner(clock, { ...profile(), climateSkyIndex: months });
  const bare = new PowerPlanner(clock, profile());
  const ratioAt = (b: ReturnType<PowerPlanner['update']>, iso: string) => {
    const x = b.forecast.find((f) => f.atMs === Date.parse(iso))!;
    return x.expectedGhiWm2 / x.clearSkyGhiWm2;
  };
  assert.ok(Math.abs(ratioAt(p.update({ available: 25, holding: 0, charging: 0 }), '2026-07-01T11:30:00Z') - 0.5) < 1e-9, "June's record");
  assert.equal(ratioAt(bare.update({ available: 25, holding: 0, charging: 0 }), '2026-07-01T11:30:00Z'), 1, 'no record: the clear sky');
  assert.throws(() => new PowerPlanner(clock, { ...profile(), climateSkyIndex: [0.5, 0.6] }), /one sky index in \(0, 1\], or twelve/);
  assert.throws(() => new PowerPlanner(clock, { ...profile(), climateSkyIndex: 1.3 }), /climateSkyIndex must be/);
  clock.advance(7 * 3600_000); // 01:00 on the 1st of July
  assert.ok(Math.abs(ratioAt(p.update({ available: 25, holding: 0, charging: 0 }), '2026-07-01T11:30:00Z') - 0.8) < 1e-9, "July's record once July begins");
});
