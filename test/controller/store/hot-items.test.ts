import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { isCanopyError } from '../../../common/errors.ts';
import { HOT_PART_TAG, type HotList } from '../../../controller/store/hot-items.ts';
import { StoreClient } from '../../../controller/store/protocol.ts';
import { password } from '../../../harness/rigs/mesh.ts';
import { OWNER, storeRig } from './rig.ts';

const PART = 1000;
/** A sealed part is nonce (24) ‖ ciphertext ‖ tag (16). */
const SEALED = PART + 40;

test('hot items: parts written out of order, resent parts kept once, missing ranges told, the whole item read back', async (t) => {
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART } });
  const c = rig.client;
  const content = randomBytes(3 * PART + 300);
  const total = content.length;
  const part = (i: number) => content.subarray(i * PART, Math.min(total, (i + 1) * PART));

  let { status } = (await c.request(OWNER, { op: 'hot-write', item: 'ep1.webm', offset: 2 * PART, total, mime: 'video/webm', title: 'Episode 1' }, part(2))).data;
  assert.deepEqual(
    { have: status.have, contiguous: status.contiguous, missing: status.missing, complete: status.complete, total: status.total, mime: status.mime, partBytes: status.partBytes },
    { have: PART, contiguous: 0, missing: [[0, 2 * PART], [3 * PART, total]], complete: false, total, mime: 'video/webm', partBytes: PART },
  );
  ({ status } = (await c.request(OWNER, { op: 'hot-write', item: 'ep1.webm', offset: 0 }, Buffer.concat([part(0), part(1)]))).data);
  assert.deepEqual([status.contiguous, status.missing], [3 * PART, [[3 * PART, total]]]);
  const used = rig.phone.store.usage().hot;
  // A resumed fetch resends part 1: nothing changes.
  ({ status } = (await c.request(OWNER, { op: 'hot-write', item: 'ep1.webm', offset: PART }, part(1))).data);
  assert.deepEqual(rig.phone.store.usage().hot, used);
  assert.equal(status.have, 3 * PART);
  // The last part is the only one that may be short, and it ends at total.
  ({ status } = (await c.request(OWNER, { op: 'hot-write', item: 'ep1.webm', offset: 3 * PART }, part(3))).data);
  assert.deepEqual([status.complete, status.have, status.contiguous, status.missing, status.title], [true, total, total, [], 'Episode 1']);
  assert.deepEqual(Buffer.concat([0, 1, 2, 3].map((i) => rig.phone.hot.readPart('ep1.webm', i)!)), content);

  // Sealed at rest: the store holds no plaintext part.
  const entries = rig.phone.store.list({ cls: 'hot', tag: HOT_PART_TAG });
  assert.equal(entries.length, 4);
  for (const e of entries) assert.equal(Buffer.from(rig.phone.store.get(e.addr)).includes(part(0).subarray(0, 32)), false);

  const list = (await c.request(OWNER, { op: 'hot-list' })).data;
  assert.deepEqual([list.items.map((i) => i.item), list.partBytes, list.usedBytes], [['ep1.webm'], PART, 4 * 40 + total]);
  // The retained topic says the same once its debounce (≤ 1 publish a second) has passed.
  let published: HotList | undefined;
  for (const until = Date.now() + 3000; Date.now() < until; await new Promise((r) => setTimeout(r, 100))) {
    const retained = await c.retained(c.topics.hot(OWNER), 500);
    published = retained && (JSON.parse(retained.toString()) as HotList);
    if (published?.items[0]?.complete) break;
  }
  assert.deepEqual(published?.items, list.items);

  assert.deepEqual((await c.request(OWNER, { op: 'hot-delete', item: 'ep1.webm' })).data, { deleted: true });
  assert.equal(rig.phone.store.usage().hot.bytes, 0);
  await assert.rejects(c.request(OWNER, { op: 'hot-status', item: 'ep1.webm' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  assert.deepEqual((await c.request(OWNER, { op: 'hot-delete', item: 'ep1.webm' })).data, { deleted: false });
});

test('hot items: bad writes are refused with the reason and store nothing', async (t) => {
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART } });
  const c = rig.client;
  await c.request(OWNER, { op: 'hot-write', item: 'a', offset: 0, total: 2500 }, randomBytes(PART));
  const refused = async (req: Parameters<typeof c.request<'hot-write'>>[1], body: Uint8Array, re: RegExp) =>
    assert.rejects(c.request(OWNER, req, body), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && re.test(e.message));
  await refused({ op: 'hot-write', item: 'a', offset: 500 }, randomBytes(PART), /offset 500 is not a multiple of its part size 1000/);
  await refused({ op: 'hot-write', item: 'a', offset: PART }, randomBytes(700), /not a whole number of 1000-byte parts/);
  await refused({ op: 'hot-write', item: 'a', offset: 2 * PART }, randomBytes(PART), /run past its end \(2500 bytes\)/);
  await refused({ op: 'hot-write', item: 'a', offset: 0, total: 9000 }, randomBytes(PART), /is 2500 bytes, this write says 9000/);
  await refused({ op: 'hot-write', item: 'Bad/Id', offset: 0 }, randomBytes(PART), /hot item id/);
  await refused({ op: 'hot-write', item: 'b', offset: 0 }, randomBytes(700), /give total with the last part/);
  await refused({ op: 'hot-write', item: 'b', offset: 0, total: 700, mime: 'not a type' }, randomBytes(700), /mime/);
  const { status } = (await c.request(OWNER, { op: 'hot-status', item: 'a' })).data;
  assert.deepEqual([status.have, status.missing], [PART, [[PART, 2500]]]);
  assert.deepEqual((await c.request(OWNER, { op: 'hot-list' })).data.items.map((i) => i.item), ['a']);
});

test('hot items: the LRU evicts other items, which then say they are incomplete; an item over the quota is refused with the numbers', async (t) => {
  // Room for five sealed parts.
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART }, phoneStore: { quotas: { hot: 5 * SEALED } } });
  const c = rig.client;
  const write = (item: string, parts: number) => c.request(OWNER, { op: 'hot-write', item, offset: 0, total: parts * PART }, randomBytes(parts * PART));
  await write('old', 3);
  await write('new', 3);
  const old = (await c.request(OWNER, { op: 'hot-status', item: 'old' })).data.status;
  const fresh = (await c.request(OWNER, { op: 'hot-status', item: 'new' })).data.status;
  assert.equal(fresh.complete, true);
  assert.deepEqual([old.complete, old.have, old.missing.reduce((n, [a, b]) => n + b - a, 0)], [false, 2 * PART, PART], 'one of the old item\'s parts made room');
  assert.ok(rig.phone.store.usage().hot.bytes <= 5 * SEALED);

  // Larger than the whole cache: refused at its first write, with the numbers.
  await assert.rejects(write('huge', 6), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA') && e.message.includes('6000 bytes') && e.message.includes(`quota of ${5 * SEALED} bytes`));
  assert.equal((await c.request(OWNER, { op: 'hot-list' })).data.items.length, 2, 'nothing of it was stored');
  // Fits the quota, but not beside its own parts: 5 of 5 parts fit, its sixth part would need its own first.
  await c.request(OWNER, { op: 'hot-write', item: 'five', offset: 0, total: 5 * PART }, randomBytes(5 * PART));
  assert.equal((await c.request(OWNER, { op: 'hot-status', item: 'five' })).data.status.complete, true);
  const { items } = (await c.request(OWNER, { op: 'hot-list' })).data;
  assert.deepEqual(items.map((i) => [i.item, i.have]), [['five', 5 * PART], ['new', 0], ['old', 0]]);
});

test('hot items: neighbours see the status and list only; a tampered part is named on read and dropped, nothing else lost', async (t) => {
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART } });
  const c = rig.client;
  const bob = await StoreClient.connect({ url: rig.url, username: 'bob', password: password('bob'), asNeighbour: 'bob', timeoutMs: 3000 });
  t.after(() => bob.close());
  const content = randomBytes(3 * PART);
  await c.request(OWNER, { op: 'hot-write', item: 'show', offset: 0, total: content.length }, content);
  assert.equal((await bob.request(OWNER, { op: 'hot-status', item: 'show' })).data.status.complete, true);
  assert.deepEqual((await bob.request(OWNER, { op: 'hot-list' })).data.items.map((i) => i.item), ['show']);
  await assert.rejects(bob.request(OWNER, { op: 'hot-write', item: 'show2', offset: 0, total: 10 }, randomBytes(10)), (e) => isCanopyError(e, 'CANOPY_ERR_DENIED'));
  await assert.rejects(bob.request(OWNER, { op: 'hot-delete', item: 'show' }), (e) => isCanopyError(e, 'CANOPY_ERR_DENIED'));
  // The sealed parts are not handed out raw.
  const [sealed] = rig.phone.store.list({ cls: 'hot', tag: HOT_PART_TAG });
  await assert.rejects(bob.request(OWNER, { op: 'get', addr: sealed!.addr }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  assert.equal((await c.request(OWNER, { op: 'hot-status', item: 'show' })).data.status.complete, true);

  // Damage part 1 on the phone's disk.
  const index = new Database(join(rig.dir, 'phone', 'hot-items.sqlite'));
  const { addr } = index.prepare('SELECT addr FROM parts WHERE item = ? AND idx = 1').get('show') as { addr: string };
  index.close();
  const db = new Database(join(rig.dir, 'phone', 'index.sqlite'));
  const body = Buffer.from((db.prepare('SELECT body FROM chunks WHERE addr = ?').get(addr) as { body: Buffer }).body);
  body[100]! ^= 1;
  db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(body, addr);
  db.close();
  assert.throws(() => rig.phone.hot.readPart('show', 1), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT') && /hot item "show" part 1 \(bytes 1000–2000\) is damaged/.test(e.message));
  const { status } = (await c.request(OWNER, { op: 'hot-status', item: 'show' })).data;
  assert.deepEqual([status.complete, status.missing], [false, [[PART, 2 * PART]]]);
  assert.deepEqual(Buffer.from(rig.phone.hot.readPart('show', 0)!), content.subarray(0, PART));
  assert.deepEqual(Buffer.from(rig.phone.hot.readPart('show', 2)!), content.subarray(2 * PART));
  // The prefetcher writes it again.
  await c.request(OWNER, { op: 'hot-write', item: 'show', offset: PART }, content.subarray(PART, 2 * PART));
  assert.deepEqual(Buffer.from(rig.phone.hot.readPart('show', 1)!), content.subarray(PART, 2 * PART));
});
