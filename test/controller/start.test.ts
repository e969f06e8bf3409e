/**
 * `canopy start` as a user runs it against a real drone link: a TCP "autopilot" here (what
 * ArduPilot SITL offers on 5760) and a UDP listener standing in for QGroundControl on 14550.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minimal } from 'mavlink-mappings';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { eventually } from '../helpers/events.ts';

function copterHeartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.baseMode = minimal.MavModeFlag.CUSTOM_MODE_ENABLED;
  hb.customMode = 5; // LOITER
  hb.systemStatus = minimal.MavState.STANDBY;
  hb.mavlinkVersion = 3;
  return hb;
}

test('canopy start finds the vehicle on its link, prints the fleet, and routes to the GCS port with its own heartbeat', async (t) => {
  const sockets: Socket[] = [];
  const heardOnDroneLink: number[] = [];
  const fromCanopy = new Framer((f) => heardOnDroneLink.push(f.sysid));
  const server = createServer((s) => {
    sockets.push(s);
    s.on('data', (d) => fromCanopy.push(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  const dronePort = (server.address() as { port: number }).port;
  let seq = 0;
  const beat = setInterval(() => {
    for (const s of sockets) s.write(encodeFrame(copterHeartbeat(), { sysid: 7, compid: 1, seq: seq++ & 0xff }));
  }, 200);
  t.after(() => clearInterval(beat));

  const gcs = createSocket('udp4');
  await new Promise<void>((r) => gcs.bind(0, '127.0.0.1', r));
  t.after(() => gcs.close());
  const seenAtGcs = new Set<number>();
  const gcsFramer = new Framer((f) => seenAtGcs.add(f.sysid));
  gcs.on('message', (m) => gcsFramer.push(m));

  const data = mkdtempSync(join(tmpdir(), 'canopy-start-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--link', `tcp://127.0.0.1:${dronePort}`, '--gcs', `udpout://127.0.0.1:${gcs.address().port}`, '--sysid', '250', '--status-every', '1', '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()));
  await eventually(() => /drone d7 \(tcp[^)]*\/7\/1\) found/.test(child.output()), 20_000, 'vehicle found');
  await eventually(() => /LOITER/.test(child.output()), 10_000, 'fleet table with the mode');
  await eventually(() => seenAtGcs.has(7) && seenAtGcs.has(250), 10_000, 'GCS sees the drone and Canopy');
  await eventually(() => heardOnDroneLink.includes(250), 10_000, 'drone hears Canopy');
  assert.match(child.output(), /ground station as sysid 250/);
});

test('canopy start with a malformed link URL is refused as the file would be: exit 78 (configuration), naming the field and the flag', async (t) => {
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--link', 'tcp://127.0.0.1:99999', '--data', mkdtempSync(join(tmpdir(), 'canopy-start-')), '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 78);
  assert.match(child.output(), /\(defaults\) with [-a-z, ]*--link/);
  assert.match(child.output(), /links\.drones\.0.*port/i);
});

/** A listener holding a loopback port, so that Canopy finds it in use. */
async function takenPort(t: { after(fn: () => void): void }): Promise<number> {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  t.after(() => holder.close());
  return (holder.address() as { port: number }).port;
}

async function exitOf(child: ReturnType<typeof spawnCanopy>): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  return new Promise<number | null>((r) => child.once('exit', r));
}

// A start that fails part-way used to leave the earlier parts running (mesh, links, timers): the
// error was printed and the process never ended, so systemd never restarted it.
test('a start that fails part-way stops what it started and exits 78 (EX_CONFIG, not restarted): the dashboard port of a real site in use, naming the field and the flag', { timeout: 90_000 }, async (t) => {
  const dashboardPort = await takenPort(t);
  const data = mkdtempSync(join(tmpdir(), 'canopy-start-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const drone = createServer((s) => s.on('error', () => {}));
  await new Promise<void>((r) => drone.listen(0, '127.0.0.1', r));
  t.after(() => drone.close());
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(dashboardPort), '--link', `tcp://127.0.0.1:${(drone.address() as { port: number }).port}`, '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()));
  assert.equal(await exitOf(child), 78, child.output());
  assert.match(child.output(), new RegExp(`dashboard port ${dashboardPort} .* is in use; choose another with dashboard\\.port or --dashboard-port`));
  assert.doesNotMatch(child.output(), /\n\s+at /, 'no stack trace');
});

test('a start that fails part-way stops what it started and exits 78 (EX_CONFIG, not restarted): the MQTT port of the simulated site in use, naming the field and the flag', { timeout: 90_000 }, async (t) => {
  const mqttPort = await takenPort(t);
  const data = mkdtempSync(join(tmpdir(), 'canopy-start-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--data', data, '--mqtt-port', String(mqttPort), '--ws-port', String(await freePort()));
  assert.equal(await exitOf(child), 78, child.output());
  assert.match(child.output(), new RegExp(`mesh MQTT port ${mqttPort} is in use; choose another with mesh\\.mqtt\\.port or --mqtt-port`));
  assert.doesNotMatch(child.output(), /\n\s+at /, 'no stack trace');
});

test('the WebSocket port of the simulated site in use: one line naming mesh.websocket.port and --ws-port, exit 78, no stack trace', { timeout: 90_000 }, async (t) => {
  const wsPort = await takenPort(t);
  const data = mkdtempSync(join(tmpdir(), 'canopy-start-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(wsPort));
  assert.equal(await exitOf(child), 78, child.output());
  assert.match(child.output(), new RegExp(`mesh MQTT over WebSocket port ${wsPort} is in use; choose another with mesh\\.websocket\\.port or --ws-port`));
  assert.doesNotMatch(child.output(), /\n\s+at |EADDRINUSE/, 'no stack trace');
});
