/**
 * `canopy.yaml`: what a Pi owner configures — the drone links and pilots' tools, the site, the
 * mesh (ports, TLS, anonymous role, Redis scale-out) and the uplink relay (upstream broker with
 * credentials and TLS, contact plan, dish, priority classes). zigbee2mqtt-style: one YAML file,
 * every field optional, validated as a whole, and a wrong field named with its path before
 * anything starts. Without `links.drones` the site is simulated (`simulation.scenario`).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CanopyError } from '../common/errors.ts';
import { parseLinkUrl } from '../firmware-bridge/links/url.ts';
import { formatIssues } from './config-issues.ts';
import type { MeshOptions } from './mesh/mesh.ts';
import type { RelayOptions } from './relay/relay.ts';
import type { DownlinkSettings } from './relay/downlink.ts';
import type { SiteOptions } from './site.ts';
import { parseSize } from './store/size.ts';
import { vedirectUrl } from '../hardware/vedirect.ts';
import { MIN_NET_ALTITUDE_M } from './fleet/formation.ts';
import { duration } from '../common/duration.ts';
import type { ForecastFeedSettings } from './power/forecast-feed.ts';
import { distanceKm } from './power/outside-forecast.ts';

/** A port in a file is where others will look for the service: 0 (any free port) is for tests and flags, not for a config. */
const port = z.number().int().min(1, 'a port from 1 to 65535 (0 would pick a different port at every start)').max(65535);
/** A link URL (firmware-bridge/links/url.ts), checked here so a typo stops `config check`, not a start. */
const linkUrl = z.string().min(1).superRefine((v, ctx) => {
  try {
    const spec = parseLinkUrl(v);
    if ('port' in spec && spec.port === 0) ctx.addIssue({ code: 'custom', message: `port 0 in "${v}" would pick a different port at every start: name a port from 1 to 65535` });
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});

/** What a link URL opens, for telling two spellings of one link apart ("udpin://0.0.0.0:14550/" and "udpin://0.0.0.0:14550"). */
function linkIdentity(url: string): string | undefined {
  try {
    const s = parseLinkUrl(url);
    if (s.kind === 'serial') return `serial:${s.path}`;
    if (s.kind === 'memory') return `memory:${s.name}`;
    // A server link is one socket on its port; a client one is one peer.
    return s.kind === 'udpin' || s.kind === 'tcpin' ? `${s.kind}:${s.port}` : `${s.kind}:${s.host.toLowerCase()}:${s.port}`;
  } catch {
    return undefined;
  }
}
/** A VE.Direct device's URL (charge controller, battery monitor): a link URL of a kind VE.Direct can be read from (serial or a TCP bridge). */
const vedirectLinkUrl = z.string().min(1).superRefine((v, ctx) => {
  try {
    vedirectUrl(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
  }
});
/**
 * An outside forecast's URL: http(s), Open-Meteo's forecast format, asking for what the budget reads
 * (hourly shortwave_radiation and/or cloud_cover). Where it names the place, that is checked
 * against site.location in the site's refinement.
 */
const forecastUrl = z.string().min(1).superRefine((v, ctx) => {
  let url: URL;
  try {
    url = new URL(v);
  } catch {
    ctx.addIssue({ code: 'custom', message: `"${v}" is not a URL (write e.g. https://api.open-meteo.com/v1/forecast?latitude=53.55&longitude=9.99&hourly=cloud_cover,shortwave_radiation&timezone=GMT&forecast_days=3)` });
    return;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') ctx.addIssue({ code: 'custom', message: `an http:// or https:// URL, not ${url.protocol}` });
  const hourly = url.searchParams.getAll('hourly').flatMap((h) => h.split(','));
  if (!hourly.includes('shortwave_radiation') && !hourly.includes('cloud_cover')) ctx.addIssue({ code: 'custom', message: 'the URL must ask for hourly=shortwave_radiation and/or cloud_cover (Open-Meteo\'s names): the power budget reads nothing else' });
  if (url.searchParams.has('past_days')) ctx.addIssue({ code: 'custom', message: 'leave out past_days: the budget wants the hours ahead, and a forecast starts at 00:00 of the day it was made' });
});
const positiveDuration = duration.refine((ms) => ms > 0, { message: 'a duration longer than 0 (e.g. 3h)' });

const listen = z.strictObject({ port: port.optional(), host: z.string().min(1).optional() });
const file = z.string().min(1);
const ttl = z.union([duration, z.null()]);

const ClassSchema = z.strictObject({ ttl: ttl.optional(), share: z.number().min(0).max(1).optional() });

/** A byte size for the store's quotas: "10G", "500MiB" or a number of bytes. */
const storeSize = z.union([z.string(), z.number()]).transform((v, ctx) => {
  try {
    return parseSize(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});

/** Where a signing key comes from: a file or an environment variable holding 64 hex digits, or a passphrase (its SHA-256, as MAVProxy and Mission Planner make keys). */
const keySource = z.union([z.strictObject({ file }), z.strictObject({ env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name') })]);
const gcsSigning = z.enum(['trusted', 'signed']);

/** The configuration format this Canopy reads (`version:` at the top of the file; absent means 1). */
export const CONFIG_VERSION = 1;

export const ConfigSchema = z.strictObject({
  version: z.literal(CONFIG_VERSION).default(CONFIG_VERSION),
  /** Where users.json and the relay's outbox live. Relative paths are relative to this file. */
  dataDir: z.string().min(1).default('canopy-data'),
  sysid: z.number().int().min(1).max(255).default(255),
  links: z
    .strictObject({
      /** Drone radios by link URL (serial:/dev/ttyUSB0?baud=57600, tcp://…, udpin://…). Empty: simulated site. */
      drones: z.array(linkUrl).default([]),
      /** Pilots' tools (QGroundControl on udpout://127.0.0.1:14550). */
      gcs: z.array(linkUrl).default(['udpout://127.0.0.1:14550']),
      readOnlyGcs: z.boolean().default(false),
    })
    .superRefine((l, ctx) => {
      // One device or port, one link: a second would fight the first for its bytes (or fail to bind).
      const seen = new Map<string, string>();
      for (const field of ['drones', 'gcs'] as const) {
        l[field].forEach((url, i) => {
          const id = linkIdentity(url);
          if (id === undefined) return;
          const first = seen.get(id);
          if (first) ctx.addIssue({ code: 'custom', path: [field, i], message: `the same link as ${first}: each device or port once` });
          else seen.set(id, `links.${field}.${i}`);
        });
      }
    })
    .default({ drones: [], gcs: ['udpout://127.0.0.1:14550'], readOnlyGcs: false }),
  simulation: z
    .strictObject({
      scenario: z.string().min(1).default('clear-summer-day'),
      /** UTC time of day (HH:MM) or ISO time the simulated clock starts at. */
      at: z.string().optional(),
      speed: z.number().positive().max(1000).default(1),
      seed: z.number().int().min(0).default(1),
    })
    .default({ scenario: 'clear-summer-day', speed: 1, seed: 1 }),
  mesh: z
    .strictObject({
      baseTopic: z.string().regex(/^[^#+/][^#+]*[^#+/]$|^[^#+/]$/, 'a topic without wildcards or leading/trailing "/"').default('canopy'),
      mqtt: z.union([listen, z.literal(false)]).default({ port: 1883 }),
      websocket: z.union([listen.extend({ path: z.string().optional(), tls: z.boolean().optional() }), z.literal(false)]).default({ port: 9001 }),
      tls: listen.extend({ certFile: file, keyFile: file, caFile: file.optional() }).optional(),
      /** Role given to clients without a username; absent: refused. */
      anonymousRole: z.enum(['viewer', 'phone', 'neighbour']).optional(),
      stateRateHz: z.number().positive().max(50).default(2),
      redis: z.strictObject({ host: z.string().optional(), port: port.optional(), password: z.string().optional(), db: z.number().int().min(0).optional() }).optional(),
      /** What clients may cost (controller/mesh/guard.ts); unset fields keep their defaults. */
      limits: z
        .strictObject({
          maxConnections: z.number().int().min(1).optional(),
          maxConnectionsPerAddress: z.number().int().min(1).optional(),
          maxPendingPerAddress: z.number().int().min(1).optional(),
          /** Large enough for the store's sealed 256 KiB chunks. */
          maxPacketBytes: z.number().int().min(300 * 1024).max(256 * 1024 * 1024).optional(),
          maxConcurrentLogins: z.number().int().min(1).max(16).optional(),
          loginQueue: z.number().int().min(0).max(1000).optional(),
        })
        .optional(),
    })
    .default({ baseTopic: 'canopy', mqtt: { port: 1883 }, websocket: { port: 9001 }, stateRateHz: 2 }),
  /** The dashboard (controller/dashboard/): web app, MQTT over WebSocket on /mqtt, /metrics; false turns it off. */
  dashboard: z
    .union([
      z.strictObject({
        host: z.string().min(1).default('127.0.0.1'),
        port: port.default(8080),
        /** Home Assistant's MQTT discovery prefix; false publishes no discovery. */
        homeAssistant: z.union([z.string().regex(/^[^#+/][^#+]*[^#+/]$|^[^#+/]$/, 'a topic without wildcards or leading/trailing "/"'), z.literal(false)]).default('homeassistant'),
      }),
      z.literal(false),
    ])
    .prefault({}),
  relay: z
    .strictObject({
      /** Names this site in relay ids and upstream topics. */
      origin: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." or "-"'),
      outbox: z.string().min(1).default('outbox.sqlite'),
      upstream: z.strictObject({
        url: z.string().regex(/^(mqtts?|wss?):\/\//, 'an mqtt://, mqtts://, ws:// or wss:// URL'),
        username: z.string().optional(),
        password: z.string().optional(),
        tls: z.strictObject({ caFile: file.optional(), certFile: file.optional(), keyFile: file.optional(), rejectUnauthorized: z.boolean().optional() }).optional(),
        protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
        topicPrefix: z.string().min(1).optional(),
        keepalive: duration.optional(),
      }),
      /** `always`, or the windows in which the satellite is reachable (ISO times). */
      contactPlan: z.union([z.literal('always'), z.array(z.strictObject({ start: z.iso.datetime({ offset: true }), end: z.iso.datetime({ offset: true }), budgetBytes: z.number().int().positive().optional() }))]).default('always'),
      dish: z.strictObject({ watts: z.number().positive(), boot: duration.optional(), idleOff: duration.optional() }).optional(),
      classes: z.strictObject({ control: ClassSchema.optional(), hot: ClassSchema.optional(), bulk: ClassSchema.optional() }).optional(),
      /** Prefetch into the phone's hot cache through the same dish (relay/downlink.ts, docs/prefetch.md); false: none. */
      downlink: z
        .union([
          z.strictObject({
            /** The queue's SQLite file (relative: in the data directory). */
            queue: z.string().min(1).default('downlink.sqlite'),
            /** Bytes the downlink may carry per contact window; unlimited when absent. */
            windowBytes: z.number().int().positive().optional(),
          }),
          z.literal(false),
        ])
        .prefault({}),
    })
    .optional(),
  /** The station's Victron MPPT on VE.Direct, the power budget's reference cell (power/charge-controller.ts). */
  chargeController: z
    .strictObject({
      /** serial:/dev/ttyUSB1 (19200 baud unless the URL says otherwise) or tcp://host:port of a serial bridge. */
      url: vedirectLinkUrl,
      /** The station panel's rated power, Wp. */
      panelWp: z.number().positive(),
      /** Delivered / rated power at 1000 W/m² (temperature, wiring, tilt). Default 0.8. */
      performanceRatio: z.number().gt(0).max(1.2).optional(),
    })
    .optional(),
  /** The station battery's Victron BMV (or SmartShunt) on VE.Direct: the budget's measured state of charge (power/battery-monitor.ts). */
  batteryMonitor: z
    .strictObject({
      /** serial:/dev/ttyUSB2 (19200 baud unless the URL says otherwise) or tcp://host:port of a serial bridge. */
      url: vedirectLinkUrl,
    })
    .optional(),
  /**
   * The site the fleet flies on real links (absent: Canopy runs the ground station, the mesh and the
   * relay and flies nothing). The figures are those of the simulator's scenarios.
   */
  /** MAVLink 2 signing on the links (controller/signing.ts); absent: nothing is signed or checked. */
  signing: z
    .strictObject({
      /** The network key: frames to and from every drone without a key of its own. */
      key: keySource.optional(),
      /** Keys per drone, by system id. */
      drones: z.record(z.string().regex(/^(25[0-5]|2[0-4]\d|1\d\d|[1-9]\d?)$/, 'a system id from 1 to 255'), keySource).default({}),
      /** Drone links drop unsigned frames (the radio's RADIO_STATUS excepted) and frames signed with no key held. */
      requireSigned: z.boolean().default(true),
      /** GCS links: `trusted` pass unsigned frames, `signed` must sign with the network key. */
      gcs: gcsSigning.default('trusted'),
      /** Per GCS link URL (one of links.gcs), overriding `gcs`. */
      gcsLinks: z.record(z.string(), gcsSigning).default({}),
      /** A signed timestamp further ahead of local time than this is refused (s). */
      futureToleranceS: z.number().min(1).max(3600).default(60),
    })
    .refine((g) => g.key !== undefined || Object.keys(g.drones).length > 0, { message: 'give a network key (key) or keys per drone (drones)' })
    .optional(),
  site: z
    .strictObject({
      location: z.strictObject({
        latitudeDeg: z.number().min(-90).max(90),
        longitudeDeg: z.number().min(-180).max(180),
        elevationM: z.number().min(-500).max(9000).default(0),
        /** Linke turbidity of the clear-sky model: 2 clean mountain air … 3–4 farmland … 6 hazy city. */
        linkeTurbidity: z.number().min(1).max(8).default(3),
      }),
      drone: z
        .strictObject({ massKg: z.number().positive().default(2.5), hoverWPerKg: z.number().positive().default(180), batteryWh: z.number().positive().default(222), padChargeW: z.number().positive().default(250) })
        .prefault({}),
      net: z
        .strictObject({ massKgPerM2: z.number().min(0).default(0.25), areaM2PerDrone: z.number().positive().default(12), efficiency: z.number().gt(0).max(1).default(0.2), mpptEfficiency: z.number().gt(0).max(1).default(0.97) })
        .prefault({}),
      formation: z
        .strictObject({
          // Launches stage 20 m under the net (transit layer 12 m under it, staging 8 m under that).
          altitudeM: z.number().min(MIN_NET_ALTITUDE_M).max(120).default(60),
          spacingM: z.number().positive().default(10),
          minSeparationM: z.number().positive().default(5),
          spares: z.number().int().min(0).default(1),
          /** Sustained wind (m/s, the ten-minute mean) over which everyone lands. */
          windLimitMs: z.number().positive().max(30).default(12),
          /** Over this the net comes down to lowAltitudeM and shrinks to half. Default 0.75 × windLimitMs. */
          windLowerMs: z.number().positive().optional(),
          /** The net's altitude in a strong wind. Default two thirds of altitudeM. */
          lowAltitudeM: z.number().min(MIN_NET_ALTITUDE_M).optional(),
        })
        .refine((f) => f.spacingM >= 2 * f.minSeparationM, { message: 'spacingM must be at least twice minSeparationM (stations are a hexagonal lattice)', path: ['spacingM'] })
        .refine((f) => f.windLowerMs === undefined || f.windLowerMs < f.windLimitMs, { message: 'windLowerMs must be below windLimitMs', path: ['windLowerMs'] })
        .refine((f) => f.lowAltitudeM === undefined || f.lowAltitudeM <= f.altitudeM, { message: 'lowAltitudeM must not be above altitudeM', path: ['lowAltitudeM'] })
        .prefault({}),
      /** Fly the net as soon as Canopy starts; by default it waits for an admin's launch (dashboard, or <base>/bridge/request/fleet/launch). */
      autoLaunch: z.boolean().default(false),
      /**
       * The site's recorded climate (docs/forecast.md): the mean sky index (measured over clear-sky
       * irradiance, 0–1), one figure or twelve (January first), e.g. from PVGIS. The forecast's
       * fallback pools it with the sky the site measures; absent: the measured sky alone.
       */
      climate: z
        .strictObject({
          skyIndex: z.union([
            z.number().gt(0).max(1),
            z.array(z.number().gt(0).max(1)).refine((a) => a.length === 12, { message: 'give one sky index, or twelve (one per month, January first)' }),
          ]),
        })
        .optional(),
      /** An outside weather forecast for the power budget (docs/forecast.md); absent: it forecasts from the measured sky alone. */
      forecast: z
        .strictObject({
          /** Open-Meteo's forecast URL for the site, fetched over the uplink; absent: only forecasts published on <base>/weather/forecast. */
          url: forecastUrl.optional(),
          /** How often a fresh one is fetched (when a window is open and the budget grants the uplink). Default 3h. */
          every: positiveDuration.optional(),
          /** Older than this, a forecast is stale: refused, or dropped. Default 24h. */
          maxAge: positiveDuration.optional(),
          /** How far (km) the forecast's coordinates may lie from site.location: Open-Meteo answers for its grid cell. Default 30. */
          placeToleranceKm: z.number().positive().max(500).optional(),
          /** Take forecasts published on <base>/weather/forecast (admin, homeassistant). Default true. */
          fromMesh: z.boolean().default(true),
        })
        .optional(),
    })
    .superRefine((s, ctx) => {
      const url = s.forecast?.url;
      if (!url || !URL.canParse(url)) return;
      const q = new URL(url).searchParams;
      const lat = Number(q.get('latitude'));
      const lon = Number(q.get('longitude'));
      if (!q.has('latitude') || !q.has('longitude') || !Number.isFinite(lat) || !Number.isFinite(lon)) {
        ctx.addIssue({ code: 'custom', path: ['forecast', 'url'], message: 'the URL must name the site: latitude=…&longitude=… (Open-Meteo\'s parameters)' });
        return;
      }
      const km = distanceKm({ latDeg: lat, lonDeg: lon }, { latDeg: s.location.latitudeDeg, lonDeg: s.location.longitudeDeg });
      const tolerance = s.forecast?.placeToleranceKm ?? 30;
      if (km > tolerance) ctx.addIssue({ code: 'custom', path: ['forecast', 'url'], message: `latitude=${lat}&longitude=${lon} is ${km.toFixed(0)} km from site.location (${s.location.latitudeDeg}, ${s.location.longitudeDeg}); its forecasts would be refused as for another place` });
    })
    .optional(),
  /** The phone store and backups (controller/store/): `canopy phone`, `canopy backup`, `canopy restore`. */
  store: z
    .strictObject({
      /** The owner's mesh username, which is also the name of the owner's phone agent. */
      owner: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." or "-"').default('phone'),
      /** The neighbours' phone agents (their mesh usernames) that keep the owner's erasure shares. */
      neighbours: z.array(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'letters, digits, "_", "." or "-"')).default([]),
      /** k-of-n Reed-Solomon: any k of a chunk's n shares rebuild it. */
      k: z.number().int().min(1).max(255).default(3),
      n: z.number().int().min(1).max(255).default(6),
      /** Byte limits of the phone's classes ("10G", "500MiB" or bytes): cold = neighbours' backups, hot = cache. */
      quotas: z.strictObject({ own: storeSize.optional(), cold: storeSize.optional(), hot: storeSize.optional() }).optional(),
    })
    .refine((s) => s.k <= s.n, { message: 'k must not be larger than n', path: ['k'] })
    .optional(),
});

/** `dir`: relative paths in the file are relative to it; `envOverrides`: the SECRET_ENV variables applied. */
export type CanopyConfig = DeepReadonly<z.output<typeof ConfigSchema> & { dir: string; envOverrides?: string[] }>;

/** What the configuration is once validated: frozen (deepFreeze), and typed so. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown ? T : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;

/**
 * Secrets may come from the environment instead of the file (systemd `EnvironmentFile=`, a
 * container's secrets): a variable that is set and not empty wins over the file. It applies only
 * where its section is configured (a relay password without a relay configures nothing).
 */
export const SECRET_ENV: ReadonlyArray<{ env: string; path: readonly string[] }> = [
  { env: 'CANOPY_RELAY_PASSWORD', path: ['relay', 'upstream', 'password'] },
  { env: 'CANOPY_REDIS_PASSWORD', path: ['mesh', 'redis', 'password'] },
];

/** Sets the SECRET_ENV values in the parsed YAML; returns the names applied. */
function applySecretEnv(raw: unknown, env: NodeJS.ProcessEnv): string[] {
  const applied: string[] = [];
  for (const { env: name, path } of SECRET_ENV) {
    const value = env[name];
    if (!value) continue;
    let parent: unknown = raw;
    for (const k of path.slice(0, -1)) parent = parent && typeof parent === 'object' ? (parent as Record<string, unknown>)[k] : undefined;
    if (!parent || typeof parent !== 'object' || Array.isArray(parent)) continue;
    (parent as Record<string, unknown>)[path.at(-1)!] = value;
    applied.push(name);
  }
  return applied;
}

/**
 * Parses and validates a config text; every problem is listed at once with its field path, the
 * value found and what is allowed. `env` supplies the SECRET_ENV overrides.
 */
export function parseConfig(text: string, source: string, dir = '.', env: NodeJS.ProcessEnv = process.env, overrides?: ConfigOverrides): CanopyConfig {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: not valid YAML: ${(e as Error).message}`);
  }
  raw ??= {};
  if (overrides) {
    raw = mergeOverrides(raw, overrides.values);
    source = `${source} with ${overrides.source}`;
  }
  const version = (raw as { version?: unknown }).version;
  if (typeof version === 'number' && Number.isInteger(version) && version > CONFIG_VERSION) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: configuration version ${version} is newer than this Canopy reads (version ${CONFIG_VERSION}); update Canopy or write the file for version ${CONFIG_VERSION}`);
  }
  const envOverrides = applySecretEnv(raw, env);
  const r = ConfigSchema.safeParse(raw);
  if (!r.success) {
    const lines = formatIssues(r.error.issues, raw, ConfigSchema);
    throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid configuration (${lines.length} problem${lines.length === 1 ? '' : 's'})\n  ${lines.join('\n  ')}`);
  }
  const c = r.data;
  for (const [i, w] of (c.relay?.contactPlan === 'always' ? [] : (c.relay?.contactPlan ?? [])).entries()) {
    if (Date.parse(w.end) <= Date.parse(w.start)) throw new CanopyError('CANOPY_ERR_CONFIG', `${source}: invalid configuration\n  relay.contactPlan.${i}: end must be after start`);
  }
  return deepFreeze({ ...c, dir, envOverrides });
}

export function loadConfig(path: string, overrides?: ConfigOverrides): CanopyConfig {
  if (!existsSync(path)) throw new CanopyError('CANOPY_ERR_CONFIG', `${path}: no such configuration file`);
  return parseConfig(readFileSync(path, 'utf8'), path, dirname(path), process.env, overrides);
}

/**
 * Values laid over the file before it is validated (command-line flags, the simulated
 * environment's uplink): the result is checked as a whole, so a `--link` is held to the same
 * rules as `links.drones`. `source` names them in errors ("--link, --sysid").
 */
export interface ConfigOverrides {
  values: Record<string, unknown>;
  source: string;
}

/** Where the data directory is when a command says so: `--data`, else CANOPY_DATA when no file is used (a file says where its data lives). */
export function dataDirFrom(flag: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return flag ?? (!file && env.CANOPY_DATA ? env.CANOPY_DATA : undefined);
}

/** `over` laid on `base`: objects merge key by key, anything else (arrays too) replaces. */
export function mergeOverrides(base: unknown, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = isPlainObject(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? mergeOverrides(out[k], v) : v;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The validated configuration is read-only from here on: nothing may edit it after the check. */
function deepFreeze<T>(o: T): T {
  if (typeof o === 'object' && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}

/** Where `canopy start` and `canopy config` look for the file when none is named, in order. */
export const CONFIG_SEARCH: readonly string[] = ['canopy.yaml', '/etc/canopy/canopy.yaml'];

/** The first file of `search` that exists (relative entries against `cwd`), or undefined. */
export function findConfig(search: readonly string[] = CONFIG_SEARCH, cwd = process.cwd()): string | undefined {
  return search.map((p) => (isAbsolute(p) ? p : join(cwd, p))).find((p) => existsSync(p));
}

/** The defaults, as if an empty file had been given. */
export function defaultConfig(overrides?: ConfigOverrides): CanopyConfig {
  return parseConfig('{}', '(defaults)', '.', process.env, overrides);
}

export function resolvePath(c: CanopyConfig, p: string): string {
  return isAbsolute(p) ? p : join(c.dir, p);
}

export function dataDir(c: CanopyConfig): string {
  return resolvePath(c, c.dataDir);
}

/** Mesh options from the config (users are added by the caller from the data directory). */
export function meshOptions(c: CanopyConfig): Omit<MeshOptions, 'users' | 'clock' | 'log'> {
  const m = c.mesh;
  return {
    baseTopic: m.baseTopic,
    discoveryPrefix: c.dashboard && c.dashboard.homeAssistant !== false ? c.dashboard.homeAssistant : undefined,
    tcp: m.mqtt === false ? false : { port: m.mqtt.port ?? 1883, host: m.mqtt.host },
    ws: m.websocket === false ? false : { port: m.websocket.port ?? 9001, host: m.websocket.host, path: m.websocket.path, tls: m.websocket.tls },
    tls: m.tls ? { port: m.tls.port, host: m.tls.host, certFile: resolvePath(c, m.tls.certFile), keyFile: resolvePath(c, m.tls.keyFile), caFile: m.tls.caFile && resolvePath(c, m.tls.caFile) } : undefined,
    anonymousRole: m.anonymousRole,
    stateRateHz: m.stateRateHz,
    redis: m.redis,
    limits: m.limits,
  };
}


/** The fleet's and the power budget's settings from `site:` (undefined when the file has none). */
export function siteOptions(c: CanopyConfig): Pick<SiteOptions, 'origin' | 'power' | 'fleet' | 'held'> | undefined {
  const s = c.site;
  if (!s) return undefined;
  return {
    origin: { latDeg: s.location.latitudeDeg, lonDeg: s.location.longitudeDeg },
    power: {
      site: s.location,
      airframeMassKg: s.drone.massKg,
      hoverWPerKg: s.drone.hoverWPerKg,
      netMassKgPerM2: s.net.massKgPerM2,
      netAreaM2PerDrone: s.net.areaM2PerDrone,
      netEfficiency: s.net.efficiency,
      mpptEfficiency: s.net.mpptEfficiency,
      batteryWh: s.drone.batteryWh,
      padChargeW: s.drone.padChargeW,
      spares: s.formation.spares,
      radiosW: 2 * c.links.drones.length,
      // The relay powers the dish or not; it reports no idle state, so both figures are its rating.
      ...(c.relay?.dish ? { dishW: { idleW: c.relay.dish.watts, activeW: c.relay.dish.watts } } : {}),
      ...(s.climate ? { climateSkyIndex: s.climate.skyIndex } : {}),
      ...(s.forecast ? { outsideForecast: { maxAgeMs: s.forecast.maxAge, placeToleranceKm: s.forecast.placeToleranceKm } } : {}),
    },
    fleet: {
      altitudeM: s.formation.altitudeM,
      spacingM: s.formation.spacingM,
      minSeparationM: s.formation.minSeparationM,
      windLimitMs: s.formation.windLimitMs,
      windLowerMs: s.formation.windLowerMs,
      lowAltitudeM: s.formation.lowAltitudeM,
    },
    held: !s.autoLaunch,
  };
}
/** Where the budget's outside forecast comes from (`site.forecast`), or undefined when none is configured. */
export function forecastOptions(c: CanopyConfig): ForecastFeedSettings | undefined {
  const f = c.site?.forecast;
  return f && { url: f.url, everyMs: f.every, fromMesh: f.fromMesh };
}

/** Downlink options from the config (its queue, the phone agent it fills: store.owner), or undefined without a relay or with `relay.downlink: false`. */
export function downlinkOptions(c: CanopyConfig): DownlinkSettings | undefined {
  const d = c.relay?.downlink;
  if (!d) return undefined;
  return { path: isAbsolute(d.queue) ? d.queue : join(dataDir(c), d.queue), agent: c.store?.owner ?? 'phone', windowBytes: d.windowBytes };
}

/** Relay options from the config, or undefined when no relay is configured. */
export function relayOptions(c: CanopyConfig): Omit<RelayOptions, 'mesh' | 'clock' | 'log'> | undefined {
  const r = c.relay;
  if (!r) return undefined;
  const tls = r.upstream.tls;
  const cls = (x: { ttl?: number | null; share?: number } | undefined) => (x ? { ttlMs: x.ttl, share: x.share } : undefined);
  return {
    origin: r.origin,
    path: isAbsolute(r.outbox) ? r.outbox : join(dataDir(c), r.outbox),
    upstream: {
      url: r.upstream.url,
      username: r.upstream.username,
      password: r.upstream.password,
      tls: tls && { ...tls, caFile: tls.caFile && resolvePath(c, tls.caFile), certFile: tls.certFile && resolvePath(c, tls.certFile), keyFile: tls.keyFile && resolvePath(c, tls.keyFile) },
      protocolVersion: r.upstream.protocolVersion,
      topicPrefix: r.upstream.topicPrefix,
      keepaliveSec: r.upstream.keepalive === undefined ? undefined : r.upstream.keepalive / 1000,
    },
    plan: r.contactPlan === 'always' ? 'always' : r.contactPlan.map((w) => ({ start: Date.parse(w.start), end: Date.parse(w.end), budgetBytes: w.budgetBytes })),
    dish: r.dish && { watts: r.dish.watts, bootMs: r.dish.boot, idleOffMs: r.dish.idleOff },
    classes: r.classes && { control: cls(r.classes.control), hot: cls(r.classes.hot), bulk: cls(r.classes.bulk) },
  };
}
