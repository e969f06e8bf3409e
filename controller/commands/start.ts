/**
 * `canopy start`: the ground station. Settings come from `--config canopy.yaml` (see config.ts)
 * with command-line flags on top. With drone links (`--link URL` or `links.drones`) it attaches
 * them, answers as a GCS (sysid 255 by default, 1 Hz HEARTBEAT), keeps vehicle sessions, routes
 * every frame to the pilots' tools (QGroundControl on udp 14550 by default), records a tlog, runs
 * the MQTT mesh with the drones on it and, when configured, the uplink relay, and prints the
 * fleet. Without drone links it flies the simulated site (harness/simulated-start.ts, handed in by
 * bin/canopy.js). Either way
 * it is one Application (app/application.ts); only the environment handed to it differs. Flags
 * are laid over the file before it is validated, and the result is frozen.
 */
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { streamLogger, type Logger } from '../../firmware-bridge/log.ts';
import { Application } from '../app/application.ts';
import { realEnvironment } from '../app/real-environment.ts';
import { dataDir, dataDirFrom, defaultConfig, findConfig, loadConfig, type CanopyConfig, type ConfigOverrides } from '../config.ts';
import { ensureUsers } from '../credentials.ts';
import { droneLabel, fleetSummary, formatFleet } from '../fleet-table.ts';
import type { MeshUser } from '../mesh/users.ts';
import { formatBatteryMonitor } from '../power/battery-monitor.ts';
import { formatChargeController } from '../power/charge-controller.ts';
import type { Dashboard } from '../dashboard/server.ts';
import type { Harness } from '../cli.ts';
import { StatusLine } from '../status-line.ts';
import { Teardown } from './teardown.ts';

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

/** A flag's number, as the schema will check it (a word that is no number stays a word, and is named). */
function numberFlag(v: string | undefined): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return v.trim() !== '' && Number.isFinite(n) ? n : v;
}

/**
 * The command line as configuration values, laid over the file before it is validated: a flag is
 * held to the same rules as the field it sets, and errors name the flags.
 */
function flagOverrides(values: Record<string, string | string[] | boolean | undefined>, file: string | undefined): ConfigOverrides | undefined {
  const str = (k: string) => values[k] as string | undefined;
  const listen = (k: string) => (str(k) === undefined ? undefined : { port: numberFlag(str(k)) });
  const v: Record<string, unknown> = {
    sysid: numberFlag(str('sysid')),
    dataDir: dataDirFrom(str('data'), file),
    links: { drones: values.link, gcs: values.gcs, readOnlyGcs: values['read-only-gcs'] },
    mesh: { mqtt: listen('mqtt-port'), websocket: listen('ws-port') },
    dashboard: listen('dashboard-port'),
    simulation: { scenario: str('scenario'), at: str('sim-at'), speed: numberFlag(str('speed')), seed: numberFlag(str('seed')) },
  };
  const named = Object.entries(FLAG_FIELDS)
    .filter(([flag]) => values[flag] !== undefined)
    .map(([flag]) => `--${flag}`);
  return named.length || v.dataDir !== undefined ? { values: pruneUndefined(v), source: named.join(', ') || 'CANOPY_DATA' } : undefined;
}

/** The flags that set configuration fields. */
const FLAG_FIELDS = { sysid: 1, data: 1, link: 1, gcs: 1, 'read-only-gcs': 1, 'mqtt-port': 1, 'ws-port': 1, 'dashboard-port': 1, scenario: 1, 'sim-at': 1, speed: 1, seed: 1 };

function pruneUndefined(o: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const x = v && typeof v === 'object' && !Array.isArray(v) ? pruneUndefined(v as Record<string, unknown>) : v;
    if (x !== undefined && !(typeof x === 'object' && x !== null && !Array.isArray(x) && Object.keys(x).length === 0)) out[k] = x;
  }
  return out;
}

function positive(name: string, v: string, ok: (n: number) => boolean): number {
  const n = Number(v);
  if (!ok(n)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} "${v}" is out of range`);
  return n;
}

/** A station to run: the application and what the command says of it (real or simulated). */
export interface Station {
  app: Application;
  /** Lines said once it has started. */
  describe(): string[];
  /** The one status line (`--summary-every`). */
  summary(): string;
  /** The fleet table and the sensors' lines (`--status-every`). */
  status(): string;
  /** Parts the environment runs beside the application once it is up (the simulated phone, the simulated clock); the result stops them. */
  afterStart?(): Promise<() => Promise<void>>;
  /** The environment's own parts to close after the application stopped. */
  close?(): Promise<void>;
}

export interface StationInputs {
  log: Logger;
  users: MeshUser[];
  /** users.json, which the mesh rereads when it changes. */
  usersFile?: string;
  tlog?: string;
}

export async function run(args: string[], harness?: Harness): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      link: { type: 'string', multiple: true },
      gcs: { type: 'string', multiple: true },
      'read-only-gcs': { type: 'boolean' },
      sysid: { type: 'string' },
      tlog: { type: 'string' },
      'status-every': { type: 'string', default: '0' },
      'summary-every': { type: 'string' },
      'run-for': { type: 'string' },
      data: { type: 'string' },
      'mqtt-port': { type: 'string' },
      'ws-port': { type: 'string' },
      'dashboard-port': { type: 'string' },
      'log-level': { type: 'string', default: 'warn' },
      // The simulated site (no drone links):
      scenario: { type: 'string' },
      'sim-at': { type: 'string' },
      speed: { type: 'string' },
      seed: { type: 'string' },
    },
  });
  // No --config: the first of ./canopy.yaml, /etc/canopy/canopy.yaml; neither: the defaults.
  const file = values.config ?? findConfig();
  const overrides = flagOverrides(values, file);
  const c: CanopyConfig = file ? loadConfig(file, overrides) : defaultConfig(overrides);
  if (file && !values.config) console.log(`canopy: configuration from ${file}`);
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--log-level must be ${LOG_LEVELS.join(', ')}, got "${level}"`);
  const statusEveryS = positive('status-every', values['status-every']!, (n) => n >= 0);
  const statusLine = new StatusLine();
  // On a terminal the status line is redrawn in place every second; in the journal it is a plain line a minute.
  const summaryEveryS = positive('summary-every', values['summary-every'] ?? (statusLine.inPlace ? '1' : '60'), (n) => n >= 0);
  const runForS = values['run-for'] === undefined ? undefined : positive('run-for', values['run-for'], (n) => n > 0);

  const log = streamLogger({ level, namespace: 'canopy', write: (line) => process.stderr.write(`${line}\n`) });
  const { users, file: usersFile, created } = await ensureUsers(dataDir(c));
  // One path: without drone links the environment is the simulated site (harness/), with them the real one.
  const inputs = { log, users, usersFile, tlog: values.tlog };
  if (c.links.drones.length === 0 && !harness) throw new CanopyError('CANOPY_ERR_CONFIG', 'no drone links (links.drones or --link) and no simulator to fly instead');
  const station = c.links.drones.length === 0 ? await harness!.simulatedStation(c, inputs) : realStation(c, inputs);
  // Each part's stop is registered as it starts: a later part that fails stops the earlier ones.
  const teardown = new Teardown();
  try {
    if (station.close) teardown.add('the simulated far ends', station.close);
    await station.app.start(); // stops what it started if one of its parts fails
    teardown.add('the station', () => station.app.stop());
    if (station.afterStart) teardown.add('the simulation', await station.afterStart());
    for (const line of station.describe()) console.log(line);
    printDashboard(station.app.dashboard);
    // The one-time password last, so it is what the terminal shows (and it is kept in a file too).
    if (created) printCreated(created);
    if (statusEveryS > 0) {
      const status = setInterval(() => console.log(station.status()), statusEveryS * 1000);
      teardown.add('the status table', () => clearInterval(status));
    }
    if (summaryEveryS > 0) {
      const summary = setInterval(() => statusLine.update(station.summary()), summaryEveryS * 1000);
      teardown.add('the status line', () => {
        clearInterval(summary);
        statusLine.clear();
      });
    }
    await untilStopped(runForS);
  } finally {
    await teardown.run();
  }
  return 0;
}

/** Waits for SIGINT/SIGTERM or `runForS`. */
export function untilStopped(runForS?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (runForS) setTimeout(resolve, runForS * 1000);
  });
}

/** The real site: its links, sensors and uplink from the configuration. */
function realStation(c: CanopyConfig, o: StationInputs): Station {
  const app = new Application(c, realEnvironment(c, o));
  app.bus.on('console', 'vehicle-found', (v) => console.log(`drone ${droneLabel(v)} found`));
  app.bus.on('console', 'vehicle-lost', (v) => console.log(`drone ${droneLabel(v)} lost`));
  return {
    app,
    describe: () => {
      const mesh = app.mesh!.addresses();
      const lines = [`canopy: ground station as sysid ${c.sysid} on ${[...c.links.drones, ...c.links.gcs].join(', ')}`];
      if (c.signing) lines.push(`canopy: MAVLink signing on: drone links ${c.signing.requireSigned ? 'take signed frames only' : 'sign, and take unsigned frames too'}; GCS links ${c.links.gcs.map((u) => `${u} ${c.signing!.gcsLinks[u] ?? c.signing!.gcs}`).join(', ') || 'none'}`);
      lines.push(`canopy: MQTT on ${mesh.tcp === undefined ? 'off' : `mqtt://localhost:${mesh.tcp}`}, WebSocket on ${mesh.ws === undefined ? 'off' : `ws://localhost:${mesh.ws}`}${app.relay ? `; relay to ${c.relay!.upstream.url}` : ''}`);
      if (c.site) lines.push(`canopy: flying the site at ${c.site.location.latitudeDeg}, ${c.site.location.longitudeDeg}; ${c.site.autoLaunch ? 'the net follows the power plan (site.autoLaunch: true)' : 'the net waits for an admin to launch it (site.autoLaunch: false)'}`);
      return lines;
    },
    summary: () => stationSummary(app),
    status: () =>
      [formatFleet(app.gs.vehicles.list(), app.env.clock.now()), app.chargeController && formatChargeController(app.chargeController), app.batteryMonitor && formatBatteryMonitor(app.batteryMonitor)].filter(Boolean).join('\n'),
  };
}

/** The station in one line, what matters first (a narrow terminal cuts the end): time (the simulated clock's on the simulated site), drones, net, battery, uplink, sun. */
export function stationSummary(app: Application, extra: string[] = []): string {
  const b = app.site?.budget;
  const st = app.site?.fleet.status();
  return [
    `${new Date(app.env.clock.now()).toISOString().slice(0, 19).replace('T', ' ')}Z`,
    fleetSummary(app.gs.vehicles.list()),
    st && `net ${st.manned}/${st.stations} stations`,
    b && `battery ${(b.stationBattery.soc * 100).toFixed(0)} %`,
    b && `uplink ${b.decisions.uplinkGranted ? 'granted' : 'off'}`,
    b && `sun ${b.perDrone.solarW.toFixed(0)} W/drone, hover ${b.perDrone.hoverW.toFixed(0)} W`,
    ...extra,
  ]
    .filter(Boolean)
    .join(' · ');
}

export function printDashboard(dashboard: Dashboard | undefined): void {
  console.log(dashboard ? `canopy: dashboard on ${dashboard.url} (log in with a mesh user; metrics on ${dashboard.url}metrics)` : 'canopy: dashboard off');
}

/** `--data DIR` for a hint, unless DIR is where the commands look by default (./canopy-data). */
export function dataFlag(dir: string): string {
  return resolve(dir) === resolve('canopy-data') ? '' : ` --data ${dir}`;
}

/** The first admin's password, the one time it is known: set apart so that it is seen, and where it is kept. */
export function printCreated(created: { username: string; password: string; file: string; passwordFile: string }): void {
  const rule = '='.repeat(72);
  console.log([
    '',
    rule,
    `canopy: created the mesh admin (first start): username "${created.username}", password "${created.password}"`,
    `canopy: the password is also in ${created.passwordFile} (readable by this user only): delete it once you have noted it`,
    `canopy: users.json keeps only its hash (${created.file}); anonymous access is off; lost it? canopy user passwd ${created.username}${dataFlag(dirname(created.file))}`,
    rule,
    '',
  ].join('\n'));
}
