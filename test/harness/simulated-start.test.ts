/**
 * `canopy start` with no drone links, as a new user runs it: the simulated site comes up, the
 * first start prints the admin's credentials (anonymous access is off), the mesh carries the
 * drones' retained state and the power budget, the simulated phone's and neighbours' store agents
 * are on it, their demo backups go up the uplink, the printed `canopy backup PATH` works as
 * printed from another terminal, and the net goes up by itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DownlinkStatus, PowerState, UplinkStatus } from '../../common/topics.ts';
import { canopy, spawnCanopy } from '../helpers/cli.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { eventually } from '../helpers/events.ts';
import { connect, tryConnect } from '../../harness/rigs/mqtt.ts';

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
  assert.equal(users.length, 1, 'the simulated phones\' logins are not in users.json');
  assert.match(out, /simulated phone "phone" keeps its store in .*; neighbours' phones alice, bob, carol, dave, erin, frank in /);
  const login = join(data, 'sim-login.json');
  assert.equal(statSync(login).mode & 0o077, 0, 'the simulated phone\'s login is private to its owner');
  const demoPassphrase = (JSON.parse(readFileSync(login, 'utf8')) as { passphrase: string }).passphrase;
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
  await client.subscribeAsync(['canopy/drones/+', 'canopy/power', 'canopy/bridge/event', 'canopy/uplink', 'canopy/store/+/availability', 'canopy/relay/downlink', 'canopy/store/phone/hot', 'canopy/bridge/response/cache/prefetch']);
  await eventually(() => ['phone', 'alice', 'frank'].every((a) => retained.get(`canopy/store/${a}/availability`) === 'online'), 30_000, 'the simulated phones\' store agents on the mesh');
  // An item through the relay as docs/dashboard.md sends it (mosquitto_pub -q 1 -t canopy/relay/hot/notes/field):
  // it waits in the outbox until the budget grants the dish and a satellite is in view, then goes
  // out through the simulated satellite link to the simulated cloud.
  await client.publishAsync('canopy/relay/hot/notes/field', 'wind picking up at the north pad', { qos: 1 });

  const uplink = () => (retained.has('canopy/uplink') ? (JSON.parse(retained.get('canopy/uplink')!) as UplinkStatus) : undefined);
  // The phone's scheduled demo backups: bulk the test has not sent (its own backup
  // comes next), sent up within simulated minutes.
  await eventually(() => (uplink()?.delivered.bulk.bytes ?? 0) > 0 && (uplink()?.sentToday?.bytes ?? 0) > 0, 120_000, `the demo backups delivered upstream (uplink ${retained.get('canopy/uplink')})`);

  // The hint, run as printed from another terminal: no login, password or passphrase given.
  const hint = /from another terminal, canopy backup PATH((?: --data \S+)?) stores there/.exec(out);
  assert.ok(hint, out);
  const flags = hint[1]!.trim().split(' ').filter(Boolean);
  assert.deepEqual(flags, ['--data', data], 'started with --data: the hint names it');
  const src = join(data, 'my-files');
  mkdirSync(join(src, 'notes'), { recursive: true });
  writeFileSync(join(src, 'notes', 'field.txt'), 'north pad: wind 9 m/s\n'.repeat(5000));
  for (const v of ['CANOPY_PASSWORD', 'CANOPY_PASSPHRASE']) delete process.env[v];
  const manifest = join(data, 'my-files.canopy-manifest');
  const b = await canopy('backup', src, ...flags, '--manifest', manifest);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /shares: \d+ on 6 neighbours \(3-of-6\)/);
  assert.match(b.stderr, /the simulated site's phone "phone" on mqtt:\/\/127\.0\.0\.1:\d+/);
  const restored = join(data, 'restored');
  const r = await canopy('restore', manifest, restored, ...flags);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(readFileSync(join(restored, 'my-files', 'notes', 'field.txt'), 'utf8'), readFileSync(join(src, 'notes', 'field.txt'), 'utf8'));
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
  await eventually(() => (uplink()?.delivered.hot.items ?? 0) >= 1, 120_000, `the item delivered upstream (uplink ${retained.get('canopy/uplink')})`);
  assert.equal(uplink()!.queued.hot.items, 0);
  assert.ok(everGranted, 'the budget granted the dish before the item went out');

  // The downlink, as the start's hint says: the demo item prefetched from the simulated content
  // server through the satellite into the simulated phone's hot cache.
  const prefetch = /mosquitto_pub -p (\d+) -u admin -P PASSWORD -t (\S+) -m '([^']+)'/.exec(out);
  assert.ok(prefetch, `the prefetch hint: ${out}`);
  assert.equal(Number(prefetch[1]), port);
  await client.publishAsync(prefetch[2]!, prefetch[3]!, { qos: 1 });
  await eventually(() => retained.get('canopy/bridge/response/cache/prefetch')?.includes('"status":"ok"') ?? false, 10_000, `the prefetch request answered (${retained.get('canopy/bridge/response/cache/prefetch')})`);
  const item = (JSON.parse(prefetch[3]!) as { item: string }).item;
  const downlink = () => (retained.has('canopy/relay/downlink') ? (JSON.parse(retained.get('canopy/relay/downlink')!) as DownlinkStatus) : undefined);
  await eventually(() => downlink()?.items.find((i) => i.item === item)?.state === 'done', 120_000, `the demo item prefetched (downlink ${retained.get('canopy/relay/downlink')})`);
  const done = downlink()!.items.find((i) => i.item === item)!;
  assert.equal(done.fetchedBytes, done.total, 'every byte once');
  await eventually(() => (JSON.parse(retained.get('canopy/store/phone/hot') ?? '{"items":[]}') as { items: { item: string; complete: boolean }[] }).items.some((i) => i.item === item && i.complete), 10_000, 'the phone\'s retained hot cache has it complete');

  // The second start reuses the stored admin and prints no password.
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const again = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--data', data, '--mqtt-port', String(await freePort()), '--ws-port', String(await freePort()), '--gcs', 'udpout://127.0.0.1:9', '--run-for', '3', '--status-every', '0');
  await new Promise((r) => again.once('exit', r));
  assert.match(again.output(), /simulated site/);
  assert.doesNotMatch(again.output(), /password "/);
  const after = JSON.parse(readFileSync(login, 'utf8')) as { passphrase: string; pid: number; password: string };
  assert.equal(after.passphrase, demoPassphrase, 'the demo repository keeps its passphrase across runs');
  assert.deepEqual([after.pid, after.password], [0, ''], 'the run\'s login ends with it');
});
