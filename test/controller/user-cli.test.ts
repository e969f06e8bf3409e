/**
 * `canopy user`: mesh users for the dashboard (viewers), phones and neighbours, kept as scrypt
 * hashes in users.json; a made-up password is shown once; an existing user keeps its role unless
 * --role; the last admin cannot be removed or demoted; `user passwd` sets a new password.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROLES } from '../../controller/mesh/acl.ts';
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
  assert.equal(lastAdmin.code, 64, 'EX_USAGE');
  assert.match(lastAdmin.stderr, /^canopy user: "admin" is the last admin; make another admin first .*\[CANOPY_ERR_BAD_ARGUMENT\]\n$/);

  assert.equal((await canopy('user', 'remove', 'kiosk', '--data', data)).code, 0);
  assert.deepEqual(users().map((u) => u.username), ['admin', 'phone']);
});

test('canopy user add of an existing user keeps its role; the last admin is not demoted; passwd sets a new password', { timeout: 120_000 }, async (t) => {
  const data = mkdtempSync(join(tmpdir(), 'canopy-users-'));
  t.after(() => rmSync(data, { recursive: true, force: true }));
  const users = () => JSON.parse(readFileSync(join(data, 'users.json'), 'utf8')) as MeshUser[];
  const first = await canopy('user', 'list', '--data', data);
  const adminPassword = /username "admin", password "([^"]+)"/.exec(first.stdout)?.[1];
  assert.ok(adminPassword, first.stdout);

  // The first admin's password is kept for its owner until it changes.
  assert.equal(readFileSync(join(data, 'initial-admin-password'), 'utf8').trim(), adminPassword);
  // A new password for the admin, as `canopy user add admin` gives: it stays the admin.
  const readd = await canopy('user', 'add', 'admin', '--data', data);
  assert.equal(readd.code, 0, readd.stderr);
  assert.match(readd.stdout, /updated mesh user "admin" \(admin, role kept\)/);
  assert.deepEqual(users().map((u) => [u.username, u.role]), [['admin', 'admin']]);
  assert.equal(existsSync(join(data, 'initial-admin-password')), false, 'the kept first password went with its change');

  const demote = await canopy('user', 'add', 'admin', '--role', 'viewer', '--data', data);
  assert.equal(demote.code, 64, 'EX_USAGE');
  assert.match(demote.stderr, /^canopy user: "admin" is the last admin and stays one; make another admin first .*\[CANOPY_ERR_BAD_ARGUMENT\]\n$/);
  assert.deepEqual(users().map((u) => u.role), ['admin']);

  // With a second admin the first may be demoted, and the second keeps its role when re-added.
  assert.equal((await canopy('user', 'add', 'ops', '--role', 'admin', '--data', data)).code, 0);
  assert.equal((await canopy('user', 'add', 'admin', '--role', 'viewer', '--data', data)).code, 0);
  assert.equal((await canopy('user', 'add', 'ops', '--data', data)).code, 0);
  assert.deepEqual(users().map((u) => [u.username, u.role]), [['admin', 'viewer'], ['ops', 'admin']]);

  // passwd: a made-up password shown once, the old one refused, the new one accepted, the role kept.
  const before = users().find((u) => u.username === 'ops')!;
  const passwd = await canopy('user', 'passwd', 'ops', '--data', data);
  assert.equal(passwd.code, 0, passwd.stderr);
  const newPassword = /new password for mesh user "ops" \(admin\) in .*, password "([^"]+)" \(shown only now\)/.exec(passwd.stdout)?.[1];
  assert.ok(newPassword, passwd.stdout);
  const after = users().find((u) => u.username === 'ops')!;
  assert.notEqual(after.passwordHash, before.passwordHash);
  assert.equal(after.role, 'admin');
  const directory = new UserDirectory(users());
  assert.deepEqual(await directory.authenticate('ops', Buffer.from(newPassword)), { username: 'ops', role: 'admin' });

  // From a file (or /dev/stdin), not echoed; the password before is refused from then on.
  const pwFile = join(data, 'pw');
  writeFileSync(pwFile, 'a long passphrase\n');
  const fromFile = await canopy('user', 'passwd', 'ops', '--password-file', pwFile, '--data', data);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.doesNotMatch(fromFile.stdout, /password "/);
  assert.equal(await new UserDirectory(users()).authenticate('ops', Buffer.from(newPassword)), undefined);
  assert.deepEqual(await new UserDirectory(users()).authenticate('ops', Buffer.from('a long passphrase')), { username: 'ops', role: 'admin' });

  const unknown = await canopy('user', 'passwd', 'nobody', '--data', data);
  assert.equal(unknown.code, 66, 'EX_NOINPUT');
  assert.match(unknown.stderr, /^canopy user: no mesh user "nobody"; known: admin, ops \[CANOPY_ERR_NOT_FOUND\]\n$/);
  const roleOnPasswd = await canopy('user', 'passwd', 'ops', '--role', 'viewer', '--data', data);
  assert.equal(roleOnPasswd.code, 64);
  assert.equal(users().find((u) => u.username === 'ops')!.role, 'admin');
});

test('canopy user --help lists every role and passwd', async () => {
  const help = await canopy('user', '--help');
  assert.equal(help.code, 0);
  assert.deepEqual(/--role ([^\]\s]+)\]/.exec(help.stdout)?.[1]?.split('|'), [...ROLES], help.stdout);
  assert.ok(ROLES.includes('homeassistant'));
  assert.match(help.stdout, /canopy user passwd NAME/);
});
