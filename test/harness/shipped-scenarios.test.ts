/**
 * Each shipped scenario does what its name says, flown by the whole controller on the simulated
 * clock (faster than real time). The storm hits a flying net; the clear summer day launches at
 * first useful light and lands while the sun still pays; the Antarctic sun never sets and the net
 * flies only around local noon; the cloudy week has its sunny spells, its overcast and its
 * satellite outage. Long scenarios are flown in the slices that carry their promise (the sky is a
 * pure function of the scenario, so a slice sees the sky the full run would). The four firmware
 * scenarios (cold-start, saved-streams, mixed-fleet, reboot-on-pad) are flown in
 * firmware-scenarios.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, type SimRunResult } from '../../harness/sim-command.ts';
import { buildSim } from '../../sim/build.ts';
import { isInContact } from '../../sim/satellite.ts';
import { loadScenario, type Scenario } from '../../sim/scenario.ts';

const MIN = 60_000;
const H = 60 * MIN;

/** The irradiance at which one drone's share of the net pays for its hover (W/m²). */
function breakEvenGhi(s: Scenario): number {
  const hoverW = (s.airframe.massKg + s.net.massKgPerM2 * s.net.areaM2PerDrone) * s.airframe.hoverWPerKg;
  return hoverW / (s.net.areaM2PerDrone * s.net.efficiency * s.net.mpptEfficiency);
}

/** A scenario's own timetable, flown from `start` for `durationMs` (the rest of the file unchanged). */
function slice(s: Scenario, start: string, durationMs: number): Scenario {
  return { ...s, start, duration: durationMs };
}

function fly(s: Scenario, durationMs = s.duration): Promise<SimRunResult> {
  return runScenario(s, { seed: 1, durationMs, sampleEveryMs: 30_000 });
}

const eventAt = (r: SimRunResult, pattern: RegExp) => {
  const e = r.figures.events.find((x) => pattern.test(x.what));
  assert.ok(e, `an event ${pattern}: ${r.figures.events.map((x) => x.what).join('; ')}`);
  return { atMs: Date.parse(e.at), what: e.what };
};

const AIRBORNE_ROLES = new Set(['launching', 'on-station', 'handing-over', 'returning']);

test('storm: the gust front and the motor failure hit a flying net; the fleet lands everyone before the radio blackout', async (t) => {
  const storm = loadScenario('storm');
  const r = await fly(storm, 3 * H + 5 * MIN);
  const { samples, site } = r;
  const sampleAt = (ms: number) => samples.filter((s) => s.timeMs <= ms).at(-1)!;

  // The motor failure hit a drone in the air, holding its station.
  const failure = eventAt(r, /motor failure/);
  const m = /^drone (\d+): motor failure in flight at (\d+) m$/.exec(failure.what);
  assert.ok(m, failure.what);
  const sysid = Number(m[1]);
  assert.ok(Number(m[2]) >= 20, `it failed ${m[2]} m up`);
  assert.equal(site.world.drone(sysid)!.copter.failed, true);
  const crash = site.site.fleet.transitions.find((x) => x.sysid === sysid && x.to === 'fault' && x.atMs >= failure.atMs);
  assert.ok(crash && crash.atMs - failure.atMs < 10_000, `the fleet saw drone ${sysid} fall`);
  assert.ok(AIRBORNE_ROLES.has(crash.from), `drone ${sysid} was ${crash.from} when its motor failed`);

  // The gust front arrived over a full net.
  const front = eventAt(r, /^wind now 9 m\/s/);
  const before = sampleAt(front.atMs);
  assert.ok(before.stations >= 20 && before.manned === before.stations && before.airborne >= 20, `at the front: ${JSON.stringify({ stations: before.stations, manned: before.manned, airborne: before.airborne })}`);
  // With it the cloud closed in.
  eventAt(r, /^cloud cover now 85 % mean/);
  const factor = (from: number, to: number) => {
    let sum = 0;
    let n = 0;
    for (let ms = from; ms < to; ms += MIN, n++) sum += site.sim.sky.cloudFactor(ms);
    return sum / n;
  };
  const t0 = Date.parse(storm.start);
  assert.ok(factor(front.atMs + 30 * MIN, front.atMs + 2 * H) < factor(t0, front.atMs) - 0.15, 'less sun under the front');

  // Past the fleet's wind limit everyone landed, within half an hour.
  const gale = eventAt(r, /^wind now 15 m\/s/);
  const down = samples.find((s) => s.timeMs > gale.atMs && s.airborne === 0);
  assert.ok(down && down.timeMs - gale.atMs <= 30 * MIN, 'the net is down within 30 min of the gale');
  const blackout = eventAt(r, /^radio blackout for 60 s/);
  assert.ok(samples.filter((s) => s.timeMs >= down.timeMs && s.timeMs <= blackout.atMs).every((s) => s.airborne === 0), 'and stays down into the blackout');

  // The satellite link drops with the front, for 90 minutes.
  const outage = eventAt(r, /^satellite outage for 90 min/);
  for (let ms = outage.atMs; ms < outage.atMs + 90 * MIN; ms += MIN) assert.equal(isInContact(site.sim.contacts, ms), false);

  // A wreck lies where it fell (it used to be blown along the ground, in and out of radio range,
  // and the fleet saw it lost and found again every few seconds). The others leave the plan only
  // while the radio is drowned out, and are all back once it clears.
  const others = site.site.fleet.transitions.filter((x) => x.sysid !== sysid && x.atMs >= failure.atMs);
  assert.deepEqual(others.filter((x) => x.to === 'fault').map((x) => `d${x.sysid}: ${x.reason}`), [], 'no other drone faulted');
  const outsideBlackout = others.filter((x) => x.to === 'lost' && (x.atMs < blackout.atMs || x.atMs > blackout.atMs + 60_000));
  assert.deepEqual(outsideBlackout.map((x) => `d${x.sysid} at ${new Date(x.atMs).toISOString()}`), [], 'lost only in the radio blackout');
  const wreck = site.world.drone(sysid)!;
  assert.ok(Math.hypot(wreck.copter.pos.n - wreck.pad.n, wreck.copter.pos.e - wreck.pad.e) < 500, 'the wreck lies near where it fell');
  assert.equal(site.site.fleet.transitions.filter((x) => x.sysid === sysid && x.atMs > crash.atMs && x.atMs < blackout.atMs).length, 0, 'the wreck stays a fault until the blackout');
  const stillOut = site.world.drones.map((d) => d.sysid).filter((n) => n !== sysid && ['lost', 'fault'].includes(site.site.fleet.role(n) ?? ''));
  assert.deepEqual(stillOut, [], 'every other drone back after the blackout');
});

test('clear summer day: the net launches at first useful light, and lands while the sun still pays for its hover', async () => {
  const day = loadScenario('clear-summer-day');
  const breakEven = breakEvenGhi(day);
  // The aged battery and the tree line are in the scenario as written.
  const sim = buildSim(day, 1);
  assert.ok(Math.abs(sim.world.drone(7)!.battery.capacityWh - 0.8 * day.battery.capacityWh) < 1e-9);
  const t0 = Date.parse(day.start);
  const blocked = Array.from({ length: 60 }, (_, i) => !isInContact(sim.contacts, t0 + 2 * H + i * MIN + 30_000)).filter(Boolean).length;
  assert.equal(blocked, 8, 'the dish loses the satellite 2 min in every 15');

  const morning = await fly(slice(day, '2026-06-21T06:15:00Z', H));
  const firstUp = morning.samples.find((s) => s.airborne > 0);
  assert.ok(firstUp, 'the net went up');
  assert.ok(firstUp.ghiWm2 >= breakEven, `no launch before the sun pays (${firstUp.ghiWm2.toFixed(0)} W/m² at launch, break-even ${breakEven.toFixed(0)})`);
  const paysFrom = morning.samples.find((s) => s.ghiWm2 >= breakEven)!.timeMs;
  const full = morning.samples.find((s) => s.stations >= 20 && s.manned === s.stations);
  assert.ok(full && full.timeMs - paysFrom <= 30 * MIN, 'the full net within half an hour of the sun paying for it');

  const evening = await fly(slice(day, '2026-06-21T15:00:00Z', 90 * MIN));
  const upAt = evening.samples.findIndex((s) => s.stations >= 20 && s.manned === s.stations);
  assert.ok(upAt >= 0, 'the full net in the afternoon');
  const shrinks = evening.samples.findIndex((s, i) => i > upAt && s.stations < evening.samples[i - 1]!.stations);
  assert.ok(shrinks > 0, 'the net shrinks toward evening');
  assert.ok(evening.samples[shrinks]!.ghiWm2 >= breakEven, `the landing begins while the sun still pays (${evening.samples[shrinks]!.ghiWm2.toFixed(0)} W/m²)`);
  assert.equal(evening.samples.at(-1)!.airborne, 0, 'everyone down by the end');
  assert.ok(evening.samples.at(-1)!.ghiWm2 > 0, 'before sunset');
});

test('antarctic summer: the sun never sets; the net flies around local noon (midnight UTC) and waits on its pads at local midnight', async () => {
  const ant = loadScenario('antarctic-summer');
  const sim = buildSim(ant, 1);
  const t0 = Date.parse(ant.start);
  const elevations = Array.from({ length: 24 * 6 }, (_, i) => sim.sky.sunElevationDeg(t0 + i * 10 * MIN));
  assert.ok(Math.min(...elevations) > 10 && Math.max(...elevations) < 36, `sun between ${Math.min(...elevations).toFixed(1)}° and ${Math.max(...elevations).toFixed(1)}°`);

  const noon = await fly(ant, 40 * MIN);
  assert.ok(noon.samples.some((s) => s.stations >= 20 && s.manned === s.stations), 'the full net around local noon');
  const midnight = await fly(slice(ant, '2026-12-21T12:00:00Z', 30 * MIN));
  assert.ok(midnight.samples.every((s) => s.airborne === 0 && s.stations === 0), 'on the pads in the low sun of local midnight');
  assert.ok(midnight.samples.at(-1)!.ghiWm2 > 0, 'with the sun still up');
  assert.equal(midnight.site.site.fleet.status().roles.ready, ant.swarm.drones, 'every drone ready, none faulted');
});

test('cloudy week: sunny spells and overcast days by turns, and the satellite outage on day three', () => {
  const week = loadScenario('cloudy-week');
  const sim = buildSim(week, 1);
  const t0 = Date.parse(week.start);
  const daylight = Array.from({ length: 7 * 24 * 4 }, (_, i) => t0 + i * 15 * MIN).filter((ms) => sim.sky.sunElevationDeg(ms) > 30);
  const paying = daylight.filter((ms) => sim.sky.ghiWm2(ms) * sim.sky.cloudFactor(ms) >= breakEvenGhi(week)).length / daylight.length;
  const overcast = daylight.filter((ms) => sim.sky.cloudFactor(ms) < 0.5).length / daylight.length;
  assert.ok(paying > 0.15 && paying < 0.85, `the sun pays for the net ${(paying * 100).toFixed(0)} % of the high-sun hours`);
  assert.ok(overcast > 0.1, `overcast ${(overcast * 100).toFixed(0)} % of the high-sun hours`);
  const outage = t0 + 2 * 24 * H + 6 * H;
  for (let ms = outage; ms < outage + 5 * H; ms += MIN) assert.equal(isInContact(sim.contacts, ms), false, 'no satellite during the outage');
  assert.ok(isInContact(sim.contacts, outage - 30 * MIN) || isInContact(sim.contacts, outage - 20 * MIN), 'in view before it');
});
