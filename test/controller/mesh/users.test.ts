import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCanopyError } from '../../../common/errors.ts';
import { hashPassword, parsePasswordHash, UserDirectory, verifyPassword, type ScryptParams } from '../../../controller/mesh/users.ts';

const CHEAP: ScryptParams = { logN: 4, r: 8, p: 1 };

test('hashPassword matches the RFC 7914 §12 scrypt vector (P="password", S="NaCl", N=1024, r=8, p=16)', async () => {
  const encoded = await hashPassword('password', { logN: 10, r: 8, p: 16 }, new TextEncoder().encode('NaCl'));
  const { hash, salt, params } = parsePasswordHash(encoded);
  assert.deepEqual(params, { logN: 10, r: 8, p: 16 });
  assert.equal(Buffer.from(salt).toString(), 'NaCl');
  // First 32 of the vector's 64 bytes: PBKDF2 output blocks are independent of dkLen.
  assert.equal(Buffer.from(hash).toString('hex'), 'fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162');
  assert.match(encoded, /^\$scrypt\$ln=10,r=8,p=16\$TmFDbA\$[A-Za-z0-9+/]{43}$/);
});

test('verifyPassword accepts the password and nothing else; each hash has its own salt', async () => {
  const a = await hashPassword('correct horse', CHEAP);
  const b = await hashPassword('correct horse', CHEAP);
  assert.notEqual(a, b);
  assert.equal(await verifyPassword('correct horse', a), true);
  assert.equal(await verifyPassword('correct horsf', a), false);
  assert.equal(await verifyPassword('', a), false);
  assert.equal(await verifyPassword(new TextEncoder().encode('correct horse'), b), true);
});

test('malformed hashes and user entries fail fast, naming the field', async () => {
  assert.throws(() => parsePasswordHash('hunter2'), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
  assert.throws(() => parsePasswordHash('$scrypt$ln=40,r=8,p=1$AAAA$AAAA'), /out of range/);
  const hash = await hashPassword('x', CHEAP);
  assert.throws(() => new UserDirectory([{ username: 'a/b', role: 'viewer', passwordHash: hash }]), /users\[0\]\.username/);
  assert.throws(() => new UserDirectory([{ username: 'a', role: 'root' as 'admin', passwordHash: hash }]), /users\[0\]\.role/);
  assert.throws(
    () => new UserDirectory([{ username: 'a', role: 'viewer', passwordHash: hash }, { username: 'a', role: 'admin', passwordHash: hash }]),
    /users\[1\]\.username "a" appears twice/,
  );
  assert.throws(() => new UserDirectory([{ username: 'a', role: 'viewer', passwordHash: 'plain' }]), /scrypt/);
});

test('UserDirectory.authenticate returns the principal only for the right password', async () => {
  const dir = new UserDirectory([{ username: 'alice', role: 'neighbour', passwordHash: await hashPassword('pw', CHEAP) }]);
  assert.deepEqual(await dir.authenticate('alice', Buffer.from('pw')), { username: 'alice', role: 'neighbour' });
  assert.equal(await dir.authenticate('alice', Buffer.from('pW')), undefined);
  assert.equal(await dir.authenticate('mallory', Buffer.from('pw')), undefined);
});
