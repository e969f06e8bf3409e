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
  const child = spawnCanopy(t, 'start', '--dashboard-port', '0', '--link', `tcp://127.0.0.1:${dronePort}`, '--gcs', `udpout://127.0.0.1:${gcs.address().port}`, '--sysid', '250', '--status-every', '1', '--data', data, '--mqtt-port', '0', '--ws-port', '0');
  await eventually(() => /vehicle .*\/7\/1 found/.test(child.output()), 20_000, 'vehicle found');
  await eventually(() => /LOITER/.test(child.output()), 10_000, 'fleet table with the mode');
  await eventually(() => seenAtGcs.has(7) && seenAtGcs.has(250), 10_000, 'GCS sees the drone and Canopy');
  await eventually(() => heardOnDroneLink.includes(250), 10_000, 'drone hears Canopy');
  assert.match(child.output(), /ground station as sysid 250/);
});

test('canopy start with a malformed link URL names what is wrong and exits 1', async (t) => {
  const child = spawnCanopy(t, 'start', '--dashboard-port', '0', '--link', 'tcp://127.0.0.1:99999', '--data', mkdtempSync(join(tmpdir(), 'canopy-start-')), '--mqtt-port', '0', '--ws-port', '0');
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 1);
  assert.match(child.output(), /port/i);
});
