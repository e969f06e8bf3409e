/**
 * Receiver-side deduplication by Canopy id: the other half of the relay's delivery guarantee.
 *
 * The relay delivers at least once: an item leaves the outbox only after the upstream PUBACK, so an
 * outage or a crash between sending and that PUBACK (or between the PUBACK and the outbox commit)
 * sends the item again, under the same id. A publisher that retries after a lost PUBACK resends
 * under the same id too, when it sends its own envelope. A receiver that records each id in the
 * same transaction as the effect of the item, and skips ids it has recorded, applies each item
 * exactly once: at-least-once delivery + an idempotent receiver = effectively once. That is what
 * `once()` does. (Recording the id before a separate effect would make it at-most-once; after,
 * at-least-once.)
 *
 * A receiver reads the id with decodeEnvelope() (topics.ts); MQTT 5 receivers also find it
 * in the `canopy-id` user property.
 *
 * Ids are remembered for `retainMs` (default 60 days); keep it above the longest TTL of the
 * classes the relay sends, since a duplicate can only arrive while its item is still in an outbox.
 */
import Database from 'better-sqlite3';
import { limitPageCache } from './sqlite.ts';
import { SystemClock, type Clock } from '../firmware-bridge/clock.ts';

export interface DedupOptions {
  /** SQLite file; ':memory:' (default) forgets on restart. */
  path?: string;
  retainMs?: number;
  clock?: Clock;
}

export class Deduplicator {
  private readonly db: Database.Database;
  private readonly insert: Database.Statement;
  private readonly lookup: Database.Statement;
  private readonly clock: Clock;
  private readonly retainMs: number;
  /** Items applied and duplicates skipped since this object was made. */
  readonly counts = { fresh: 0, duplicates: 0 };

  constructor(opts: DedupOptions = {}) {
    this.db = new Database(opts.path ?? ':memory:');
    this.db.pragma('journal_mode = WAL');
    limitPageCache(this.db);
    this.db.exec('CREATE TABLE IF NOT EXISTS seen (id TEXT PRIMARY KEY, at INTEGER NOT NULL) WITHOUT ROWID');
    this.insert = this.db.prepare('INSERT OR IGNORE INTO seen (id, at) VALUES (?, ?)');
    this.lookup = this.db.prepare('SELECT 1 FROM seen WHERE id = ?');
    this.clock = opts.clock ?? new SystemClock();
    this.retainMs = opts.retainMs ?? 60 * 24 * 3600 * 1000;
  }

  /**
   * Runs `effect` if `id` is new, in one transaction with recording the id: if the effect throws,
   * the id is not recorded and a redelivery runs it again. `effect` must be synchronous (e.g.
   * writes to this same database through `database`).
   */
  once<T>(id: string, effect: () => T): { fresh: true; result: T } | { fresh: false } {
    const run = this.db.transaction(() => {
      if (this.insert.run(id, this.clock.now()).changes === 0) return { fresh: false as const };
      return { fresh: true as const, result: effect() };
    });
    const outcome = run();
    if (outcome.fresh) this.counts.fresh++;
    else this.counts.duplicates++;
    return outcome;
  }

  /** Records `id`; true when it was new. For effects that cannot join the transaction (see above). */
  accept(id: string): boolean {
    return this.once(id, () => true).fresh;
  }

  has(id: string): boolean {
    return this.lookup.get(id) !== undefined;
  }

  /** Forgets ids older than retainMs; returns how many. */
  prune(): number {
    return this.db.prepare('DELETE FROM seen WHERE at < ?').run(this.clock.now() - this.retainMs).changes;
  }

  /** The database, for effects that must commit together with the id. */
  get database(): Database.Database {
    return this.db;
  }

  close(): void {
    this.db.close();
  }
}
