/**
 * Users change while the mesh runs: the mesh watches users.json (`usersFile`) as `canopy user`
 * rewrites it. A new user gets in, a removed one loses its sessions, a new role or password ends
 * the sessions of before, and a file that does not parse keeps the users the mesh has.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Logger } from '../../../firmware-bridge/log.ts';
import { removeUser, setPassword, setUser } from '../../../controller/credentials.ts';
import type { MeshUser } from '../../../controller/mesh/users.ts';
import { connect, end, subscribeGranted, tryConnect } from '../../../harness/rigs/mqtt.ts';
import { password, startMesh, testUsers } from '../../../harness/rigs/mesh.ts';

/** A logger that keeps its lines; `next(re)` resolves with the first line from now on that matches. */
function recordingLog(): { log: Logger; lines: { level: string; msg: string }[]; next(re: RegExp): Promise<string> } {
  const lines: { level: string; msg: string }[] = [];
  const waiting: { re: RegExp; resolve: (msg: string) => void }[] = [];
  const entry = (level: string) => (msg: string) => {
    lines.push({ level, msg });
    for (const w of waiting.filter((x) => x.re.test(msg))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(msg);
    }
  };
  const log: Logger = { debug: entry('debug'), info: entry('info'), warn: entry('warn'), error: entry('error'), child: () => log };
  return { log, lines, next: (re) => new Promise((resolve) => waiting.push({ re, resolve })) };
}

/** Writes as `canopy user` and most editors do: a whole new file renamed over the old one. */
function replaceFile(file: string, text: string): void {
  writeFileSync(`${file}.tmp`, text, { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}

/** A data directory whose users.json holds one user per role and the viewers bob and carol. */
async function meshOnFile(t: TestContext, own: MeshUser[] = []) {
  const data = mkdtempSync(join(tmpdir(), 'canopy-users-reload-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const file = join(data, 'users.json');
  const fileUsers = await testUsers([
    { username: 'bob', role: 'viewer' },
    { username: 'carol', role: 'viewer' },
  ]);
  replaceFile(file, JSON.stringify(fileUsers));
  const recorded = recordingLog();
  const { mesh, url } = await startMesh({ users: [...fileUsers, ...own], usersFile: file, log: recorded.log });
  t.after(() => mesh.stop());
  return { data, file, fileUsers, mesh, url, ...recorded };
}

async function connected(t: TestContext, url: string, username: string, pw = password(username)): Promise<MqttClient> {
  const client = await connect(url, { username, password: pw });
  t.after(() => end(client));
  return client;
}

/** Resolves when the broker closes the client's connection (the helpers' clients never reconnect). */
function closed(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

test('a user added to users.json gets in without a restart; the environment\'s own users stay', { timeout: 30_000 }, async (t) => {
  const phone = (await testUsers()).find((u) => u.role === 'phone')!;
  const own = { ...phone, username: 'sim-phone' };
  const { data, url, next, lines } = await meshOnFile(t, [own]);
  assert.deepEqual(await tryConnect(url, { username: 'kiosk', password: 'kiosk-password' }), { ok: false, returnCode: 4 });

  const changed = next(/users changed/);
  await setUser(data, 'kiosk', 'kiosk-password');
  assert.equal(await changed, 'users changed: added "kiosk" (viewer)');
  await connected(t, url, 'kiosk', 'kiosk-password');
  // sim-phone was never in the file: it is not removed when the file changes.
  await connected(t, url, 'sim-phone', password('phone'));
  assert.ok(!lines.some((l) => /removed/.test(l.msg)), JSON.stringify(lines));
});

test('a removed user is disconnected and refused; a new role or password ends the sessions of before', { timeout: 30_000 }, async (t) => {
  const { data, mesh, url, next } = await meshOnFile(t);
  const bob = await connected(t, url, 'bob');
  const bobClosed = closed(bob);
  await removeUser(data, 'bob');
  await bobClosed;
  assert.deepEqual(await tryConnect(url, { username: 'bob', password: password('bob') }), { ok: false, returnCode: 4 });

  // carol, a viewer, becomes an admin: her session ends, and the next one has an admin's ACL.
  const carol = await connected(t, url, 'carol');
  const responses = `${mesh.topics.base}/bridge/response/#`;
  assert.equal(await subscribeGranted(carol, responses), 128, 'a viewer may not read the bridge responses');
  const carolClosed = closed(carol);
  const promoted = next(/users changed/);
  await setUser(data, 'carol', 'carol-password', 'admin');
  assert.match(await promoted, /"carol" viewer → admin; closed 1 session of those users/);
  await carolClosed;
  const admin = await connected(t, url, 'carol', 'carol-password');
  assert.equal(await subscribeGranted(admin, responses), 1);

  // A new password (canopy user passwd): the session ends, the old password is refused, the new one let in.
  const adminClosed = closed(admin);
  await setPassword(data, 'carol', 'another-password');
  await adminClosed;
  assert.deepEqual(await tryConnect(url, { username: 'carol', password: 'carol-password' }), { ok: false, returnCode: 4 });
  const again = await connected(t, url, 'carol', 'another-password');
  assert.equal(await subscribeGranted(again, responses), 1, 'the role stayed admin');
});

test('a users.json that does not parse, or names a bad role, keeps the users; the next good one is taken', { timeout: 30_000 }, async (t) => {
  const { file, fileUsers, url, next, lines } = await meshOnFile(t);
  const viewer = await connected(t, url, 'viewer');

  const halfWritten = next(/not valid JSON/);
  replaceFile(file, JSON.stringify(fileUsers).slice(0, 80));
  assert.match(await halfWritten, /users\.json: not valid JSON \(.*\); the mesh keeps the users it has$/);
  const badRole = next(/users\[0\]\.role/);
  replaceFile(file, JSON.stringify([{ ...fileUsers[0], role: 'boss' }, ...fileUsers.slice(1)]));
  assert.match(await badRole, /users\[0\]\.role "boss": one of admin, viewer, .*; the mesh keeps the users it has$/);
  await connected(t, url, 'admin'); // still the users of before, admin among them

  const dave = (await testUsers([{ username: 'dave', role: 'viewer' }])).find((u) => u.username === 'dave')!;
  const changed = next(/users changed/);
  replaceFile(file, JSON.stringify([...fileUsers, dave]));
  assert.equal(await changed, 'users changed: added "dave" (viewer)');
  await connected(t, url, 'dave');
  assert.ok(viewer.connected, 'the unchanged viewer kept its session through all of it');
  assert.deepEqual(
    lines.filter((l) => l.level === 'error').map((l) => l.msg.replace(/:.*/, '')),
    [file, file],
    'one error line for each content that could not be taken',
  );
});
