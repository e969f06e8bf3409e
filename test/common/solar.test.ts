/**
 * Sun position (NREL SPA) and clear-sky irradiance (Haurwitz, Ineichen–Perez) at a site.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { altitudeToPressurePa, extraterrestrialDni, haurwitzGhi, ineichenPerez, relativeAirmass, solarPosition } from '../../common/solar.ts';

test('SPA reproduces the published example (Reda & Andreas, Table A5.1)', (t) => {
  // 2003-10-17 12:30:30 local time at timezone −7 → 19:30:30 UTC.
  const r = solarPosition({
    timeMs: Date.UTC(2003, 9, 17, 19, 30, 30),
    latitudeDeg: 39.742476,
    longitudeDeg: -105.1786,
    elevationM: 1830.14,
    pressureMbar: 820,
    temperatureC: 11,
    deltaT: 67,
    deltaUt1: 0,
    slopeDeg: 30,
    azmRotationDeg: -10,
    atmosRefractDeg: 0.5667,
  });
  const diffs = {
    zenith: r.zenithDeg - 50.11162,
    azimuth: r.azimuthDeg - 194.34024,
    incidence: r.incidenceDeg - 25.187,
  };
  t.diagnostic(`zenith ${r.zenithDeg} (diff ${diffs.zenith.toExponential(2)}°)`);
  t.diagnostic(`azimuth ${r.azimuthDeg} (diff ${diffs.azimuth.toExponential(2)}°)`);
  t.diagnostic(`incidence ${r.incidenceDeg} (diff ${diffs.incidence.toExponential(2)}°)`);
  for (const [name, diff] of Object.entries(diffs)) assert.ok(Math.abs(diff) < 1e-3, `${name} off by ${diff}°`);
  // Intermediate values published alongside the example.
  assert.ok(Math.abs(r.sunEarthDistanceAu - 0.9965422974) < 1e-8);
  assert.ok(Math.abs(r.equationOfTimeMin - 14.641503) < 1e-3);
  assert.ok(Math.abs(r.elevationDeg + r.zenithDeg - 90) < 1e-12);
});

test('SPA azimuth is in [0, 360) and the sun is due south of a northern site near solar noon', () => {
  const r = solarPosition({ timeMs: Date.UTC(2024, 5, 21, 12, 0), latitudeDeg: 45, longitudeDeg: 0 });
  assert.ok(r.azimuthDeg > 170 && r.azimuthDeg < 190, `azimuth ${r.azimuthDeg}`);
  assert.ok(Math.abs(r.elevationDeg - (90 - 45 + 23.44)) < 0.5, `elevation ${r.elevationDeg}`);
  for (let h = 0; h < 24; h++) {
    const az = solarPosition({ timeMs: Date.UTC(2024, 2, 1, h), latitudeDeg: -33, longitudeDeg: 151 }).azimuthDeg;
    assert.ok(az >= 0 && az < 360);
  }
});

test('Haurwitz clear-sky GHI', () => {
  assert.ok(Math.abs(haurwitzGhi(0) - 1098 * Math.exp(-0.059)) < 1e-9);
  assert.ok(Math.abs(haurwitzGhi(0) - 1035.1) < 0.1);
  assert.ok(haurwitzGhi(60) < haurwitzGhi(30));
  assert.equal(haurwitzGhi(90), 0);
  assert.equal(haurwitzGhi(120), 0);
});

test('Ineichen–Perez matches pvlib reference values (pvlib tests/test_clearsky.py)', () => {
  const close = (actual: number, expected: number, what: string) =>
    assert.ok(Math.abs(actual - expected) < 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);
  const cases = [
    // [apparent zenith, absolute airmass, TL, altitude, dni_extra] → [ghi, dni, dhi]
    { z: 10, am: 1, tl: 3, alt: 0, extra: 1364, expected: [1038.159219, 942.2081860378344, 110.26529293612793] },
    { z: 10, am: 1, tl: 3, alt: 0, extra: 1370, expected: [1042.72590228, 946.35279683, 110.75033088] },
    { z: 10, am: 1, tl: 3, alt: 2000, extra: 1364, expected: [1134.24312405, 994.95377835, 154.40492924] },
    { z: 82.85457044, am: 6.97935524, tl: 3, alt: 0, extra: 1364, expected: [65.49426624, 321.16092181, 25.54562017] },
    { z: 46.0467599, am: 1.32355476, tl: 3, alt: 0, extra: 1364, expected: [704.6968125, 888.90147035, 87.73601277] },
  ] as const;
  for (const c of cases) {
    const r = ineichenPerez({ zenithDeg: c.z, airMassAbsolute: c.am, elevationM: c.alt, linkeTurbidity: c.tl, dayOfYear: 1, dniExtra: c.extra });
    close(r.ghi, c.expected[0], `ghi @${c.z}`);
    close(r.dni, c.expected[1], `dni @${c.z}`);
    close(r.dhi, c.expected[2], `dhi @${c.z}`);
  }
  // Helpers (pvlib tests/test_atmosphere.py).
  assert.ok(Math.abs(relativeAirmass(89.9) - 36.467) < 1e-3);
  assert.ok(Math.abs(relativeAirmass(80) - 5.586) < 1e-3);
  assert.ok(Math.abs(relativeAirmass(0) - 1) < 1e-3);
  assert.ok(Number.isNaN(relativeAirmass(100)));
  for (const [alt, pa] of [[-100, 102532.073], [0, 101324.999], [1000, 89874.75], [8000, 35600.496]] as const) {
    assert.ok(Math.abs(altitudeToPressurePa(alt) - pa) < 1e-3, `alt2pres(${alt})`);
  }
  // Perihelion in early January, aphelion in early July.
  assert.ok(extraterrestrialDni(3) > 1405 && extraterrestrialDni(3) < 1420);
  assert.ok(extraterrestrialDni(185) > 1315 && extraterrestrialDni(185) < 1325);
});

test('Ineichen–Perez clear sky: plausible magnitudes, closure, monotonic, zero at night', () => {
  const r = ineichenPerez({ zenithDeg: 30, elevationM: 0, linkeTurbidity: 3, dayOfYear: 172 });
  assert.ok(r.ghi > 800 && r.ghi < 1000, `ghi ${r.ghi}`);
  assert.ok(r.dni > 750 && r.dni < 950, `dni ${r.dni}`);
  assert.ok(r.dhi > 0 && r.dhi < 200, `dhi ${r.dhi}`);
  assert.ok(Math.abs(r.ghi - (r.dni * Math.cos((30 * Math.PI) / 180) + r.dhi)) < 1);

  let prev = Infinity;
  for (let z = 0; z < 90; z += 5) {
    const { ghi } = ineichenPerez({ zenithDeg: z, elevationM: 500, linkeTurbidity: 3, dayOfYear: 100 });
    assert.ok(ghi < prev, `ghi not decreasing at zenith ${z}`);
    prev = ghi;
  }
  // Higher and cleaner is brighter.
  const high = ineichenPerez({ zenithDeg: 30, elevationM: 3000, linkeTurbidity: 3, dayOfYear: 172 });
  const hazy = ineichenPerez({ zenithDeg: 30, elevationM: 0, linkeTurbidity: 5, dayOfYear: 172 });
  assert.ok(high.ghi > r.ghi && hazy.ghi < r.ghi);

  for (const z of [90, 95, 150]) {
    assert.deepEqual(ineichenPerez({ zenithDeg: z, elevationM: 0, linkeTurbidity: 3, dayOfYear: 1 }), { ghi: 0, dni: 0, dhi: 0 });
  }
});
