/**
 * The fleet controller flying virtual ArduCopters in the simulated world over a shared radio:
 * the net is manned, rotation hands stations over without leaving them empty, separation holds,
 * no command is refused, and the ground failsafes act.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { FleetController } from '../../controller/fleet/fleet.ts';
import { fleetPerStation } from '../../controller/power/budget.ts';
import { assignStations, stationLattice } from '../../controller/fleet/formation.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { runFast } from '../../sim/runner.ts';
import { SimWorld } from '../../sim/world.ts';
import { memoryMedium } from '../helpers/memory-medium.ts';

const ORIGIN = { latDeg: 47.4, lonDeg: 8.5, altitudeM: 400 };
const BATTERY_WH = 222;

async function flyingRig(opts: { drones: number; stations: number | (() => number); ghi?: number; soc?: number; wind?: () => number; airWindMs?: number }) {
  const clock = new ManualClock(Date.UTC(2026, 5, 21, 22, 0, 0));
  const radio = memoryMedium(clock);
  const world = new SimWorld({
    clock,
    seed: 3,
    origin: ORIGIN,
    drones: opts.drones,
    airframe: { massKg: 2.5, maxSpeedMs: 12, maxAccelMs2: 3, maxClimbMs: 2.5, maxDescentMs: 1.5, hoverWPerKg: 180 },
    battery: { capacityWh: BATTERY_WH, cells: 6, internalResistanceOhm: 0.02, soc: opts.soc },
    padChargeW: 250,
    net: { massKgPerM2: 0.35, areaM2PerDrone: 12, efficiency: 0.2, mpptEfficiency: 0.97 },
    netAltitudeM: 60,
    wind: { meanMs: opts.airWindMs ?? 2, gustMs: 0.5, directionDeg: 270 },
    sky: { ghiWm2: () => opts.ghi ?? 0, cloudFactor: () => 1 },
    radios: [radio],
    gpsFixAfterMs: 0,
  });
  const gs = new GroundStation({ clock, droneLinks: [{ link: radio.ground, name: 'radio' }] });
  await world.start();
  await gs.start();
  const stations = opts.stations;
  const fleet = new FleetController({ clock, vehicles: gs.vehicles, origin: ORIGIN, batteryWh: BATTERY_WH, stations: typeof stations === 'number' ? () => stations : stations, windMs: opts.wind, windLimitMs: 12 });
  fleet.start();
  return { clock, world, gs, fleet };
}

test('formation: hexagonal stations spaced as asked, nearest pairs assigned', () => {
  const s = stationLattice(7, 10);
  assert.deepEqual(s[0], { n: 0, e: 0 });
  for (let i = 0; i < s.length; i++) for (let j = i + 1; j < s.length; j++) assert.ok(Math.hypot(s[i]!.n - s[j]!.n, s[i]!.e - s[j]!.e) >= 10 - 1e-6);
  for (const p of s.slice(1)) assert.ok(Math.abs(Math.hypot(p.n, p.e) - 10) < 1e-6, 'first ring at the spacing');
  const a = assignStations([{ n: 100, e: 0 }, { n: -100, e: 0 }], [{ n: -10, e: 0 }, { n: 10, e: 0 }]);
  assert.deepEqual([...a.entries()].sort(), [[0, 1], [1, 0]]);
  assert.equal(25 * fleetPerStation(20, 60), 100, 'k = m(⌈R⌉+1): 25 stations, 20 min flights, 60 min recharges');
});

test('a net too low for the launch layers (staging 20 m under it) is refused with the numbers', () => {
  const base = { clock: new ManualClock(), vehicles: {} as GroundStation['vehicles'], origin: ORIGIN, batteryWh: BATTERY_WH };
  assert.throws(() => new FleetController({ ...base, altitudeM: 20 }), /25 m or higher .* got altitudeM 20/);
  assert.throws(() => new FleetController({ ...base, altitudeM: 30, lowAltitudeM: 24 }), /lowAltitudeM 24/);
  // Two thirds of 30 m would be 20: the default lower stage stops at the floor instead.
  assert.equal(new FleetController({ ...base, altitudeM: 30 }).status().altitudeM, 30);
  assert.doesNotThrow(() => new FleetController({ ...base, altitudeM: 30, windLowerMs: undefined, lowAltitudeM: undefined }));
});

test('the net is manned, drones rotate with the replacement there first, separation holds, nothing is refused', async () => {
  const { world, fleet, gs } = await flyingRig({ drones: 6, stations: 3 });
  const stationsLocal = () => fleet.stationPoints().map((p) => ({ ...p, u: 60 }));
  let fullyManned = false;
  let emptyAfterManned = 0;
  await runFast(world, {
    // 6 drones for 3 stations at night cannot last (k = m(⌈R⌉+1) = 15 with a 35 min recharge):
    // after 10 minutes every spare has flown, so the check ends there.
    durationMs: 10 * 60_000,
    sampleEveryMs: 1000,
    onSample: () => {
      const pts = stationsLocal();
      const manned = pts.filter((p) => world.drones.some((d) => !d.copter.onGround && Math.hypot(d.copter.pos.n - p.n, d.copter.pos.e - p.e, d.copter.pos.u - p.u) < 7)).length;
      if (pts.length === 3 && manned === 3) fullyManned = true;
      else if (fullyManned) emptyAfterManned++;
    },
  });
  assert.ok(fullyManned, `all three stations manned (status ${JSON.stringify(fleet.status())})`);
  assert.equal(emptyAfterManned, 0, 'no station was ever empty after the net was first manned');
  const relieved = fleet.transitions.filter((t) => t.to === 'returning' && /relieved by drone/.test(t.reason));
  assert.ok(relieved.length >= 3, `each first drone relieved (${relieved.length}): ${fleet.transitions.map((t) => `${t.sysid}:${t.to}(${t.reason})`).join(', ')}`);
  for (const r of relieved) {
    const replacement = Number(/relieved by drone d(\d+)/.exec(r.reason)![1]);
    const arrived = fleet.transitions.find((t) => t.sysid === replacement && t.to === 'handing-over');
    assert.ok(arrived && arrived.atMs <= r.atMs, `drone ${replacement} was under the station before drone ${r.sysid} left`);
  }
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  // The token's pace, for the sunset plan: a launch (8 m up, across, 12 m up) and a return (8 m up,
  // across, 6 m down) each hold it for tens of seconds at the airframe's 2.5 m/s up, 5 m/s across.
  const pace = fleet.transitPace();
  for (const [what, ms] of Object.entries(pace)) assert.ok(ms !== undefined && ms > 8_000 && ms < 45_000, `${what} ${ms} ms`);
  assert.deepEqual(Object.keys(pace).sort(), ['landMs', 'launchMs']);
  assert.equal(fleet.denials, 0, 'no command refused');
  const denied = world.drones.reduce((n, d) => n + [...d.acks].filter(([r]) => r !== 0).reduce((s, [, c]) => s + c, 0), 0);
  assert.equal(denied, 0, 'no COMMAND_ACK other than ACCEPTED');
  // Landed drones are back on their own pads, disarmed, charging.
  for (const t of fleet.transitions.filter((x) => x.to === 'charging' && x.reason === 'landed')) {
    const d = world.drone(t.sysid)!;
    if (d.copter.onGround) assert.ok(Math.hypot(d.copter.pos.n - d.pad.n, d.copter.pos.e - d.pad.e) < 2, `drone ${t.sysid} on its pad`);
  }
  await gs.stop();
  fleet.stop();
});

test('launches overlap: the next drone climbs to the staging level over its own pad while another crosses; one whose station goes away on the way lands back on its pad', async () => {
  let stations = 6;
  // Full sun: the net carries itself, so nothing is relieved and the spares stay ready.
  const { world, fleet, gs } = await flyingRig({ drones: 8, stations: () => stations, soc: 1, ghi: 1000, wind: () => 2 });
  const stage = 60 - 12 - 8; // transit layer 12 m under the net, staging 8 m under that
  const overPad = (d: (typeof world.drones)[number]) => Math.hypot(d.copter.pos.n - d.pad.n, d.copter.pos.e - d.pad.e) < 2;
  const atStation = (d: (typeof world.drones)[number]) => fleet.stationPoints().some((p) => Math.hypot(d.copter.pos.n - p.n, d.copter.pos.e - p.e) < 3);
  let overlaps = 0;
  let mostCrossing = 0;
  await runFast(world, {
    durationMs: 4 * 60_000,
    sampleEveryMs: 200,
    onSample: () => {
      const airborne = world.drones.filter((d) => !d.copter.onGround);
      const crossing = airborne.filter((d) => !overPad(d) && !atStation(d));
      const staged = airborne.filter((d) => overPad(d) && d.copter.pos.u > 2 && d.copter.pos.u < stage + 1 && fleet.role(d.sysid) === 'launching');
      mostCrossing = Math.max(mostCrossing, crossing.length);
      if (crossing.length === 1 && staged.length === 1) overlaps++;
    },
  });
  assert.equal(fleet.status().manned, 6, `all six stations manned (${JSON.stringify(fleet.status())})`);
  assert.ok(overlaps > 0, 'a drone climbed to (or waited at) the staging level over its pad while another crossed');
  assert.equal(mostCrossing, 1, 'never two drones crossing between pads and stations at once');
  // A seventh station: a spare climbs to the staging level for it; the station is dropped again on the way.
  const busy = fleet.transitions.length;
  stations = 7;
  let staged: number | undefined;
  await runFast(world, {
    durationMs: 60_000,
    sampleEveryMs: 200,
    onSample: () => {
      const d = world.drones.find((x) => fleet.role(x.sysid) === 'launching' && overPad(x) && x.copter.pos.u > 10 && x.copter.pos.u < stage + 1);
      if (staged === undefined && d) {
        staged = d.sysid;
        stations = 6;
      }
    },
  });
  assert.ok(staged !== undefined, `a spare climbed for the seventh station: ${fleet.transitions.slice(busy).map((t) => `${t.sysid}:${t.to}(${t.reason})`).join(', ')}`);
  await runFast(world, { durationMs: 2 * 60_000 });
  const mine = fleet.transitions.slice(busy).filter((t) => t.sysid === staged).map((t) => `${t.to} (${t.reason})`);
  assert.deepEqual(mine.slice(0, 3), ['launching (fills station 6)', 'landing (net shrank before it left its pad)', 'charging (landed)']);
  const d = world.drone(staged!)!;
  assert.ok(d.copter.onGround && overPad(d), `drone ${staged} back on its own pad`);
  assert.equal(fleet.status().manned, 6);
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  await gs.stop();
  fleet.stop();
});

test('ground failsafes: wind over the limit shrinks the net to nothing and lands everyone; a lost drone is marked lost', async () => {
  let wind = 3;
  const { world, fleet, gs } = await flyingRig({ drones: 3, stations: 2, wind: () => wind });
  await runFast(world, { durationMs: 3 * 60_000 });
  assert.equal(fleet.status().manned, 2);
  // A drone on station loses its radio: the autopilot's GCS failsafe takes over.
  const onStation = world.drones.find((d) => fleet.role(d.sysid) === 'on-station')!;
  await onStation.channel.link.stop();
  await runFast(world, { durationMs: 10_000 });
  assert.equal(fleet.role(onStation.sysid), 'lost');
  assert.ok(fleet.transitions.some((t) => t.sysid === onStation.sysid && /no HEARTBEAT/.test(t.reason)));
  // Canopy wrote FS_GCS_ENABLE=5 before the flight: the autopilot lands in place, off the paths of the others.
  assert.equal(onStation.mode, 'LAND', 'the autopilot flies its own failsafe, as configured');
  assert.equal(onStation.params.get('FS_GCS_ENABLE')?.value, 5);
  // The limit is on the sustained wind (the ten-minute mean): a step from 3 to 15 m/s passes 12 after 7.5 minutes.
  wind = 15;
  await runFast(world, { durationMs: 12 * 60_000 });
  assert.equal(fleet.status().stations, 0);
  assert.ok(world.drones.every((d) => d.copter.onGround && !d.armed), `everyone landed: ${world.drones.map((d) => `${d.sysid} ${d.mode} ${d.copter.pos.u.toFixed(1)} ${d.armed}`).join(', ')} ${fleet.transitions.map((t) => `${t.sysid}:${t.to}(${t.reason})`).join(', ')}`);
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  await gs.stop();
  fleet.stop();
});

test('a strong wind that only the drones measure (no anemometer): their autopilots\' WIND reports bring the net down to the lower altitude at half size', async () => {
  // 10.5 m/s from the west: over the lower threshold (0.75 × 12 m/s), under the limit.
  const { world, fleet, gs } = await flyingRig({ drones: 8, stations: 6, soc: 1, ghi: 1000, airWindMs: 10.5 });
  let highest = 0;
  await runFast(world, {
    durationMs: 8 * 60_000,
    sampleEveryMs: 1000,
    onSample: () => {
      if (fleet.status().altitudeM === 40) for (const d of world.drones) if (fleet.role(d.sysid) === 'on-station') highest = Math.max(highest, d.copter.pos.u);
    },
  });
  const st = fleet.status();
  assert.equal(st.windStage, 'lower');
  assert.ok(st.windMs !== undefined && Math.abs(st.windMs - 10.5) < 1.5, `wind ${st.windMs}`);
  assert.equal(st.altitudeM, 40, 'two thirds of 60 m');
  assert.equal(st.stations, 3, 'half of six');
  assert.equal(st.manned, 3);
  const holders = world.drones.filter((d) => fleet.role(d.sysid) === 'on-station');
  for (const d of holders) assert.ok(Math.abs(d.copter.pos.u - 40) < 2, `drone ${d.sysid} at ${d.copter.pos.u.toFixed(1)} m`);
  assert.ok(highest < 62, 'nobody on station climbed back above the net once it was lowered');
  // The first holders' reports came in before the rest launched: the net never grew past half.
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  assert.equal(fleet.denials, 0);
  await gs.stop();
  fleet.stop();
});

test('with only the drones to measure it, a wind over the limit lands the net; once that is forgotten the net goes up lowered and at half size to measure again', async () => {
  const { world, fleet, gs } = await flyingRig({ drones: 8, stations: 6, soc: 1, ghi: 1000, airWindMs: 13 });
  const seen: string[] = [];
  let relaunch: { altitudeM: number; stations: number } | undefined;
  await runFast(world, {
    durationMs: 30 * 60_000,
    sampleEveryMs: 5000,
    onSample: () => {
      const st = fleet.status();
      if (seen.at(-1) !== st.windStage) seen.push(st.windStage);
      if (seen.length === 3 && st.windStage === 'lower' && st.manned > 0) relaunch ??= { altitudeM: st.altitudeM, stations: st.stations };
    },
  });
  assert.deepEqual(seen.slice(0, 4), ['calm', 'land', 'lower', 'land']);
  assert.deepEqual(relaunch, { altitudeM: 40, stations: 3 });
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  assert.equal(fleet.denials, 0);
  await gs.stop();
  fleet.stop();
});

test('the net shrinking to nothing in the middle of a relief calls the relief off and lands everyone', async () => {
  let stations = 3;
  const { world, fleet, gs } = await flyingRig({ drones: 6, stations: 3 });
  (fleet as unknown as { o: { stations: () => number } }).o.stations = () => stations;
  // Fly until a replacement is on its way to a station (a relief in progress).
  let reliefSeen = false;
  await runFast(world, {
    durationMs: 15 * 60_000,
    beforeStep: () => {
      if (!reliefSeen && fleet.transitions.some((t) => t.to === 'launching' && /relieves drone/.test(t.reason))) {
        reliefSeen = true;
        stations = 0;
      }
    },
  });
  assert.ok(reliefSeen, 'a relief started');
  assert.equal(fleet.status().stations, 0);
  assert.ok(world.drones.every((d) => d.copter.onGround && !d.armed), `everyone landed: ${fleet.transitions.map((t) => `${t.sysid}:${t.to}(${t.reason})`).join(', ')}`);
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  assert.equal(fleet.denials, 0);
  await gs.stop();
  fleet.stop();
});

test('a net that shrinks and grows back while drones still wait to leave gives them their stations back, never a second drone', async () => {
  let stations = 6;
  const { world, fleet, gs } = await flyingRig({ drones: 8, stations: 6, ghi: 1000 });
  (fleet as unknown as { o: { stations: () => number } }).o.stations = () => stations;
  await runFast(world, { durationMs: 8 * 60_000 });
  assert.equal(fleet.status().manned, 6);
  stations = 2;
  await runFast(world, { durationMs: 20_000 });
  const waiting = fleet.status().roles['on-station'];
  assert.ok(waiting > 2, `some drones still wait for the token (${waiting} on station)`);
  stations = 6;
  let shared = 0;
  await runFast(world, {
    durationMs: 6 * 60_000,
    sampleEveryMs: 1000,
    onSample: () => {
      const pos = world.drones.filter((d) => !d.copter.onGround).map((d) => `${Math.round(d.copter.pos.n)},${Math.round(d.copter.pos.e)},${Math.round(d.copter.pos.u)}`);
      if (new Set(pos).size < pos.length) shared++;
    },
  });
  assert.equal(shared, 0, 'no two drones on one point');
  assert.equal(fleet.status().manned, 6);
  assert.ok(world.minSeparationM >= 5, `minimum separation ${world.minSeparationM.toFixed(2)} m`);
  await gs.stop();
  fleet.stop();
});
