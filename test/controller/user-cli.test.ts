/**
 * `canopy user`: mesh users for the dashboard (viewers), phones and neighbours, kept as scrypt
 * hashes in users.json; a made-up password is shown once; the last admin cannot be removed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserDirectory, type MeshUser } from '../../controller/mesh/users.ts';
import { canopy } from '../helpers/cli.ts';

test('canopy user add, list and remove', { timeout: 120_000 }, async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'canopy-users-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const users = () => JSON.parse(readFileSync(join(data, 'users.json'), 'utf8')) as MeshUser[];

  const added = await canopy('user', 'add', 'kiosk', '--data', data);
  assert.equal(added.code, 0, added.stderr);
  // A fresh data directory gets its admin first, shown once as `canopy start` would.
  assert.match(added.stdout, /created the mesh admin/);
  const password = /added mesh user "kiosk" \(viewer\) in .*, password "([^"]+)"/.exec(added.stdout)?.[1];
  assert.ok(password, added.stdout);
  assert.deepEqual(users().map((u) => [u.username, u.role]), [['admin', 'admin'], ['kiosk', 'viewer']]);
  assert.ok(!readFileSync(join(data, 'users.json'), 'utf8').includes(password), 'only the hash is kept');
  assert.equal(statSync(join(data, 'users.json')).mode & 0o077, 0);
  assert.deepEqual(await new UserDirectory(users()).authenticate('kiosk', Buffer.from(password)), { username: 'kiosk', role: 'viewer' });

  const pwFile = join(data, 'pw');
  writeFileSync(pwFile, 'correct horse battery\n');
  const phone = await canopy('user', 'add', 'phone', '--role', 'phone', '--password-file', pwFile, '--data', data);
  assert.equal(phone.code, 0, phone.stderr);
  assert.doesNotMatch(phone.stdout, /password "/, 'a password from a file is not echoed');
  assert.deepEqual(await new UserDirectory(users()).authenticate('phone', Buffer.from('correct horse battery')), { username: 'phone', role: 'phone' });

  const list = await canopy('user', 'list', '--data', data);
  assert.match(list.stdout, /^admin\s+admin\nkiosk\s+viewer\nphone\s+phone\n$/);

  const badRole = await canopy('user', 'add', 'x', '--role', 'boss', '--data', data);
  assert.equal(badRole.code, 64, 'EX_USAGE');
  assert.match(badRole.stderr, /--role "boss": one of admin, viewer/);
  const badName = await canopy('user', 'add', 'a/b', '--data', data);
  assert.equal(badName.code, 64, 'EX_USAGE');
  assert.match(badName.stderr, /username "a\/b"/);
  const lastAdmin = await canopy('user', 'remove', 'admin', '--data', data);
  assert.equal(lastAdmin.code, 77, 'EX_NOPERM');
  assert.match(lastAdmin.stderr, /last admin.*\[CANOPY_ERR_DENIED\]/);

  assert.equal((await canopy('user', 'remove', 'kiosk', '--data', data)).code, 0);
  assert.deepEqual(users().map((u) => u.username), ['admin', 'phone']);
});
