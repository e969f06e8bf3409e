/**
 * `canopy start`: the ground station. With `--link` it attaches real drone links, answers as a GCS
 * (sysid 255 by default, 1 Hz HEARTBEAT), keeps vehicle sessions, routes every frame to the
 * pilots' tools (QGroundControl / MAVProxy on udp 14550 by default), records a tlog, and prints
 * the fleet. Without `--link` it flies the simulated site (start-simulated.ts).
 */
import { parseArgs } from 'node:util';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../firmware-bridge/errors.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { Router } from '../../firmware-bridge/router.ts';
import { TlogWriter } from '../../firmware-bridge/tlog.ts';
import { VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { formatFleet } from '../fleet-table.ts';

export const START_DEFAULTS = {
  /** ArduPilot SITL's and MAVProxy's usual serial-over-TCP port. */
  link: 'tcp://127.0.0.1:5760',
  /** Where QGroundControl listens. */
  gcs: 'udpout://127.0.0.1:14550',
};

export async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      link: { type: 'string', multiple: true },
      gcs: { type: 'string', multiple: true },
      'read-only-gcs': { type: 'boolean', default: false },
      sysid: { type: 'string', default: '255' },
      tlog: { type: 'string' },
      'status-every': { type: 'string', default: '5' },
      'run-for': { type: 'string' },
      // The simulated site (no --link):
      scenario: { type: 'string', default: 'clear-summer-day' },
      'sim-at': { type: 'string' },
      speed: { type: 'string', default: '1' },
      seed: { type: 'string', default: '1' },
      data: { type: 'string', default: process.env.CANOPY_DATA ?? 'canopy-data' },
      'mqtt-port': { type: 'string', default: '1883' },
      'ws-port': { type: 'string', default: '9001' },
      'log-level': { type: 'string', default: 'warn' },
    },
  });
  if (!values.link) {
    const num = (name: string, v: string | undefined, ok: (n: number) => boolean) => {
      const n = Number(v);
      if (!ok(n)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} "${v}" is out of range`);
      return n;
    };
    const port = (n: number) => Number.isInteger(n) && n >= 0 && n < 65536;
    const level = values['log-level'];
    if (level !== 'debug' && level !== 'info' && level !== 'warn' && level !== 'error') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--log-level must be debug, info, warn or error, got "${level}"`);
    const { runSimulated } = await import('./start-simulated.ts');
    return runSimulated({
      scenario: values.scenario!,
      // The default site starts just before its net goes up, so a new user sees it launch.
      at: values['sim-at'] ?? (values.scenario === 'clear-summer-day' ? '06:40' : undefined),
      speed: num('speed', values.speed, (n) => n > 0 && n <= 1000),
      seed: num('seed', values.seed, (n) => Number.isInteger(n) && n >= 0),
      dataDir: values.data!,
      gcs: values.gcs ?? [START_DEFAULTS.gcs],
      mqttPort: num('mqtt-port', values['mqtt-port'], port),
      wsPort: num('ws-port', values['ws-port'], port),
      statusEveryS: num('status-every', values['status-every'], (n) => n >= 0),
      runForS: values['run-for'] === undefined ? undefined : num('run-for', values['run-for'], (n) => n > 0),
      tlog: values.tlog,
      logLevel: level,
    });
  }
  const sysid = Number(values.sysid);
  if (!Number.isInteger(sysid) || sysid < 1 || sysid > 255) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--sysid must be 1-255, got "${values.sysid}"`);
  const clock = new SystemClock();
  const node = new MavlinkNode({ clock, sysid });
  const links: Link[] = [];
  for (const url of values.link ?? [START_DEFAULTS.link]) {
    const link = createLink(url, { clock });
    node.addLink(link, { name: url });
    links.push(link);
  }
  for (const url of values.gcs ?? [START_DEFAULTS.gcs]) {
    const link = createLink(url, { clock });
    node.addLink(link, { name: url, readOnly: values['read-only-gcs'] });
    links.push(link);
  }
  for (const link of links) {
    link.on('down', (reason) => console.error(`link ${link.url} down: ${reason}`));
    link.on('up', () => console.error(`link ${link.url} up`));
    await link.start();
  }
  const vehicles = new VehicleManager(node);
  vehicles.on('vehicle-added', (v) => console.log(`vehicle ${v.key} found`));
  vehicles.on('vehicle-lost', (v) => console.log(`vehicle ${v.key} lost`));
  vehicles.start();
  const router = new Router(node);
  router.start();
  const tlog = values.tlog ? new TlogWriter(node, values.tlog) : undefined;
  tlog?.start();
  node.start();
  console.log(`canopy: ground station as sysid ${sysid} on ${links.map((l) => l.url).join(', ')}`);

  const everyMs = Number(values['status-every']) * 1000;
  const status = everyMs > 0 ? setInterval(() => console.log(formatFleet(vehicles.list(), clock.now())), everyMs) : undefined;
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (values['run-for']) setTimeout(resolve, Number(values['run-for']) * 1000);
  });
  if (status) clearInterval(status);
  node.stop();
  router.stop();
  vehicles.stop();
  tlog?.stop();
  for (const link of links) await link.stop();
  return 0;
}
