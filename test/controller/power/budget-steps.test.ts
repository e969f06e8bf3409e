/**
 * The power budget's steps (controller/power/budget-steps.ts) one by one, as the pure functions
 * they are: each given the profile, the tick's inputs and the state before it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clearSky } from '../../../common/solar.ts';
import type { ForecastPoint, PowerInputs } from '../../../controller/power/budget.ts';
import {
  NET_DOWN,
  UNSEEN_SKY,
  CLIMATE_PRIOR_DAYS,
  busBalance,
  climateFactor,
  decideNet,
  dipStage,
  fleetWarning,
  forecastPoints,
  holdersGeneration,
  landAllMs,
  launchAllMs,
  learnSky,
  modelHoverPerDroneW,
  netHysteresis,
  referenceCell,
  resolvePowerProfile,
  shedding,
  solarPerDroneW,
  stationBatteryAfter,
  stationBatteryNow,
  stationLoads,
  sunsetPlan,
  withClimatePrior,
  type NetInputs,
} from '../../../controller/power/budget-steps.ts';
import { powerProfile } from '../../helpers/power-profile.ts';

const p = resolvePowerProfile(powerProfile());
/** 180 W/kg × (2.5 kg + 0.25 kg/m² × 12 m²) + 15 W avionics. */
const HOVER = 1005;
const NOON = Date.parse('2026-06-21T11:30:00Z');
const STEP = 15 * 60_000;
const inputs = (over: Partial<PowerInputs> = {}): PowerInputs => ({ available: 25, holding: 0, charging: 0, ...over });

/** A forecast from `solar` W per drone at each 15-minute step from `at`. */
function forecastOf(solar: number[], at = NOON): ForecastPoint[] {
  return solar.map((s, i) => ({ atMs: at + i * STEP, sunElevationDeg: 30, clearSkyGhiWm2: 1000, expectedGhiWm2: 1000, perDroneSolarW: s, perDroneHoverW: HOVER, stations: 0 }));
}

function netInputs(over: Partial<NetInputs> = {}): NetInputs {
  return { now: NOON, forecast: forecastOf(Array(96).fill(2 * HOVER)), solarW: 2 * HOVER, hoverW: HOVER, available: 25, launchAllMs: 24 * 30_000, landByMs: null, shed: [], socPct: 80, ...over };
}

test('the profile: defaults filled in, hover and sun per drone by the stated model', () => {
  assert.deepEqual([p.avionicsW, p.usableFraction, p.stationBatteryWh, p.stationInitialSoc, p.spares, p.transitPerDroneMs], [15, 0.65, 5000, 0.8, 1, 30_000]);
  assert.equal(resolvePowerProfile(powerProfile({ spares: 3 })).spares, 3);
  assert.equal(modelHoverPerDroneW(p), HOVER);
  assert.ok(Math.abs(solarPerDroneW(p, 1000) - 1000 * 12 * 0.2 * 0.97) < 1e-9);
});

test('sources: the holders\' batteries give measured generation and the sky; a reference cell overrides the sky and corrects hover', () => {
  assert.deepEqual(holdersGeneration(inputs(), HOVER, 2000), { measuredW: null });
  // Ten holders drawing 505 W each: the sun gives each of them 500 W of its 1005 W hover.
  const ten = holdersGeneration(inputs({ holding: 10, measured: { holders: 10, batteryW: 5050 } }), HOVER, 1000);
  assert.deepEqual(ten, { measuredW: 5000, skyRatio: 0.5 });
  assert.equal(holdersGeneration(inputs({ holding: 2, measured: { holders: 2, batteryW: 1010 } }), HOVER, 1000).skyRatio, undefined, 'two holders spread no net');
  assert.equal(holdersGeneration(inputs({ holding: 10, measured: { holders: 10, batteryW: 5050 } }), HOVER, 40).skyRatio, undefined, 'sun too low to learn from');

  assert.deepEqual(referenceCell(p, inputs({ referenceGhiWm2: 300 }), 600, 1, 1 / 60), { skyRatio: 0.5, hoverCorrection: 1 });
  assert.deepEqual(referenceCell(p, inputs({ referenceGhiWm2: 10 }), 40, 1, 1 / 60), { hoverCorrection: 1 }, 'night: nothing measured');
  // Holders drawing 20 % more than the model under a known sky: hover corrects towards 1.2 over ten minutes.
  const sun = solarPerDroneW(p, 500);
  const windy = inputs({ holding: 10, referenceGhiWm2: 500, measured: { holders: 10, batteryW: 10 * (1.2 * HOVER - sun) } });
  const oneMinute = referenceCell(p, windy, 1000, 1, 1 / 60);
  assert.ok(Math.abs(oneMinute.hoverCorrection - 1.02) < 1e-9, `${oneMinute.hoverCorrection}`);
  assert.ok(Math.abs(referenceCell(p, windy, 1000, 1, 1).hoverCorrection - 1.2) < 1e-9, 'a whole tick of an hour takes it all');
  const gale = inputs({ holding: 10, referenceGhiWm2: 500, measured: { holders: 10, batteryW: 10 * 3 * HOVER } });
  assert.equal(referenceCell(p, gale, 1000, 1, 1).hoverCorrection, 1.6, 'clamped to 1.6');
});

test('the sky learnt: the first reading as it is, then smoothed over two minutes; the climate decays over a week', () => {
  const first = learnSky(UNSEEN_SKY, 0.4, 800, 1 / 3600, NOON);
  assert.deepEqual([first.cloud, first.seenSky, first.skyAtMs], [0.4, true, NOON]);
  const minute = learnSky(first, 1, 800, 1 / 60, NOON + 60_000);
  assert.ok(Math.abs(minute.cloud - 0.7) < 1e-9, `half way in one minute: ${minute.cloud}`);
  assert.equal(learnSky(first, 5, 800, 1, NOON).cloud, 1.2, 'clamped to 1.2');
  const idle = learnSky(minute, undefined, 800, 7 * 24, NOON + 7 * 86400_000);
  assert.equal(idle.cloud, minute.cloud, 'nothing measured: the cloud factor stays');
  assert.equal(idle.skyAtMs, minute.skyAtMs);
  assert.ok(Math.abs(idle.climate.clear - minute.climate.clear / Math.E) < 1e-9, 'a week decays the climate by 1/e');
  assert.equal(UNSEEN_SKY.cloud, 1, 'the shared initial state is not touched');
});

test('the recorded climate (site.climate): the fallback before anything is measured, then pooled as a week with the measured week', () => {
  const clearDayWh = 7000;
  const recorded = withClimatePrior(UNSEEN_SKY, 0.6, clearDayWh);
  assert.equal(climateFactor(UNSEEN_SKY), 1, 'no record, nothing measured: the clear sky');
  assert.ok(Math.abs(climateFactor(recorded) - 0.6) < 1e-12, 'no measurement yet: the record');
  // A long stretch measured at 0.9: the measured climate saturates at a week's weight (decay 1/e per week).
  let s: Readonly<typeof recorded> = recorded;
  for (let d = 0; d < 60; d++) s = learnSky(s, 0.9, clearDayWh / 24, 24, NOON + d * 86400_000);
  const measuredWeight = s.climate.clear;
  const expected = (0.9 * measuredWeight + 0.6 * CLIMATE_PRIOR_DAYS * clearDayWh) / (measuredWeight + CLIMATE_PRIOR_DAYS * clearDayWh);
  assert.ok(Math.abs(climateFactor(s) - expected) < 1e-9, `${climateFactor(s)} ≈ ${expected}`);
  assert.ok(climateFactor(s) > 0.7 && climateFactor(s) < 0.9, `between the record and the measured sky: ${climateFactor(s)}`);
  assert.ok(Math.abs(measuredWeight / clearDayWh - CLIMATE_PRIOR_DAYS) < 1, 'a week measured weighs about as much as the record');
  assert.deepEqual(s.prior, recorded.prior, 'the record does not decay');
  assert.ok(Math.abs(climateFactor(withClimatePrior(s, 0.3, clearDayWh)) - climateFactor(s)) > 0.05, 'a new month replaces the record, not the measured sky');
});

test('the forecast: 96 quarter hours; the measured cloud persists, halving its weight every two hours, then the climate', () => {
  const sky = clearSky(p.site);
  // Clear for a week, then a grey reading (0.2) just now.
  let s = learnSky(UNSEEN_SKY, 1, 800, 24 * 7, NOON - 60_000);
  s = learnSky(s, 0.2, 800, 0, NOON);
  s = { ...s, cloud: 0.2 };
  const f = forecastPoints(p, sky, s, HOVER, 25, NOON);
  assert.equal(f.length, 96);
  assert.equal(f[0]!.atMs, NOON);
  const inTwoHours = f[8]!;
  assert.ok(Math.abs(inTwoHours.expectedGhiWm2 / inTwoHours.clearSkyGhiWm2 - (0.5 * 0.2 + 0.5 * 1)) < 1e-6, 'half persistence, half climate');
  assert.ok(f.every((x) => x.perDroneHoverW === HOVER));
  assert.ok(f.every((x) => (x.perDroneSolarW >= HOVER ? x.stations === 24 : x.stations === 0)), 'the net only where the sun pays for it');
});

test('loads, the station battery as the tick starts, and shedding in order', () => {
  assert.deepEqual(stationLoads(p, inputs({ dish: 'active', radios: 3, charging: 2 })), { dishW: 100, radiosW: 6, padsW: 500 });
  assert.deepEqual(stationLoads(p, inputs({ dish: 'idle' })), { dishW: 50, radiosW: 2, padsW: 0 });
  assert.equal(stationLoads(p, inputs()).dishW, 0);
  assert.deepEqual(stationBatteryNow(p, 1234, undefined), { energyWh: 1234, measured: false });
  assert.deepEqual(stationBatteryNow(p, 1234, 0.5), { energyWh: 2500, measured: true }, 're-anchored to the monitor');
  assert.deepEqual(stationBatteryNow(p, 1234, 1.02), { energyWh: 5000, measured: true });
  assert.deepEqual(shedding(p, 50), []);
  assert.deepEqual(shedding(p, 39), ['uplink']);
  assert.deepEqual(shedding(p, 24), ['uplink', 'phone']);
  assert.deepEqual(shedding(p, 9.9), ['uplink', 'phone', 'drones']);
});

test('the sunset plan: break-even where the forecast falls below hover, landing started the time to land everyone before it', () => {
  const f = forecastOf([1500, 1400, 1100, 900, 500]);
  assert.deepEqual(sunsetPlan(f, HOVER, 600_000), { breakEvenAtMs: NOON + 3 * STEP, landByMs: NOON + 3 * STEP - 600_000 });
  assert.deepEqual(sunsetPlan(forecastOf([900, 1500, 500]), HOVER, 600_000), { breakEvenAtMs: null, landByMs: null }, 'the sun does not pay now');
  assert.equal(landAllMs(p, 24, undefined), 24 * 30_000, 'the profile pace before anything is measured');
  assert.equal(landAllMs(p, 24, { landMs: 20_000 }), 24 * 20_000 * 1.15 + 60_000, 'measured, with 15 % to spare and the last descent');
  assert.equal(landAllMs(p, 2, { landMs: 20_000 }), 5 * 60_000, 'never less than landAllMs');
  assert.equal(launchAllMs(p, 25, { launchMs: 20_000 }), 24 * 20_000 * 1.15 + 30_000, 'all but the spare, and the first climb');
});

test('the net goes up with 5 % to spare and the next half hour paying, stays up down to 90 %, goes up ahead of a rising sun', () => {
  const down = { netUp: false, aheadUntilMs: null };
  assert.deepEqual(netHysteresis(down, netInputs({ solarW: 1.06 * HOVER })), { netUp: true, aheadUntilMs: null });
  assert.equal(netHysteresis(down, netInputs({ solarW: 1.06 * HOVER, forecast: forecastOf([1.1 * HOVER, 0.8 * HOVER, ...Array(94).fill(2 * HOVER)]) })).netUp, false, 'a dip in the next half hour');
  assert.equal(netHysteresis(down, netInputs({ solarW: 1.02 * HOVER })).netUp, false, 'not 5 % to spare');
  const up = { netUp: true, aheadUntilMs: null };
  assert.equal(netHysteresis(up, netInputs({ solarW: 0.91 * HOVER })).netUp, true, 'a passing cloud');
  assert.equal(netHysteresis(up, netInputs({ solarW: 0.89 * HOVER })).netUp, false);
  // Rising sun: 95 % now, paying from the next quarter hour on, within the time to launch everyone.
  const rising = netInputs({ solarW: 0.95 * HOVER, forecast: forecastOf([0.95 * HOVER, ...Array(95).fill(1.1 * HOVER)]), launchAllMs: 20 * 60_000 });
  assert.deepEqual(netHysteresis(down, rising), { netUp: true, aheadUntilMs: NOON + STEP + 15 * 60_000 });
  assert.equal(netHysteresis(down, { ...rising, launchAllMs: 10 * 60_000 }).netUp, false, 'the sun pays later than a launch takes');
  assert.equal(netHysteresis(down, { ...rising, landByMs: NOON }).netUp, false, 'not after the sunset plan has landed it');
});

test('a dip is bridged on the holders\' batteries above 60 %, sized for rotation once the lowest falls below 50 %', () => {
  const up = { netUp: true, aheadUntilMs: null };
  const dip = { solarW: 0.95 * HOVER, hoverW: HOVER };
  assert.equal(dipStage(null, up, { ...dip, holdersMinSoc: 0.7 }), 'bridge');
  assert.equal(dipStage(null, up, { ...dip, holdersMinSoc: 0.55 }), 'rotate');
  assert.equal(dipStage('bridge', up, { ...dip, holdersMinSoc: 0.55 }), 'bridge');
  assert.equal(dipStage('bridge', up, { ...dip, holdersMinSoc: 0.45 }), 'rotate');
  assert.equal(dipStage('rotate', up, { ...dip, holdersMinSoc: 0.9 }), 'rotate');
  assert.equal(dipStage('rotate', up, { solarW: HOVER, hoverW: HOVER }), null, 'the sun pays again');
  assert.equal(dipStage('bridge', { netUp: true, aheadUntilMs: NOON }, dip), null, 'up ahead of the sun is not a dip');
});

test('the net\'s decision: stations and reason; the sunset plan and a shedding station battery land it', () => {
  const carries = decideNet(p, NET_DOWN, netInputs());
  assert.deepEqual([carries.stations, carries.state.netUp], [24, true]);
  assert.match(carries.reason, /carries itself \(2010 W sun vs 1005 W hover per drone\)/);
  const bridging = decideNet(p, carries.state, netInputs({ solarW: 0.95 * HOVER, holdersMinSoc: 0.8 }));
  assert.deepEqual([bridging.stations, bridging.state.dip], [24, 'bridge']);
  assert.match(bridging.reason, /bridging a dip on the holders' batteries, lowest at 80 %/);
  const rotating = decideNet(p, carries.state, netInputs({ solarW: 0.95 * HOVER, holdersMinSoc: 0.3 }));
  assert.ok(rotating.stations > 0 && rotating.stations < 24, `${rotating.stations}`);
  assert.match(rotating.reason, /held by rotation/);
  const sunset = decideNet(p, carries.state, netInputs({ landByMs: NOON }));
  assert.deepEqual([sunset.stations, sunset.state.netUp, sunset.reason], [0, false, 'sunset plan: landing before generation stops covering hover']);
  const flat = decideNet(p, carries.state, netInputs({ solarW: 0.95 * HOVER, holdersMinSoc: 0.8, shed: ['uplink', 'phone', 'drones'], socPct: 8 }));
  assert.deepEqual([flat.stations, flat.reason], [0, 'station battery at 8 %: drones land']);
  assert.equal(decideNet(p, carries.state, netInputs({ shed: ['uplink', 'phone', 'drones'], socPct: 8 })).stations, 24, 'a net that carries itself keeps flying');
  assert.equal(NET_DOWN.netUp, false, 'the shared initial state is not touched');
});

test('a net held down says why: no sun, sun within the launch margin (and when the forecast has the margin), a dip ahead', () => {
  const noSun = decideNet(p, NET_DOWN, netInputs({ solarW: 0.5 * HOVER }));
  assert.match(noSun.reason, /^the sun does not pay for hover/);
  // Dawn: the sun pays 2 % over hover and the forecast rises toward noon; the launch waits for 5 %.
  // (launchAllMs 0: nothing to launch ahead of.)
  const dawn = decideNet(p, NET_DOWN, netInputs({ solarW: 1.02 * HOVER, launchAllMs: 0, forecast: forecastOf([1.02 * HOVER, 1.04 * HOVER, ...Array(94).fill(1.2 * HOVER)]) }));
  assert.equal(dawn.stations, 0);
  assert.match(dawn.reason, /^generation is within 5 % of the net's hover power; waiting for a 5 % margin, which the forecast has by 12:00 UTC \(1025 W sun vs 1005 W hover per drone\)$/);
  assert.doesNotMatch(dawn.reason, /stop paying/);
  const dipAhead = decideNet(p, NET_DOWN, netInputs({ solarW: 1.1 * HOVER, forecast: forecastOf([1.1 * HOVER, 0.8 * HOVER, ...Array(94).fill(2 * HOVER)]) }));
  assert.equal(dipAhead.stations, 0);
  assert.match(dipAhead.reason, /^the forecast has the sun stop paying for hover within half an hour/);
});

test('the station bus: the dish when the sun pays for it or the battery is nearly full, the phone on what is left, the battery the rest', () => {
  const loads = { dishW: 0, radiosW: 2, padsW: 0 };
  // 300 W of surplus, 6 W of base load: the dish (100 W) is granted and the phone charges at full rate.
  const sunny = busBalance(p, { netSolarW: 1300, netHoverW: 1000, loads, socPct: 50, shed: [] });
  assert.deepEqual(sunny, { uplinkGranted: true, uplinkOnSurplus: true, phoneChargeW: 30, stationBatteryW: 6 + 30 - 300 });
  const thin = busBalance(p, { netSolarW: 1050, netHoverW: 1000, loads, socPct: 50, shed: [] });
  assert.deepEqual(thin, { uplinkGranted: false, uplinkOnSurplus: false, phoneChargeW: 30, stationBatteryW: 6 + 30 - 50 }, 'the phone takes what the dish did not get');
  const tiny = busBalance(p, { netSolarW: 1010, netHoverW: 1000, loads, socPct: 50, shed: [] });
  assert.equal(tiny.phoneChargeW, 4);
  const full = busBalance(p, { netSolarW: 0, netHoverW: 1000, loads, socPct: 92, shed: [] });
  assert.equal(full.uplinkGranted, true, 'battery nearly full');
  assert.equal(full.uplinkOnSurplus, false, 'granted on the battery, not on the sun');
  assert.deepEqual(busBalance(p, { netSolarW: 2000, netHoverW: 1000, loads, socPct: 20, shed: ['uplink', 'phone'] }).uplinkGranted, false);
  assert.equal(busBalance(p, { netSolarW: 0, netHoverW: 1000, loads: { ...loads, padsW: 500 }, socPct: 70, shed: [] }).stationBatteryW, 4 + 2 + 500 + 30, 'a deficit in the air is not the bus\'s');

  assert.equal(stationBatteryAfter(p, { energyWh: 2500, measured: true }, 500, 1), 2500, 'measured: as the monitor said');
  assert.equal(stationBatteryAfter(p, { energyWh: 2500, measured: false }, 500, 1), 2000, 'integrated over the tick');
  assert.equal(stationBatteryAfter(p, { energyWh: 4990, measured: false }, -500, 1), 5000, 'never above the capacity');
  assert.equal(stationBatteryAfter(p, { energyWh: 100, measured: false }, 500, 1), 0, 'nor below empty');
});

test('the fleet-sizing warning: only when the net is up on a deficit and the fleet is smaller than k = m(⌈R⌉+1)', () => {
  assert.equal(fleetWarning(p, { netUp: true, available: 25, solarW: 2000, hoverW: HOVER, stations: 24 }), null, 'the net carries itself');
  assert.equal(fleetWarning(p, { netUp: false, available: 25, solarW: 500, hoverW: HOVER, stations: 0 }), null, 'down');
  const w = fleetWarning(p, { netUp: true, available: 25, solarW: 900, hoverW: HOVER, stations: 8 });
  assert.match(w ?? '', /^the fleet cannot sustain the full net: 24 stations at 900 W of sun per drone need \d+ drones \(k = m\(⌈R⌉\+1\)\), 25 available; holding 8$/);
});
