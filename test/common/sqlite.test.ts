import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { Deduplicator } from '../../common/dedup.ts';
import { PAGE_CACHE_KIB } from '../../common/sqlite.ts';
import { Outbox } from '../../controller/relay/outbox.ts';
import { ChunkStore } from '../../controller/store/chunk-store.ts';

// better-sqlite3 builds SQLite with a 16 MiB page cache per connection; a site has one per chunk
// store and the outbox, each holding that much once its database is larger (issue 18: the soak).
test('every SQLite connection of ours has a page cache of PAGE_CACHE_KIB, not better-sqlite3’s 16 MiB', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-sqlite-'));
  const clock = new ManualClock(0);
  const outbox = new Outbox({ path: join(dir, 'outbox.sqlite'), origin: 'site', ttlMs: { control: null, hot: null, bulk: null }, clock });
  const store = new ChunkStore({ dir: join(dir, 'store'), clock });
  const dedup = new Deduplicator({ path: join(dir, 'dedup.sqlite'), clock });
  t.after(() => {
    outbox.close();
    store.close();
    dedup.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const cacheKib = (db: Database.Database) => -(db.pragma('cache_size', { simple: true }) as number);
  // The outbox's and the store's connections are private fields.
  const connection = (o: object) => (o as { db: Database.Database }).db;
  assert.deepEqual(
    { outbox: cacheKib(connection(outbox)), store: cacheKib(connection(store)), dedup: cacheKib(dedup.database) },
    { outbox: PAGE_CACHE_KIB, store: PAGE_CACHE_KIB, dedup: PAGE_CACHE_KIB },
  );
  assert.ok(PAGE_CACHE_KIB < 16_000);
});
