/**
 * `canopy start` with no drone links, as a new user runs it: the simulated site comes up, the
 * first start prints the admin's credentials (anonymous access is off), the mesh carries the
 * drones' retained state and the power budget, the simulated phone's store agent is on it, and
 * the net goes up by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PowerState, UplinkStatus } from '../../common/topics.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { freePort } from '../helpers/ports.ts';
import { eventually } from '../helpers/events.ts';
import { connect, tryConnect } from '../helpers/mqtt.ts';

test('canopy start flies the default simulated site with the mesh on, admin credentials printed once', async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'canopy-start-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  // 20× so the morning launch happens within the test; ports 0 pick free loopback ports.
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()), '--gcs', 'udpout://127.0.0.1:9', '--speed', '20', '--status-every', '2', '--summary-every', '2');
  await eventually(() => /MQTT on mqtt:\/\/localhost:\d+/.test(child.output()) && /password "/.test(child.output()), 30_000, 'site up with credentials');
  const out = child.output();
  const port = Number(/MQTT on mqtt:\/\/localhost:(\d+)/.exec(out)![1]);
  const password = /password "([^"]+)"/.exec(out)![1]!;
  assert.match(out, /simulated site "clear-summer-day" \(25 drones/);
  assert.match(out, /dashboard on http:\/\/127\.0\.0\.1:\d+\/ /);
  // The one-time password comes last of what start says, set apart, and it is kept in a private file.
  assert.ok(out.indexOf('password "') > out.indexOf('dashboard on'), 'the password after the other start lines');
  assert.match(out, /={20,}\ncanopy: created the mesh admin/);
  const passwordFile = join(data, 'initial-admin-password');
  assert.equal(readFileSync(passwordFile, 'utf8').trim(), password);
  assert.equal(statSync(passwordFile).mode & 0o077, 0, 'the password file is private to its owner');
  assert.match(out, new RegExp(`password is also in ${passwordFile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const users = JSON.parse(readFileSync(join(data, 'users.json'), 'utf8')) as { username: string; passwordHash: string }[];
  assert.equal(users[0]!.username, 'admin');
  assert.equal(users.length, 1, 'the simulated phone\'s login is not stored');
  assert.match(out, /simulated phone "phone" keeps its store in /);
  assert.ok(!readFileSync(join(data, 'users.json'), 'utf8').includes(password), 'only the hash is stored');
  assert.equal(statSync(join(data, 'users.json')).mode & 0o077, 0, 'users.json is private to its owner');

  const anonymous = await tryConnect(`mqtt://127.0.0.1:${port}`);
  assert.equal(anonymous.ok, false, 'anonymous access is off');
  const wrong = await tryConnect(`mqtt://127.0.0.1:${port}`, { username: 'admin', password: 'guess' });
  assert.equal(wrong.ok, false, 'a wrong password is refused');

  const client = await connect(`mqtt://127.0.0.1:${port}`, { username: 'admin', password });
  t.after(() => void client.end(true));
  const retained = new Map<string, string>();
  let everGranted = false;
  client.on('message', (topic, payload) => {
    retained.set(topic, payload.toString());
    if (topic === 'canopy/power' && (JSON.parse(payload.toString()) as PowerState).uplinkGranted) everGranted = true;
  });
  await client.subscribeAsync(['canopy/drones/+', 'canopy/power', 'canopy/bridge/event', 'canopy/uplink', 'canopy/store/phone/availability']);
  await eventually(() => retained.get('canopy/store/phone/availability') === 'online', 30_000, 'the simulated phone\'s store agent on the mesh');
  // A backup chunk for the uplink: it waits in the outbox until the budget grants the dish and a
  // satellite is in view, then goes out through the simulated satellite link to the simulated cloud.
  await client.publishAsync('canopy/relay/bulk/backups/phone-1', Buffer.alloc(4096, 7), { qos: 1 });
  await eventually(() => [...retained.keys()].filter((k) => /^canopy\/drones\/d\d+$/.test(k)).length === 25, 60_000, 'all 25 drones on the mesh');
  await eventually(() => retained.has('canopy/power'), 30_000, 'power budget published');
  const power = JSON.parse(retained.get('canopy/power')!) as PowerState;
  assert.ok(power.forecast && power.forecast.length === 96, '24 h forecast in 15-minute steps');
  assert.ok(power.solarW >= 0 && typeof power.uplinkGranted === 'boolean');
  assert.doesNotMatch(retained.get('canopy/power')!, /"(solarW|loadW|batteryPct|dishW|ghiWm2)":-?\d+\.\d{2,}/, 'power figures to a tenth');
  // The net goes up by itself once the sun pays for hover (a few simulated minutes after 06:40).
  await eventually(() => /net [1-9]\d*\/\d+ stations/.test(child.output()), 120_000, 'a station manned');
  // The table names each drone as the mesh and the dashboard do.
  assert.match(child.output(), /^drone +heard on +mode/m);
  assert.match(child.output(), /^d\d+ +radio\d+\/\d+\/1 /m);
  // The station's charge controller is read over VE.Direct by the same ChargeController as on a Pi.
  await eventually(() => /charge controller [^\n]*battery \d+\.\d+ V [^\n]*PV \d+\.\d V/.test(child.output()), 30_000, 'the simulated MPPT read over VE.Direct');
  await eventually(() => retained.has('canopy/bridge/event'), 10_000, 'fleet transitions as events');
  const uplink = () => (retained.has('canopy/uplink') ? (JSON.parse(retained.get('canopy/uplink')!) as UplinkStatus) : undefined);
  await eventually(() => (uplink()?.delivered.bulk.items ?? 0) >= 1, 120_000, `the chunk delivered upstream (uplink ${retained.get('canopy/uplink')})`);
  assert.equal(uplink()!.queued.bulk.items, 0);
  assert.ok(everGranted, 'the budget granted the dish before the chunk went out');

  // The second start reuses the stored admin and prints no password.
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const again = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()), '--gcs', 'udpout://127.0.0.1:9', '--run-for', '3', '--status-every', '0');
  await new Promise((r) => again.once('exit', r));
  assert.match(again.output(), /simulated site/);
  assert.doesNotMatch(again.output(), /password "/);
});
