/**
 * `canopy start`: the ground station. Settings come from `--config canopy.yaml` (see config.ts)
 * with command-line flags on top. With drone links (`--link URL` or `links.drones`) it attaches
 * them, answers as a GCS (sysid 255 by default, 1 Hz HEARTBEAT), keeps vehicle sessions, routes
 * every frame to the pilots' tools (QGroundControl on udp 14550 by default), records a tlog, runs
 * the MQTT mesh with the drones on it and, when configured, the uplink relay, and prints the
 * fleet. Without drone links it flies the simulated site (start-simulated.ts).
 */
import { parseArgs } from 'node:util';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { CanopyError, isCanopyError } from '../errors.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import { parseLinkUrl } from '../../firmware-bridge/links/url.ts';
import { streamLogger } from '../../firmware-bridge/log.ts';
import { dataDir, defaultConfig, findConfig, loadConfig, meshOptions, relayOptions, siteOptions, type CanopyConfig } from '../config.ts';
import { ensureUsers } from '../credentials.ts';
import { formatFleet } from '../fleet-table.ts';
import { GroundStation } from '../ground-station.ts';
import { linkSigning } from '../signing.ts';
import { startDashboard, type Dashboard } from '../dashboard/server.ts';
import { ChargeController, formatChargeController } from '../power/charge-controller.ts';
import { SiteController } from '../site.ts';
import { registerActions } from '../bridge-actions.ts';
import { Teardown } from './teardown.ts';

export const START_DEFAULTS = {
  /** Where QGroundControl listens. */
  gcs: 'udpout://127.0.0.1:14550',
};

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type LogLevel = (typeof LOG_LEVELS)[number];

function number(name: string, v: string, ok: (n: number) => boolean): number {
  const n = Number(v);
  if (!ok(n)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} "${v}" is out of range`);
  return n;
}
const isPort = (n: number) => Number.isInteger(n) && n >= 0 && n < 65536;

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      link: { type: 'string', multiple: true },
      gcs: { type: 'string', multiple: true },
      'read-only-gcs': { type: 'boolean' },
      sysid: { type: 'string' },
      tlog: { type: 'string' },
      'status-every': { type: 'string', default: '5' },
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
  const c: CanopyConfig = file ? loadConfig(file) : defaultConfig();
  if (file && !values.config) console.log(`canopy: configuration from ${file}`);
  // Flags override the file.
  if (values.link) c.links.drones = values.link;
  if (values.gcs) c.links.gcs = values.gcs;
  if (values['read-only-gcs']) c.links.readOnlyGcs = true;
  if (values.sysid !== undefined) c.sysid = number('sysid', values.sysid, (n) => Number.isInteger(n) && n >= 1 && n <= 255);
  if (values.data !== undefined) c.dataDir = values.data;
  else if (!file && process.env.CANOPY_DATA) c.dataDir = process.env.CANOPY_DATA;
  if (values['mqtt-port'] !== undefined) c.mesh.mqtt = { ...(c.mesh.mqtt || {}), port: number('mqtt-port', values['mqtt-port'], isPort) };
  if (values['ws-port'] !== undefined) c.mesh.websocket = { ...(c.mesh.websocket || {}), port: number('ws-port', values['ws-port'], isPort) };
  if (values['dashboard-port'] !== undefined) c.dashboard = { host: '127.0.0.1', homeAssistant: 'homeassistant', ...(c.dashboard || {}), port: number('dashboard-port', values['dashboard-port'], isPort) };
  if (values.scenario !== undefined) c.simulation.scenario = values.scenario;
  if (values['sim-at'] !== undefined) c.simulation.at = values['sim-at'];
  if (values.speed !== undefined) c.simulation.speed = number('speed', values.speed, (n) => n > 0 && n <= 1000);
  if (values.seed !== undefined) c.simulation.seed = number('seed', values.seed, (n) => Number.isInteger(n) && n >= 0);
  const level = values['log-level'] as LogLevel;
  if (!LOG_LEVELS.includes(level)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--log-level must be ${LOG_LEVELS.join(', ')}, got "${level}"`);
  const statusEveryS = number('status-every', values['status-every']!, (n) => n >= 0);
  const runForS = values['run-for'] === undefined ? undefined : number('run-for', values['run-for'], (n) => n > 0);

  if (c.links.drones.length === 0) {
    const { runSimulated } = await import('./start-simulated.ts');
    return runSimulated(c, { statusEveryS, runForS, tlog: values.tlog, logLevel: level });
  }
  return runReal(c, { statusEveryS, runForS, tlog: values.tlog, logLevel: level });
}

export interface StartOptions {
  statusEveryS: number;
  runForS?: number;
  tlog?: string;
  logLevel: LogLevel;
}

/** Waits for SIGINT/SIGTERM or `runForS`. */
export function untilStopped(runForS?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (runForS) setTimeout(resolve, runForS * 1000);
  });
}

async function runReal(c: CanopyConfig, o: StartOptions): Promise<number> {
  const clock = new SystemClock();
  const log = streamLogger({ level: o.logLevel, namespace: 'canopy', write: (line) => process.stderr.write(`${line}\n`) });
  const { users, created } = await ensureUsers(dataDir(c));
  // With `site:` the fleet flies: the power budget sizes the net and grants the relay its dish.
  const siteOpts = siteOptions(c);
  let site: SiteController | undefined;
  const relay = relayOptions(c);
  const signing = linkSigning(c, clock);
  const gs = new GroundStation({
    clock,
    sysid: c.sysid,
    droneLinks: c.links.drones.map((url) => ({ link: droneLink(url, clock), name: url, baud: radioBaud(url), signing: signing?.drones })),
    gcsLinks: c.links.gcs.map((url) => ({ link: createLink(url, { clock }), name: url, readOnly: c.links.readOnlyGcs, signing: signing?.gcs(url) })),
    tlog: o.tlog,
    mesh: { ...meshOptions(c), users },
    relay: relay && siteOpts ? { ...relay, grant: () => site?.grant() ?? false } : relay,
    log,
  });
  gs.vehicles.on('vehicle-added', (v) => console.log(`vehicle ${v.key} found`));
  gs.vehicles.on('vehicle-lost', (v) => console.log(`vehicle ${v.key} lost`));
  // Each part's stop is registered as it starts: a later part that fails stops the earlier ones.
  const teardown = new Teardown();
  try {
    await gs.start(); // stops its own parts if one of them fails
    teardown.add('the ground station', () => gs.stop());
    const mesh = gs.mesh!.addresses();
    console.log(`canopy: ground station as sysid ${c.sysid} on ${[...c.links.drones, ...c.links.gcs].join(', ')}`);
    if (c.signing) console.log(`canopy: MAVLink signing on: drone links ${c.signing.requireSigned ? 'take signed frames only' : 'sign, and take unsigned frames too'}; GCS links ${c.links.gcs.map((u) => `${u} ${c.signing!.gcsLinks[u] ?? c.signing!.gcs}`).join(', ') || 'none'}`);
    console.log(`canopy: MQTT on ${mesh.tcp === undefined ? 'off' : `mqtt://localhost:${mesh.tcp}`}, WebSocket on ${mesh.ws === undefined ? 'off' : `ws://localhost:${mesh.ws}`}${gs.relay ? `; relay to ${c.relay!.upstream.url}` : ''}`);
    // The station's charge controller (VE.Direct), when configured: the budget's reference cell, shown with the fleet.
    const cc = c.chargeController && new ChargeController({ ...c.chargeController, clock, log });
    if (cc) {
      teardown.add('the charge controller', () => cc.stop());
      await cc.start();
    }
    if (siteOpts) {
      const s = new SiteController({ ...siteOpts, clock, gs, referenceGhi: cc?.referenceGhiWm2, dish: () => (gs.relay?.dishOn ? 'active' : 'off'), log });
      site = s;
      s.start();
      teardown.add('the site', () => s.stop());
      console.log(`canopy: flying the site at ${c.site!.location.latitudeDeg}, ${c.site!.location.longitudeDeg}; ${siteOpts.held ? 'the net waits for an admin to launch it (site.autoLaunch: false)' : 'the net follows the power plan (site.autoLaunch: true)'}`);
    }
    teardown.add('the admin actions', registerActions({ mesh: gs.mesh!, clock, site, relay: gs.relay, drones: gs.drones }));
    const dashboard = await startDashboard(c.dashboard, { mesh: gs.mesh!, clock, log });
    if (dashboard) teardown.add('the dashboard', () => dashboard.stop());
    printDashboard(dashboard);
    if (created) printCreated(created);
    if (o.statusEveryS > 0) {
      const status = setInterval(() => console.log([formatFleet(gs.vehicles.list(), clock.now()), cc && formatChargeController(cc)].filter(Boolean).join('\n')), o.statusEveryS * 1000);
      teardown.add('the status lines', () => clearInterval(status));
    }
    await untilStopped(o.runForS);
  } finally {
    await teardown.run();
  }
  return 0;
}

/**
 * A drone radio's link. A radio absent at start is waited for (plugged in later, or a USB hub slow
 * to enumerate at boot) instead of ending Canopy; each outage is said once, with the fix.
 */
function droneLink(url: string, clock: SystemClock) {
  const link = createLink(url, { clock, waitForDevice: true });
  link.on('error', (e: Error) => console.error(`canopy: ${url}: ${e.message}${isCanopyError(e, 'CANOPY_ERR_SERIAL_NOT_FOUND') ? ' (waiting for it; `canopy doctor` lists the serial devices present)' : ''}`));
  return link;
}

/** A drone link's air rate: a serial radio's baud, else the radios the product ships (57,600). */
function radioBaud(url: string): number | undefined {
  const spec = parseLinkUrl(url);
  return spec.kind === 'serial' ? spec.baud : undefined;
}

export function printDashboard(dashboard: Dashboard | undefined): void {
  console.log(dashboard ? `canopy: dashboard on ${dashboard.url} (log in with a mesh user; metrics on ${dashboard.url}metrics)` : 'canopy: dashboard off');
}

export function printCreated(created: { username: string; password: string; file: string }): void {
  console.log(`canopy: created the mesh admin (first start): username "${created.username}", password "${created.password}"`);
  console.log(`canopy: only its hash is kept, in ${created.file}; anonymous access is off`);
}
