import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { isCanopyError } from '../../../common/errors.ts';
import { Outbox, type OutboxOptions } from '../../../controller/relay/outbox.ts';

function tempDb(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-outbox-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'outbox.db');
}

function options(path: string, clock: ManualClock, over: Partial<OutboxOptions> = {}): OutboxOptions {
  return { path, origin: 'site', ttlMs: { control: 1000, hot: 5000, bulk: null }, clock, ...over };
}

const body = (s: string) => new TextEncoder().encode(s);

test('items come back per class in arrival order; ids are assigned <origin>:<counter> and survive reopening', (t) => {
  const path = tempDb(t);
  const clock = new ManualClock();
  let outbox = new Outbox(options(path, clock));
  const added = outbox.add([
    { cls: 'bulk', dest: 'b/1', body: body('b1') },
    { cls: 'control', dest: 'c/1', body: body('c1') },
    { cls: 'bulk', dest: 'b/2', body: body('b2') },
    { id: 'phone:7', cls: 'hot', dest: 'h/1', body: body('h1') },
  ]);
  assert.deepEqual(added.map((i) => i?.id), ['site:1', 'site:2', 'site:3', 'phone:7']);
  assert.deepEqual(outbox.next('bulk', 0, 10).map((i) => i.dest), ['b/1', 'b/2']);
  const [firstBulk] = outbox.next('bulk', 0, 1);
  assert.deepEqual(outbox.next('bulk', firstBulk!.seq, 10).map((i) => i.dest), ['b/2']);
  assert.deepEqual(outbox.next('control', 0, 10).map((i) => Buffer.from(i.body).toString()), ['c1']);
  outbox.close();

  outbox = new Outbox(options(path, clock));
  t.after(() => outbox.close());
  assert.deepEqual(outbox.stats().queued, { control: { items: 1, bytes: 2 }, hot: { items: 1, bytes: 2 }, bulk: { items: 2, bytes: 4 } });
  assert.equal(outbox.add([{ cls: 'bulk', dest: 'b/3', body: body('b3') }])[0]?.id, 'site:4', 'the counter continues after a restart');
});

test('an id already queued is the same item: a retry adds nothing', (t) => {
  const clock = new ManualClock();
  const outbox = new Outbox(options(tempDb(t), clock));
  t.after(() => outbox.close());
  const [first] = outbox.add([{ id: 'phone:1', cls: 'hot', dest: 'x', body: body('one') }]);
  const [retry] = outbox.add([{ id: 'phone:1', cls: 'hot', dest: 'x', body: body('one') }]);
  assert.ok(first);
  assert.equal(retry, undefined);
  assert.equal(outbox.stats().queued.hot.items, 1);
});

test('remove() deletes delivered items and counts them durably', (t) => {
  const path = tempDb(t);
  const clock = new ManualClock();
  let outbox = new Outbox(options(path, clock));
  const items = outbox.add([
    { cls: 'hot', dest: 'a', body: body('aaa') },
    { cls: 'hot', dest: 'b', body: body('bb') },
  ]);
  outbox.remove([items[0]!]);
  outbox.remove([items[0]!]); // a second PUBACK path for the same item changes nothing
  assert.deepEqual(outbox.stats().delivered.hot, { items: 1, bytes: 3 });
  assert.deepEqual(outbox.stats().queued.hot, { items: 1, bytes: 2 });
  outbox.close();
  outbox = new Outbox(options(path, clock));
  t.after(() => outbox.close());
  assert.deepEqual(outbox.stats().delivered.hot, { items: 1, bytes: 3 });
  assert.deepEqual(outbox.next('hot', 0, 10).map((i) => i.dest), ['b']);
});

test('expired items are never handed out, and expire() drops and counts them per class, durably', (t) => {
  const path = tempDb(t);
  const clock = new ManualClock();
  let outbox = new Outbox(options(path, clock));
  outbox.add([
    { cls: 'control', dest: 'c', body: body('c') },
    { cls: 'hot', dest: 'h', body: body('h') },
    { cls: 'bulk', dest: 'b', body: body('b') },
  ]);
  clock.advance(999);
  assert.equal(outbox.next('control', 0, 10).length, 1);
  clock.advance(1); // control TTL 1000 ms reached
  assert.equal(outbox.next('control', 0, 10).length, 0);
  assert.equal(outbox.isEmpty, false, 'still queued until expire() runs');
  assert.deepEqual(outbox.expire(), { control: 1, hot: 0, bulk: 0 });
  clock.advance(10_000_000);
  assert.deepEqual(outbox.expire(), { control: 0, hot: 1, bulk: 0 }, 'bulk has no TTL');
  assert.deepEqual(outbox.stats().queued, { control: { items: 0, bytes: 0 }, hot: { items: 0, bytes: 0 }, bulk: { items: 1, bytes: 1 } });
  outbox.close();
  outbox = new Outbox(options(path, clock));
  t.after(() => outbox.close());
  assert.deepEqual(outbox.stats().expired, { control: 1, hot: 1, bulk: 0 });
});

test('the file is in WAL mode with the requested synchronous level; a foreign schema version is refused', (t) => {
  const path = tempDb(t);
  const outbox = new Outbox(options(path, new ManualClock(), { synchronous: 'NORMAL' }));
  outbox.close();
  const db = new Database(path);
  assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  db.pragma('user_version = 99');
  db.close();
  assert.throws(() => new Outbox(options(path, new ManualClock())), (e) => isCanopyError(e, 'CANOPY_ERR_CANNOT_OPEN') && /schema version 99/.test(e.message));
  assert.throws(() => new Outbox(options('/nonexistent/dir/x.db', new ManualClock())), (e) => isCanopyError(e, 'CANOPY_ERR_CANNOT_OPEN') && /cannot be opened/.test(e.message));
});
