/**
 * A scenario made into a running world: the sky over the site, the shaped SiK radios, the
 * satellite's contact windows and the timetable of weather changes and faults. Everything is
 * derived from (scenario, seed) so the same pair gives the same run.
 */
import { ManualClock } from '../firmware-bridge/clock.ts';
import { sikRadio, type SikRadio } from './radio.ts';
import { contactWindows, type ContactWindow } from './satellite.ts';
import type { Scenario } from './scenario.ts';
import { CloudCover, skyModel } from './sun.ts';
import { seededRandom } from '../firmware-bridge/random.ts';
import { SimWorld, type DroneFirmware, type SkyModel } from './world.ts';

export interface SimEvent {
  atMs: number;
  what: string;
  /** Makes it happen; a returned text says what happened when it depends on the moment (which drone, how high). */
  apply: () => string | void;
}

export interface BuiltSim {
  scenario: Scenario;
  seed: number;
  clock: ManualClock;
  world: SimWorld;
  radios: SikRadio[];
  sky: SkyModel & { sunElevationDeg(timeMs: number): number };
  /** When the dish can see the satellite (obstructions and outages taken out). */
  contacts: ContactWindow[];
  /** Weather changes and faults in time order; `due(now)` applies the ones whose time came. */
  events: SimEvent[];
  due(nowMs: number): SimEvent[];
}

/** Each drone's firmware from the scenario's `autopilots` section (saved rates drawn per drone, seeded). */
function droneFirmware(scenario: Scenario, seed: number): (sysid: number) => DroneFirmware {
  const a = scenario.autopilots;
  const px4 = new Set(a.px4);
  const random = seededRandom(seed * 613 + 5);
  const rates = new Map<number, number>();
  for (let sysid = 1; sysid <= scenario.swarm.drones; sysid++) {
    const r = a.savedStreamsHz;
    if (r !== undefined) rates.set(sysid, typeof r === 'number' ? r : Math.round(r[0] + (r[1] - r[0]) * random()));
  }
  return (sysid) => {
    const hz = rates.get(sysid);
    // A GCS saves the groups a pilot's screens use (Mission Planner sets them all).
    const savedStreams = hz === undefined ? undefined : { RAW_SENS: hz, EXT_STAT: hz, RC_CHAN: hz, POSITION: hz, EXTRA1: hz, EXTRA2: hz, EXTRA3: hz };
    return { px4: px4.has(sysid), coldStart: a.coldStart, legacyParamNames: a.legacyParamNames, savedStreams };
  };
}

export function startMs(s: Scenario): number {
  return Date.parse(s.start);
}

export function buildSim(scenario: Scenario, seed: number): BuiltSim {
  const t0 = startMs(scenario);
  const clock = new ManualClock(t0);
  const loc = scenario.location;
  const cover = scenario.weather.clouds;
  const clouds = new CloudCover({ seed: seed * 31 + 7, meanCover: cover.meanCover, changeHours: cover.change / 3600_000, startMs: t0, changes: cover.changes.map((ch) => ({ atMs: t0 + ch.at, meanCover: ch.meanCover })) });
  const sky = skyModel({ latitudeDeg: loc.latitudeDeg, longitudeDeg: loc.longitudeDeg, elevationM: loc.elevationM, linkeTurbidity: scenario.weather.linkeTurbidity, clouds });
  // The world places drones on the radios; the radio needs the world for distances, so it asks late.
  let world: SimWorld | undefined;
  const radios = Array.from({ length: scenario.radios.count }, (_, i) =>
    sikRadio({
      clock,
      seed: seed * 1009 + i,
      name: `radio${i}`,
      baud: scenario.radios.baud,
      latencyMs: scenario.radios.latencyMs,
      byteErrorRate: scenario.radios.byteErrorRate,
      rangeM: scenario.radios.rangeM,
      distanceM: (sysid) => {
        const p = world?.drone(sysid)?.copter.pos;
        return p ? Math.hypot(p.n, p.e, p.u) : 0;
      },
    }),
  );
  const ageing = new Map<number, number>();
  for (const f of scenario.faults) if (f.type === 'battery-ageing') ageing.set(f.drone, f.capacityLoss);
  const w = scenario.weather.wind;
  world = new SimWorld({
    clock,
    seed,
    origin: { latDeg: loc.latitudeDeg, lonDeg: loc.longitudeDeg, altitudeM: loc.elevationM },
    drones: scenario.swarm.drones,
    airframe: scenario.airframe,
    battery: { capacityWh: scenario.battery.capacityWh, cells: scenario.battery.cells, internalResistanceOhm: scenario.battery.internalResistanceOhm, soc: scenario.battery.initialSoc },
    ageing,
    padChargeW: scenario.battery.padChargeW,
    net: scenario.net,
    netAltitudeM: scenario.swarm.altitudeM,
    wind: { meanMs: w.meanMs, gustMs: w.gustMs, directionDeg: w.directionDeg },
    sky,
    radios,
    gpsFixAfterMs: 20_000,
    autopilot: droneFirmware(scenario, seed),
  });
  const built = world;

  const events: SimEvent[] = [];
  for (const c of w.changes) {
    events.push({
      atMs: t0 + c.at,
      what: `wind now ${c.meanMs} m/s mean${c.gustMs === undefined ? '' : `, gusts ${c.gustMs} m/s`}`,
      apply: () => {
        built.wind.meanMs = c.meanMs;
        if (c.gustMs !== undefined) built.wind.gustMs = c.gustMs;
      },
    });
  }
  for (const ch of cover.changes) {
    // The cover itself follows from the sky (CloudCover reads the changes); the event is the record.
    events.push({ atMs: t0 + ch.at, what: `cloud cover now ${Math.round(ch.meanCover * 100)} % mean`, apply: () => {} });
  }
  const outages: ContactWindow[] = [];
  const pickFlying = seededRandom(seed * 2003 + 11);
  for (const f of scenario.faults) {
    switch (f.type) {
      case 'motor-failure':
        events.push({
          atMs: t0 + f.at,
          what: f.drone === 'flying' ? 'motor failure on a drone in flight' : `drone ${f.drone}: motor failure`,
          apply: () => {
            const flying = built.drones.filter((d) => d.flying && !d.copter.failed);
            const target = f.drone === 'flying' ? flying[Math.floor(pickFlying() * flying.length)] : built.drone(f.drone)!;
            if (!target) return 'motor failure: no drone in flight';
            target.copter.failed = true;
            const where = target.flying ? `in flight at ${Math.round(target.copter.pos.u)} m` : 'on the ground';
            return `drone ${target.sysid}: motor failure ${where}`;
          },
        });
        break;
      case 'radio-blackout': {
        const targets = f.radio === undefined ? radios : [radios[f.radio % radios.length]!];
        events.push({ atMs: t0 + f.at, what: `radio blackout for ${f.for / 1000} s`, apply: () => targets.forEach((r) => r.setBlackout(true)) });
        events.push({ atMs: t0 + f.at + f.for, what: 'radio blackout over', apply: () => targets.forEach((r) => r.setBlackout(false)) });
        break;
      }
      case 'satellite-outage':
        outages.push({ start: t0 + f.at, end: t0 + f.at + f.for });
        events.push({ atMs: t0 + f.at, what: `satellite outage for ${f.for / 60_000} min`, apply: () => {} });
        break;
      case 'battery-fault':
        events.push({
          atMs: t0 + f.at,
          what: `drone ${f.drone}: battery fault, charge falls to ${Math.round(f.soc * 100)} %`,
          apply: () => {
            const b = built.drone(f.drone)!.battery;
            b.energyWh = Math.min(b.energyWh, b.capacityWh * f.soc);
          },
        });
        break;
      case 'battery-ageing':
        break;
      case 'autopilot-reboot':
        events.push({ atMs: t0 + f.at, what: `drone ${f.drone}: autopilot reboots`, apply: () => built.drone(f.drone)!.reboot() });
        break;
    }
  }
  events.sort((a, b) => a.atMs - b.atMs);
  const contacts = contactWindows({
    startMs: t0,
    durationMs: scenario.duration,
    obstructions: scenario.satellite.obstructions.map((o) => ({ everyMs: o.every, lengthMs: o.length, offsetMs: o.offset })),
    outages,
  });
  let next = 0;
  return {
    scenario,
    seed,
    clock,
    world,
    radios,
    sky,
    contacts,
    events,
    due(nowMs) {
      const fired: SimEvent[] = [];
      while (next < events.length && events[next]!.atMs <= nowMs) {
        const e = events[next++]!;
        const happened = e.apply();
        fired.push(happened ? { ...e, what: happened } : e);
      }
      return fired;
    },
  };
}
