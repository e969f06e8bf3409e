import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isCanopyError } from '../../../common/errors.ts';
import { addressOf, ChunkStore } from '../../../controller/store/chunk-store.ts';
import { PhoneAgent } from '../../../controller/store/phone-agent.ts';
import { StoreClient } from '../../../controller/store/protocol.ts';
import { connect, end, subscribeGranted } from '../../../harness/rigs/mqtt.ts';
import { password } from '../../../harness/rigs/mesh.ts';
import { OWNER, storeRig } from './rig.ts';

function blob(n = 2000) {
  const body = randomBytes(n);
  return { addr: addressOf(body), body };
}

test('the owner puts, gets, lists, deletes and scrubs on the phone over the mesh; puts are idempotent; a damaged chunk is named', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const c = rig.client;
  const a = blob();
  const b = blob();
  assert.deepEqual((await c.request(OWNER, { op: 'put', addr: a.addr, cls: 'own', tag: 'chunk' }, a.body)).data, { stored: true });
  assert.deepEqual((await c.request(OWNER, { op: 'put', addr: a.addr, cls: 'own', tag: 'chunk' }, a.body)).data, { stored: false });
  await c.request(OWNER, { op: 'put', addr: b.addr, cls: 'own', tag: 'manifest' }, b.body);
  assert.deepEqual(Buffer.from((await c.request(OWNER, { op: 'get', addr: a.addr })).body), a.body);
  assert.deepEqual((await c.request(OWNER, { op: 'has', addrs: [a.addr, blob().addr] })).data.present, [true, false]);
  assert.deepEqual((await c.request(OWNER, { op: 'list', filter: { tag: 'manifest' } })).data.entries.map((e) => e.addr), [b.addr]);
  assert.equal((await c.request(OWNER, { op: 'usage' })).data.usage.own.items, 2);
  await assert.rejects(c.request(OWNER, { op: 'put', addr: blob().addr, cls: 'own' }, randomBytes(10)), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT'));

  // Damage b on the phone's disk: get and scrub name it.
  const db = new Database(join(rig.dir, 'phone', 'index.sqlite'));
  db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(randomBytes(2000), b.addr);
  db.close();
  await assert.rejects(c.request(OWNER, { op: 'get', addr: b.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT') && e.message.includes(b.addr));
  const { report } = (await c.request(OWNER, { op: 'scrub' })).data;
  assert.equal(report.checked, 2);
  assert.deepEqual(report.corrupt.map((x) => x.addr), [b.addr]);

  assert.deepEqual((await c.request(OWNER, { op: 'delete', addr: a.addr })).data, { deleted: true });
  await assert.rejects(c.request(OWNER, { op: 'get', addr: a.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
});

test('a neighbour reads the hot cache and its own cold entries from the phone without the uplink, and nothing of the owner', async (t) => {
  const rig = await storeRig(t, { neighbours: 0, phoneStore: { quotas: { cold: 3000, hot: 1_000_000 } } });
  const alice = await StoreClient.connect({ url: rig.url, username: 'alice', password: password('alice'), asNeighbour: 'alice', timeoutMs: 3000 });
  const bob = await StoreClient.connect({ url: rig.url, username: 'bob', password: password('bob'), asNeighbour: 'bob', timeoutMs: 3000 });
  t.after(() => Promise.all([alice.close(), bob.close()]));
  const own = blob();
  const cached = blob();
  const aliceCold = blob();
  await rig.client.request(OWNER, { op: 'put', addr: own.addr, cls: 'own' }, own.body);
  await rig.client.request(OWNER, { op: 'put', addr: cached.addr, cls: 'hot', tag: 'chunk' }, cached.body);

  // The hot cache: any neighbour reads it, and the bytes are the ciphertext that was put.
  assert.deepEqual(Buffer.from((await bob.request(OWNER, { op: 'get', addr: cached.addr })).body), cached.body);
  // The owner's own entries are not even admitted to exist.
  await assert.rejects(bob.request(OWNER, { op: 'get', addr: own.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  assert.deepEqual((await bob.request(OWNER, { op: 'has', addrs: [own.addr, cached.addr] })).data.present, [false, true]);
  await assert.rejects(bob.request(OWNER, { op: 'put', addr: own.addr, cls: 'own' }, own.body), (e) => isCanopyError(e, 'CANOPY_ERR_DENIED'));
  await assert.rejects(bob.request(OWNER, { op: 'scrub' }), (e) => isCanopyError(e, 'CANOPY_ERR_DENIED'));

  // Cold: alice keeps her backups on the owner's phone; bob cannot read them; the quota holds.
  const took = (await alice.request(OWNER, { op: 'put', addr: aliceCold.addr, cls: 'cold' }, aliceCold.body)).data;
  assert.equal(took.stored, true);
  // A cold put is answered with the holder's signed receipt.
  assert.deepEqual([took.receipt?.holder, took.receipt?.owner, took.receipt?.addr], [OWNER, 'alice', aliceCold.addr]);
  assert.deepEqual(Buffer.from((await alice.request(OWNER, { op: 'get', addr: aliceCold.addr })).body), aliceCold.body);
  await assert.rejects(bob.request(OWNER, { op: 'get', addr: aliceCold.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  await assert.rejects(bob.request(OWNER, { op: 'delete', addr: aliceCold.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  assert.deepEqual((await alice.request(OWNER, { op: 'list' })).data.entries.map((e) => e.addr), [aliceCold.addr]);
  const big = blob(2000);
  await assert.rejects(bob.request(OWNER, { op: 'put', addr: big.addr, cls: 'cold' }, big.body), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA') && /cold class is full/.test(e.message));
  assert.deepEqual(Buffer.from((await alice.request(OWNER, { op: 'get', addr: aliceCold.addr })).body), aliceCold.body, 'a refused put loses nothing stored');
  assert.equal(rig.phone.store.has(big.addr), false);

  // The ACL keeps neighbours on their own subtree: bob cannot listen to alice's answers.
  const raw = await connect(rig.url, { username: 'bob', password: password('bob') });
  t.after(() => end(raw));
  assert.equal(await subscribeGranted(raw, 'canopy/store/alice/answer/#'), 128);
});

test("an agent's availability is retained: online while it runs, offline when it stops", async (t) => {
  const rig = await storeRig(t, { neighbours: 1 });
  assert.equal(String(await rig.client.retained('canopy/store/alice/availability')), 'online');
  await rig.stopNeighbour('alice');
  assert.equal(String(await rig.client.retained('canopy/store/alice/availability')), 'offline');
});

test("a neighbour's own agent started as the CLI starts it (serving neighbours too) comes up and serves the owner", async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const store = new ChunkStore({ dir: join(rig.dir, 'alice-cli'), synchronous: 'NORMAL' });
  const agent = new PhoneAgent({ store, url: rig.url, username: 'alice', password: password('alice'), name: 'alice', serveNeighbours: true });
  await agent.start();
  t.after(async () => {
    await agent.stop();
    store.close();
  });
  const b = blob();
  const took = (await rig.client.request('alice', { op: 'put', addr: b.addr, cls: 'cold', owner: OWNER }, b.body)).data;
  assert.equal(took.stored, true);
  assert.deepEqual([took.receipt?.holder, took.receipt?.owner, took.receipt?.size], ['alice', OWNER, b.body.length]);
  assert.equal(store.info(b.addr)?.owner, OWNER);
});

test('an agent that does not answer is a timeout, not a hang', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  await assert.rejects(rig.client.request('nobody', { op: 'has', addrs: [] }, undefined, 300), (e) => isCanopyError(e, 'CANOPY_ERR_TIMEOUT') && /"nobody"/.test(e.message));
});
