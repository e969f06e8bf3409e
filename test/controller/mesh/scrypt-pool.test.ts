/** The scrypt threads of the mesh's password checks (controller/mesh/scrypt-pool.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { scryptSync } from 'node:crypto';
import { ScryptPool } from '../../../controller/mesh/scrypt-pool.ts';

const job = (password: string) => ({ password, salt: new TextEncoder().encode('NaCl'), dkLen: 64, N: 1024, r: 8, p: 16 });

test('a pool derives what node:crypto derives (RFC 7914 §12), in line behind its threads, and refuses work once closed', async () => {
  const pool = new ScryptPool(2);
  const keys = await Promise.all(['password', 'pleaseletmein', 'password'].map((p) => pool.derive(job(p))));
  assert.equal(Buffer.from(keys[0]!).toString('hex').slice(0, 32), 'fdbabe1c9d3472007856e7190d01e9fe');
  assert.deepEqual(Buffer.from(keys[1]!), scryptSync('pleaseletmein', 'NaCl', 64, { N: 1024, r: 8, p: 16 }));
  assert.deepEqual(keys[2], keys[0]);
  const queued = Promise.allSettled([pool.derive(job('a')), pool.derive(job('b')), pool.derive(job('c'))]);
  await pool.close();
  const outcomes = await queued;
  assert.ok(outcomes.some((o) => o.status === 'rejected' && /closed/.test(String(o.reason))), 'the check still in line is refused');
  await assert.rejects(pool.derive(job('late')), /closed/);
});

test('bad parameters are a clear error from the thread, and the pool goes on', async () => {
  const pool = new ScryptPool(1);
  await assert.rejects(pool.derive({ ...job('x'), N: 1000 }), /scrypt: .*N/i);
  const key = await pool.derive(job('password'));
  assert.equal(key.length, 64);
  await pool.close();
});
