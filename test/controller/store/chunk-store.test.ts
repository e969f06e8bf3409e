import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { isCanopyError } from '../../../common/errors.ts';
import { addressOf, ChunkStore, type ChunkStoreOptions } from '../../../controller/store/chunk-store.ts';

function tempStore(t: { after(fn: () => void): void }, opts: Partial<ChunkStoreOptions> = {}): ChunkStore {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-store-'));
  const store = new ChunkStore({ dir, clock: new ManualClock(1_000), synchronous: 'NORMAL', ...opts });
  t.after(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return store;
}

function blob(n = 1000): { addr: string; body: Uint8Array } {
  const body = randomBytes(n);
  return { addr: addressOf(body), body };
}

for (const bodies of ['sqlite', 'files'] as const) {
  test(`${bodies}: put is idempotent, get returns the bytes, has/list/delete see the entry`, (t) => {
    const store = tempStore(t, { bodies });
    const b = blob();
    assert.equal(store.put({ ...b, cls: 'own', owner: 'phone', tag: 'chunk' }), true);
    assert.equal(store.put({ ...b, cls: 'own', owner: 'phone', tag: 'chunk' }), false, 'second put of the same address stores nothing new');
    assert.deepEqual(Buffer.from(store.get(b.addr)), Buffer.from(b.body));
    assert.equal(store.has(b.addr), true);
    const other = blob();
    assert.deepEqual(store.present([other.addr, b.addr, 'not an address']), new Set([b.addr]), 'present: those of many it holds');
    assert.deepEqual(store.present([]), new Set());
    assert.deepEqual(store.list({ tag: 'chunk' }).map((e) => e.addr), [b.addr]);
    assert.deepEqual(store.usage().own, { items: 1, bytes: 1000, quota: null });
    assert.equal(store.delete(b.addr), true);
    assert.equal(store.has(b.addr), false);
    assert.throws(() => store.get(b.addr), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  });

  test(`${bodies}: a body that does not hash to its address is refused`, (t) => {
    const store = tempStore(t, { bodies });
    const b = blob();
    assert.throws(() => store.put({ addr: b.addr, body: randomBytes(1000), cls: 'own', owner: 'phone' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT'));
    assert.equal(store.has(b.addr), false);
  });

  test(`${bodies}: a damaged body is named on get and by scrub; the others still read`, async (t) => {
    const store = tempStore(t, { bodies });
    const good = blob();
    const bad = blob();
    store.putMany([
      { ...good, cls: 'own', owner: 'phone' },
      { ...bad, cls: 'cold', owner: 'alice' },
    ]);
    const dir = (store as unknown as { opts: ChunkStoreOptions }).opts.dir;
    if (bodies === 'files') writeFileSync(join(dir, 'chunks', bad.addr.slice(0, 2), bad.addr), randomBytes(1000));
    else {
      const db = new Database(join(dir, 'index.sqlite'));
      db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(randomBytes(1000), bad.addr);
      db.close();
    }
    assert.throws(() => store.get(bad.addr), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT') && e.message.includes(bad.addr));
    assert.deepEqual(Buffer.from(store.get(good.addr)), Buffer.from(good.body));
    const seen: number[] = [];
    const report = await store.scrub((done) => seen.push(done));
    assert.equal(report.checked, 2);
    assert.equal(report.bytes, 2000);
    assert.deepEqual(report.corrupt.map((c) => [c.addr, c.cls, c.owner]), [[bad.addr, 'cold', 'alice']]);
    assert.deepEqual(seen, [1, 2]);
  });

  test(`${bodies}: the cold quota refuses a put with a clear error and keeps what is stored`, (t) => {
    const store = tempStore(t, { bodies, quotas: { cold: 2500 } });
    const a = blob();
    const b = blob();
    const c = blob();
    store.put({ ...a, cls: 'cold', owner: 'alice' });
    store.put({ ...b, cls: 'cold', owner: 'bob' });
    assert.throws(
      () => store.put({ ...c, cls: 'cold', owner: 'bob' }),
      (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA') && /cold class is full: 2000 of 2500 bytes/.test(e.message),
    );
    assert.throws(() => store.putMany([{ ...blob(10), cls: 'cold', owner: 'x' }, { ...c, cls: 'cold', owner: 'bob' }]), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA'));
    assert.equal(store.usage().cold.items, 2, 'a refused batch stores nothing, not even its first item');
    assert.deepEqual(Buffer.from(store.get(a.addr)), Buffer.from(a.body));
    assert.deepEqual(Buffer.from(store.get(b.addr)), Buffer.from(b.body));
    assert.equal(store.has(c.addr), false);
    if (bodies === 'files') assert.equal(readdirSync(join((store as unknown as { opts: ChunkStoreOptions }).opts.dir, 'chunks'), { recursive: true }).filter((f) => String(f).length > 3).length, 2, 'no body file left for refused puts');
    store.put({ ...c, cls: 'own', owner: 'phone' });
    assert.equal(store.has(c.addr), true, 'the own class has no quota here');
  });

  test(`${bodies}: the hot cache evicts the least recently used entries to make room`, (t) => {
    const clock = new ManualClock(1_000);
    const store = tempStore(t, { bodies, clock, quotas: { hot: 3000 } });
    const [a, b, c, d] = [blob(), blob(), blob(), blob()];
    store.put({ ...a, cls: 'hot', owner: 'alice' });
    clock.advance(10);
    store.put({ ...b, cls: 'hot', owner: 'alice' });
    clock.advance(10);
    store.put({ ...c, cls: 'hot', owner: 'bob' });
    clock.advance(10);
    store.get(a.addr); // a is now the most recently used
    clock.advance(10);
    store.put({ ...d, cls: 'hot', owner: 'bob' });
    assert.deepEqual([a, b, c, d].map((x) => store.has(x.addr)), [true, false, true, true]);
    assert.equal(store.usage().hot.bytes, 3000);
    assert.throws(() => store.put({ ...blob(4000), cls: 'hot', owner: 'bob' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA'));
    assert.equal(store.usage().hot.items, 3, 'an entry larger than the whole cache evicts nothing');
  });
}

test('the index and the quota counters survive a reopen', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-store-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const a = blob();
  const s1 = new ChunkStore({ dir, quotas: { cold: 1500 } });
  s1.put({ ...a, cls: 'cold', owner: 'alice' });
  s1.close();
  const s2 = new ChunkStore({ dir, quotas: { cold: 1500 } });
  t.after(() => s2.close());
  assert.deepEqual(Buffer.from(s2.get(a.addr)), Buffer.from(a.body));
  assert.throws(() => s2.put({ ...blob(), cls: 'cold', owner: 'alice' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_QUOTA'));
});

test('scrub pages through a store larger than one page and lets other work run between pages', async (t) => {
  const store = tempStore(t);
  const blobs = Array.from({ length: 600 }, () => blob(64));
  store.putMany(blobs.map((b) => ({ ...b, cls: 'own' as const, owner: 'phone' })));
  const victim = blobs[417]!;
  const db = new Database(join((store as unknown as { opts: ChunkStoreOptions }).opts.dir, 'index.sqlite'));
  db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(randomBytes(64), victim.addr);
  db.close();
  // Work queued before the scrub runs once its first page is done, not after the whole store.
  let other = false;
  setImmediate(() => (other = true));
  const seenAt: Record<number, boolean> = {};
  const report = await store.scrub((done) => (seenAt[done] = other));
  assert.equal(report.checked, 600);
  assert.deepEqual(report.corrupt.map((c) => c.addr), [victim.addr]);
  assert.equal(seenAt[1], false);
  assert.equal(seenAt[300], true);
});
