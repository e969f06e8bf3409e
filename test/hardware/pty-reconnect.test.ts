/**
 * The Pi's radio cable, pulled and plugged back 20 times: `canopy start` on a serial link backed
 * by a socat pseudo-terminal pair, the simulated swarm (`canopy sim serve`) on the far end, both
 * as child processes. Each cut kills socat (both device nodes vanish, as an unplugged USB radio's
 * does); each restore starts a new socat with the same link names. The controller must notice,
 * reopen by itself, never exit, and keep the drones' sessions: every drone's heartbeats reach the
 * pilots' tool again after every restore, and no drone is found twice.
 *
 * The serial link's reopen delay is checked on the injected clock in
 * test/firmware-bridge/links/reconnect.test.ts (within 250 ms of the device's return); here the
 * wall-clock latencies are reported, not asserted (the machine is shared).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { minimal } from 'mavlink-mappings';
import { Framer } from '../../firmware-bridge/protocol/framer.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { eventually } from '../helpers/events.ts';
import { PtyPair } from '../helpers/pty.ts';
import { needCommand } from '../helpers/tools.ts';

const DRONES = 3;
const CUTS = 20;

test(`canopy start on a pseudo-terminal cut and restored ${CUTS} times: reconnects every time, never exits, drones resume`, { timeout: 180_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  t.after(() => pty.dispose());
  const data = mkdtempSync(join(tmpdir(), 'canopy-pty-reconnect-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));

  // The pilots' tool: every drone HEARTBEAT the controller routes, by sysid, with its arrival time.
  const gcs = createSocket('udp4');
  t.after(() => new Promise<void>((r) => gcs.close(() => r())));
  await new Promise<void>((r) => gcs.bind(0, '127.0.0.1', () => r()));
  const lastHeartbeat = new Map<number, number>();
  const framer = new Framer((f) => {
    if (f.msgid === minimal.Heartbeat.MSG_ID && f.compid === 1) lastHeartbeat.set(f.sysid, Date.now());
  });
  gcs.on('message', (m) => framer.push(m));

  const sim = spawnCanopy(t, 'sim', 'serve', '--link', `serial:${pty.a}?baud=57600`, '--drones', String(DRONES));
  const canopy = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--link', `serial:${pty.b}?baud=57600`, '--gcs', `udpout://127.0.0.1:${gcs.address().port}`, '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()), '--status-every', '0', '--log-level', 'info');
  const count = (re: RegExp) => (canopy.output().match(re) ?? []).length;
  const alive = () => {
    assert.equal(canopy.exitCode, null, `canopy start exited:\n${canopy.output()}`);
    assert.equal(sim.exitCode, null, `canopy sim serve exited:\n${sim.output()}`);
  };
  const allHeardSince = (since: number) => lastHeartbeat.size === DRONES && [...lastHeartbeat.values()].every((at) => at > since);

  await eventually(() => allHeardSince(0) && count(/drone d\d+ \(\S+\) found/g) === DRONES, 60_000, `${DRONES} drones heard through the controller`);
  const linkUps = count(/link up .*serial:/g);

  const latencies: number[] = [];
  for (let cut = 1; cut <= CUTS; cut++) {
    const downs = count(/link down .*serial:/g);
    await pty.stop();
    await eventually(() => count(/link down .*serial:/g) > downs, 10_000, `cut ${cut}: the controller notices the device is gone`);
    alive();
    await pty.start();
    const back = Date.now();
    await eventually(() => count(/link up .*serial:/g) === linkUps + cut, 10_000, `cut ${cut}: the controller reopens the device`);
    latencies.push(Date.now() - back);
    await eventually(() => allHeardSince(back), 15_000, `cut ${cut}: every drone's heartbeat comes through again`);
    alive();
  }

  assert.equal(count(/drone d\d+ \(\S+\) found/g), DRONES, 'the drones kept their sessions (none found a second time)');
  assert.equal(count(/drone d\d+ \(\S+\) lost/g), 0, 'no drone was given up for lost');
  assert.doesNotMatch(canopy.output(), /Unhandled|TypeError|RangeError|uncaught/i);
  const sorted = [...latencies].sort((a, b) => a - b);
  t.diagnostic(`device back → controller link up (wall clock, ms): median ${sorted[Math.floor(sorted.length / 2)]}, max ${sorted.at(-1)}, over ${CUTS} cuts`);
});

test('a radio absent when canopy start begins is waited for, and its drones come in once it is plugged in', { timeout: 120_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  t.after(() => pty.dispose());
  const data = mkdtempSync(join(tmpdir(), 'canopy-pty-absent-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  // The device does not exist yet (socat not started): Canopy says so once and keeps running.
  const canopy = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--link', `serial:${pty.b}?baud=57600`, '--gcs', 'udpout://127.0.0.1:9', '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()), '--status-every', '0');
  await eventually(() => /does not exist.*\(waiting for it; `canopy doctor`/.test(canopy.output()), 30_000, `the absent radio reported:\n${canopy.output()}`);
  await eventually(() => /MQTT on mqtt:/.test(canopy.output()), 30_000, 'the rest of the station up meanwhile');
  assert.equal(canopy.exitCode, null, `canopy start exited:\n${canopy.output()}`);
  // Plugged in: the device appears, the simulated drones talk on its far end.
  await pty.start();
  const sim = spawnCanopy(t, 'sim', 'serve', '--link', `serial:${pty.a}?baud=57600`, '--drones', String(DRONES));
  await eventually(() => (canopy.output().match(/drone d\d+ \(\S+\) found/g) ?? []).length === DRONES, 60_000, `${DRONES} drones found once the radio is there:\n${canopy.output()}`);
  assert.equal((canopy.output().match(/does not exist/g) ?? []).length, 1, 'the outage was said once');
  assert.equal(canopy.exitCode, null);
  assert.equal(sim.exitCode, null);
});
