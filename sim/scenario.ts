/**
 * Scenario files: where and when the swarm flies, with what aircraft, under what weather, and
 * what goes wrong. YAML, validated against one schema (zod) so a wrong field is reported with its
 * path ("swarm.drones: expected a number, got "twenty""), never half-applied. Every field has a
 * default, so a scenario only says what differs from the stock 25-drone site.
 *
 * Durations are written the way people write them: `18h`, `90m`, `7d`, `2h30m` (controller/config.ts).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { duration } from '../common/duration.ts';
import { CanopyError } from '../common/errors.ts';

export const SCENARIO_DIR = join(fileURLToPath(import.meta.url), '..', 'scenarios');

const HOUR_MS = 3_600_000;
/** A day-ahead forecast of a changeable sky: about 10 % off on the day, 25 % hour by hour, clouds an hour early or late. */
const DEFAULT_FORECAST_ERROR = { dailyError: 0.1, hourlyError: 0.25, timing: HOUR_MS };
const fraction = z.number().min(0).max(1);
const positive = z.number().positive();

const drone = z.number().int().min(1).max(250);

const FaultSchema = z.discriminatedUnion('type', [
  /**
   * A motor fails in flight: no thrust, the aircraft falls (ArduCopter cannot save a quad).
   * `drone: flying` picks one of the drones in the air when the fault comes (seeded).
   */
  z.strictObject({ type: z.literal('motor-failure'), at: duration, drone: z.union([drone, z.literal('flying')]) }),
  /** Every drone radio goes silent (interference, a cable pulled at the ground radio). */
  z.strictObject({ type: z.literal('radio-blackout'), at: duration, for: duration, radio: z.number().int().min(0).optional() }),
  /** The satellite link is down (the operator's outage, rain fade). */
  z.strictObject({ type: z.literal('satellite-outage'), at: duration, for: duration }),
  /** A cell fails in flight: the drone's battery falls to this state of charge (0..1) at once. */
  z.strictObject({ type: z.literal('battery-fault'), at: duration, drone, soc: z.number().min(0).max(1) }),
  /** A drone's battery has lost this fraction of its rated capacity from the start. */
  z.strictObject({ type: z.literal('battery-ageing'), drone, capacityLoss: z.number().min(0).max(0.5) }),
  /** A drone's autopilot restarts (a brown-out, a watchdog): silent, then its cold boot; it forgets what it was asked. */
  z.strictObject({ type: z.literal('autopilot-reboot'), at: duration, drone }),
]);

const hz = z.number().min(0).max(50);

export const ScenarioSchema = z.strictObject({
  name: z.string().min(1).optional(),
  description: z.string().default(''),
  location: z
    .strictObject({
      latitudeDeg: z.number().min(-90).max(90),
      longitudeDeg: z.number().min(-180).max(180),
      elevationM: z.number().min(-500).max(9000).default(0),
    })
    .default({ latitudeDeg: 47.3769, longitudeDeg: 8.5417, elevationM: 408 }),
  /** ISO 8601 with a zone (e.g. 2026-06-21T04:00:00Z). */
  start: z.iso.datetime({ offset: true }).default('2026-06-21T04:00:00Z'),
  // A default is the parsed value (ms): zod does not run it through the duration transform.
  duration: duration.default(18 * HOUR_MS),
  swarm: z
    .strictObject({
      drones: z.number().int().min(1).max(250).default(25),
      /** Drones held back on the pads beyond what rotation needs. */
      spares: z.number().int().min(0).default(0),
      /** Station spacing in the net, m. */
      spacingM: positive.default(10),
      // The fleet's lowest net (controller/fleet/formation.ts MIN_NET_ALTITUDE_M: launches stage 20 m under it).
      altitudeM: z.number().min(25).max(120).default(60),
    })
    .default({ drones: 25, spares: 0, spacingM: 10, altitudeM: 60 }),
  airframe: z
    .strictObject({
      massKg: positive.default(2.5),
      maxSpeedMs: positive.default(12),
      maxAccelMs2: positive.default(3),
      maxClimbMs: positive.default(2.5),
      maxDescentMs: positive.default(1.5),
      /** Hover power per kg of all-up mass (≈ 180 W/kg for a typical quad). */
      hoverWPerKg: positive.default(180),
    })
    .default({ massKg: 2.5, maxSpeedMs: 12, maxAccelMs2: 3, maxClimbMs: 2.5, maxDescentMs: 1.5, hoverWPerKg: 180 }),
  battery: z
    .strictObject({
      capacityWh: positive.default(222),
      cells: z.number().int().min(1).max(14).default(6),
      internalResistanceOhm: z.number().min(0).default(0.02),
      initialSoc: fraction.default(1),
      /** Ground pad charging power, W. */
      padChargeW: positive.default(250),
    })
    .default({ capacityWh: 222, cells: 6, internalResistanceOhm: 0.02, initialSoc: 1, padChargeW: 250 }),
  net: z
    .strictObject({
      massKgPerM2: z.number().min(0).default(0.25),
      areaM2PerDrone: positive.default(12),
      /** Cell efficiency of the flexible panels. */
      efficiency: fraction.default(0.2),
      mpptEfficiency: fraction.default(0.97),
    })
    .default({ massKgPerM2: 0.25, areaM2PerDrone: 12, efficiency: 0.2, mpptEfficiency: 0.97 }),
  weather: z
    .strictObject({
      wind: z
        .strictObject({
          meanMs: z.number().min(0).default(3),
          gustMs: z.number().min(0).default(1),
          directionDeg: z.number().min(0).max(360).default(270),
          /** Later changes of the mean wind (a front coming through). */
          changes: z.array(z.strictObject({ at: duration, meanMs: z.number().min(0), gustMs: z.number().min(0).optional() })).default([]),
        })
        .default({ meanMs: 3, gustMs: 1, directionDeg: 270, changes: [] }),
      clouds: z
        .strictObject({
          /** Mean cloud cover, 0 (clear) to 1 (overcast). */
          meanCover: fraction.default(0),
          /** How fast the cover changes (correlation time). */
          change: duration.default(3 * HOUR_MS),
          /** Later changes of the mean cover (a front closing in, clearing after); the sky turns within one `change`. */
          changes: z.array(z.strictObject({ at: duration, meanCover: fraction })).default([]),
          /**
           * The controller knows the site's climate from a record (site.climate), as a real site
           * configured from PVGIS would: the sky index of this mean cover in another year. false:
           * it learns the climate from the sky it measures alone.
           */
          recorded: z.boolean().default(true),
        })
        .default({ meanCover: 0, change: 3 * HOUR_MS, changes: [], recorded: true }),
      /** Linke turbidity for the Ineichen–Perez clear sky (2 very clean air … 6 hazy). */
      linkeTurbidity: z.number().min(1).max(10).default(3),
      /** The simulated weather service's error against this sky (sim/weather-service.ts); σ of natural logs, and of the clouds' timing. */
      forecast: z
        .strictObject({
          /** The whole day too bright or too dark (0.1 ≈ 10 %). */
          dailyError: z.number().min(0).max(2).default(DEFAULT_FORECAST_ERROR.dailyError),
          /** Each few hours' own error, smooth between 3-hour knots. */
          hourlyError: z.number().min(0).max(2).default(DEFAULT_FORECAST_ERROR.hourlyError),
          /** The clouds arriving early or late (the same shift all day). */
          timing: duration.default(DEFAULT_FORECAST_ERROR.timing),
        })
        .default(DEFAULT_FORECAST_ERROR),
    })
    .default({ wind: { meanMs: 3, gustMs: 1, directionDeg: 270, changes: [] }, clouds: { meanCover: 0, change: 3 * HOUR_MS, changes: [], recorded: true }, linkeTurbidity: 3, forecast: DEFAULT_FORECAST_ERROR }),
  radios: z
    .strictObject({
      /** Ground radios; drones are spread over them round-robin. */
      count: z.number().int().min(1).max(16).default(1),
      baud: z.number().int().min(1200).default(57600),
      latencyMs: z.number().min(0).default(30),
      byteErrorRate: fraction.default(1e-5),
      rangeM: positive.default(2000),
    })
    .default({ count: 1, baud: 57600, latencyMs: 30, byteErrorRate: 1e-5, rangeM: 2000 }),
  satellite: z
    .strictObject({
      /** Dish power profile: mini 20–40 W, standard 50–100 W. */
      dish: z.enum(['mini', 'standard']).default('standard'),
      capacityMbps: positive.default(17),
      latencyMs: z.number().min(0).default(40),
      /** Recurring obstructions (a tree line, the net itself): `length` out of every `every`. */
      obstructions: z.array(z.strictObject({ every: duration, length: duration, offset: duration.default(0) })).default([]),
    })
    .default({ dish: 'standard', capacityMbps: 17, latencyMs: 40, obstructions: [] }),
  /** How the drones' autopilots ship (sim/autopilot.ts, sim/px4.ts: as strict as the real firmware). */
  autopilots: z
    .strictObject({
      /** The station and every drone are powered on together at the start: each boots (the EKF uses GPS 30–45 s later). Default: warmed up. */
      coldStart: z.boolean().default(false),
      /** Stream groups a GCS saved on every ArduPilot drone, Hz: one rate, or [min, max] drawn per drone. Default: none (stock: 0). */
      savedStreamsHz: z.union([hz, z.tuple([hz, hz])]).optional(),
      /** The pre-4.7 ArduPilot parameter names (SYSID_THISMAV, SRn_*). */
      legacyParamNames: z.boolean().default(false),
      /** The drones that fly PX4 (the rest fly ArduCopter). */
      px4: z.array(drone).default([]),
    })
    .default({ coldStart: false, legacyParamNames: false, px4: [] }),
  faults: z.array(FaultSchema).default([]),
});

export type Scenario = z.output<typeof ScenarioSchema> & { name: string };
export type Fault = z.output<typeof FaultSchema>;

function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
  return `${path}: ${issue.message}`;
}

/** Validates a parsed scenario object; throws a CanopyError listing every problem with its path. */
export function validateScenario(raw: unknown, source: string): Scenario {
  const r = ScenarioSchema.safeParse(raw ?? {});
  if (!r.success) {
    const lines = r.error.issues.map(describeIssue);
    throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid scenario\n  ${lines.join('\n  ')}`);
  }
  const s = r.data;
  for (const [i, f] of s.faults.entries()) {
    if ('drone' in f && typeof f.drone === 'number' && f.drone > s.swarm.drones) throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid scenario\n  faults.${i}.drone: no drone ${f.drone} in a swarm of ${s.swarm.drones}`);
    if ('at' in f && f.at > s.duration) throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid scenario\n  faults.${i}.at: after the end of the run (${s.duration / 3600_000} h)`);
  }
  if (s.swarm.spares >= s.swarm.drones) throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid scenario\n  swarm.spares: ${s.swarm.spares} spares leave no drone to fly (swarm.drones is ${s.swarm.drones})`);
  return { ...s, name: s.name ?? basename(source).replace(/\.ya?ml$/, '') };
}

export function parseScenario(text: string, source: string): Scenario {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: not valid YAML: ${(e as Error).message}`);
  }
  return validateScenario(raw, source);
}

/** The scenarios shipped in sim/scenarios, by name. */
export function shippedScenarios(): string[] {
  return readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => f.replace(/\.yaml$/, ''))
    .sort();
}

/** A shipped scenario by name, or a YAML file by path. */
export function loadScenario(nameOrFile: string): Scenario {
  const shipped = join(SCENARIO_DIR, `${nameOrFile}.yaml`);
  const file = existsSync(shipped) ? shipped : nameOrFile;
  if (!existsSync(file)) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `no scenario "${nameOrFile}": not a file, and not one of the shipped scenarios (${shippedScenarios().join(', ')})`);
  }
  return parseScenario(readFileSync(file, 'utf8'), file);
}

/** The default site: 25 drones, a clear mid-latitude summer day (what `canopy start` flies). */
export function defaultScenario(): Scenario {
  return loadScenario('clear-summer-day');
}
