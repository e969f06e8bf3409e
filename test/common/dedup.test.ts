import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { Deduplicator } from '../../common/dedup.ts';

test('once() applies an effect once per id and counts the duplicates', (t) => {
  const dedup = new Deduplicator();
  t.after(() => dedup.close());
  const applied: string[] = [];
  for (const id of ['a:1', 'a:2', 'a:1', 'b:1', 'a:2']) dedup.once(id, () => applied.push(id));
  assert.deepEqual(applied, ['a:1', 'a:2', 'b:1']);
  assert.deepEqual(dedup.counts, { fresh: 3, duplicates: 2 });
  assert.equal(dedup.has('b:1'), true);
  assert.equal(dedup.has('b:2'), false);
});

test('an effect that throws leaves the id unrecorded, so the redelivery applies it', (t) => {
  const dedup = new Deduplicator();
  t.after(() => dedup.close());
  assert.throws(() => dedup.once('x:1', () => { throw new Error('disk full'); }), /disk full/);
  assert.equal(dedup.has('x:1'), false);
  assert.deepEqual(dedup.once('x:1', () => 'ok'), { fresh: true, result: 'ok' });
});

test('the effect commits with the id: both in the same database, both or neither', (t) => {
  const dedup = new Deduplicator();
  t.after(() => dedup.close());
  dedup.database.exec('CREATE TABLE items (id TEXT PRIMARY KEY, body TEXT)');
  const store = dedup.database.prepare('INSERT INTO items VALUES (?, ?)');
  dedup.once('p:1', () => store.run('p:1', 'hello'));
  assert.throws(() => dedup.once('p:2', () => { store.run('p:2', 'half'); throw new Error('crash'); }));
  assert.deepEqual(dedup.database.prepare('SELECT id FROM items').all(), [{ id: 'p:1' }]);
});

test('a file-backed deduplicator remembers across restarts; prune() forgets after retainMs', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-dedup-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'seen.db');
  const clock = new ManualClock();
  let dedup = new Deduplicator({ path, clock, retainMs: 1000 });
  assert.equal(dedup.accept('s:1'), true);
  dedup.close();
  dedup = new Deduplicator({ path, clock, retainMs: 1000 });
  t.after(() => dedup.close());
  assert.equal(dedup.accept('s:1'), false);
  clock.advance(999);
  assert.equal(dedup.prune(), 0);
  clock.advance(2);
  assert.equal(dedup.prune(), 1);
  assert.equal(dedup.accept('s:1'), true);
});
