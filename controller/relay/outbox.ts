/**
 * The relay's durable outbox: one SQLite file (better-sqlite3, WAL, synchronous transactions).
 * An item is committed here before anyone is told it was accepted, and leaves only after the
 * upstream broker acknowledged it. Items are keyed by Canopy ids (`<origin>:<counter>`, chosen by
 * whoever first accepted the item), never by the 16-bit MQTT packet id, which is per connection
 * and reused.
 *
 * Counters that must survive restarts live in the same file and change in the same transactions
 * as the items: the id counter, items delivered, items expired (dropped and counted, per class).
 */
import Database from 'better-sqlite3';
import { limitPageCache } from '../../common/sqlite.ts';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { PRIORITY_CLASSES, type PerClass, type PriorityClass } from '../../common/topics.ts';

export interface OutboxInput {
  /** The item's Canopy id; the outbox assigns `<origin>:<counter>` when absent. */
  id?: string;
  cls: PriorityClass;
  /** Destination below the upstream topic prefix. */
  dest: string;
  body: Uint8Array;
}

export interface OutboxItem {
  /** Arrival order (SQLite rowid); the send order within a class. */
  seq: number;
  id: string;
  cls: PriorityClass;
  dest: string;
  body: Buffer;
  created: number;
  /** Epoch ms after which the item is dropped; null: never. */
  expires: number | null;
}

export interface OutboxOptions {
  path: string;
  /** Prefix of the ids this outbox assigns (e.g. the site's name). */
  origin: string;
  /** Time to live per class in ms; null keeps items until delivered. */
  ttlMs: PerClass<number | null>;
  clock: Clock;
  /**
   * FULL (default): a commit is on disk before it returns, so an acknowledged item survives a
   * power cut. NORMAL: survives a crash of the process but may lose the last commits on power loss.
   */
  synchronous?: 'FULL' | 'NORMAL';
}

export interface OutboxCounts {
  queued: PerClass<{ items: number; bytes: number }>;
  delivered: PerClass<{ items: number; bytes: number }>;
  expired: PerClass<number>;
}

const SCHEMA_VERSION = 1;

function perClass<T>(make: () => T): PerClass<T> {
  return { control: make(), hot: make(), bulk: make() };
}

interface Row {
  seq: number;
  id: string;
  class: number;
  dest: string;
  body: Buffer;
  created: number;
  expires: number | null;
}

export class Outbox {
  private readonly db: Database.Database;
  private readonly counts: OutboxCounts;
  private readonly stmt: {
    insert: Database.Statement;
    next: Database.Statement;
    oldest: Database.Statement;
    remove: Database.Statement;
    expired: Database.Statement;
    dropExpired: Database.Statement;
    getMeta: Database.Statement;
    bumpMeta: Database.Statement;
    setMeta: Database.Statement;
  };
  /**
   * Commits the inputs in one transaction. The result is aligned with the inputs: undefined where
   * an input's id is already queued (a publisher's retry of the same item).
   */
  readonly add: (inputs: readonly OutboxInput[]) => (OutboxItem | undefined)[];
  readonly remove: (items: readonly OutboxItem[]) => void;

  constructor(private readonly opts: OutboxOptions) {
    try {
      this.db = new Database(opts.path);
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `relay outbox "${opts.path}" cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    // WAL: readers never block the writer, and a commit is one append (better-sqlite3 docs/performance.md).
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    limitPageCache(this.db);
    this.migrate();
    this.stmt = {
      insert: this.db.prepare('INSERT OR IGNORE INTO outbox (id, class, dest, body, created, expires) VALUES (?, ?, ?, ?, ?, ?)'),
      next: this.db.prepare('SELECT * FROM outbox WHERE class = ? AND seq > ? AND (expires IS NULL OR expires > ?) ORDER BY seq LIMIT ?'),
      oldest: this.db.prepare('SELECT created FROM outbox WHERE class = ? ORDER BY seq LIMIT 1'),
      remove: this.db.prepare('DELETE FROM outbox WHERE seq = ?'),
      expired: this.db.prepare('SELECT class, COUNT(*) AS n, SUM(length(body)) AS bytes FROM outbox WHERE expires IS NOT NULL AND expires <= ? GROUP BY class'),
      dropExpired: this.db.prepare('DELETE FROM outbox WHERE expires IS NOT NULL AND expires <= ?'),
      getMeta: this.db.prepare('SELECT value FROM meta WHERE key = ?'),
      bumpMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = value + excluded.value'),
      setMeta: this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value'),
    };
    this.counts = this.loadCounts();
    this.add = this.db.transaction((inputs: readonly OutboxInput[]) => this.insert(inputs));
    this.remove = this.db.transaction((items: readonly OutboxItem[]) => this.delete(items));
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** Up to `limit` unexpired items of `cls` with seq above `afterSeq`, in arrival order. */
  next(cls: PriorityClass, afterSeq: number, limit: number): OutboxItem[] {
    return (this.stmt.next.all(PRIORITY_CLASSES.indexOf(cls), afterSeq, this.opts.clock.now(), limit) as Row[]).map(toItem);
  }

  /** When the oldest queued item of `cls` arrived, or undefined when the class is empty. */
  oldest(cls: PriorityClass): number | undefined {
    const row = this.stmt.oldest.get(PRIORITY_CLASSES.indexOf(cls)) as { created: number } | undefined;
    return row?.created;
  }

  /** Drops every item whose TTL ran out and counts it; returns how many per class. */
  expire(): PerClass<number> {
    const now = this.opts.clock.now();
    const rows = this.db.transaction(() => {
      const found = this.stmt.expired.all(now) as { class: number; n: number; bytes: number }[];
      for (const r of found) this.stmt.bumpMeta.run(`expired.${PRIORITY_CLASSES[r.class]}`, r.n);
      this.stmt.dropExpired.run(now);
      return found;
    })();
    const dropped = perClass(() => 0);
    for (const r of rows) {
      const cls = PRIORITY_CLASSES[r.class]!;
      dropped[cls] = r.n;
      this.counts.expired[cls] += r.n;
      this.counts.queued[cls].items -= r.n;
      this.counts.queued[cls].bytes -= r.bytes;
    }
    return dropped;
  }

  /** Items and bytes queued, delivered and expired, per class (a snapshot). */
  stats(): OutboxCounts {
    return structuredClone(this.counts);
  }

  /** True when no class holds an item. Expired items count until expire() drops them. */
  get isEmpty(): boolean {
    return PRIORITY_CLASSES.every((c) => this.counts.queued[c].items === 0);
  }

  private insert(inputs: readonly OutboxInput[]): (OutboxItem | undefined)[] {
    const now = this.opts.clock.now();
    const out: (OutboxItem | undefined)[] = [];
    let counter = Number((this.stmt.getMeta.get('next_id') as { value: number } | undefined)?.value ?? 1);
    const startCounter = counter;
    for (const input of inputs) {
      const id = input.id ?? `${this.opts.origin}:${counter++}`;
      const ttl = this.opts.ttlMs[input.cls];
      const expires = ttl === null ? null : now + ttl;
      const body = Buffer.from(input.body.buffer, input.body.byteOffset, input.body.byteLength);
      const r = this.stmt.insert.run(id, PRIORITY_CLASSES.indexOf(input.cls), input.dest, body, now, expires);
      // A retry of an id still queued is the same item: ignore it (INSERT OR IGNORE on the unique id).
      if (r.changes === 0) {
        out.push(undefined);
        continue;
      }
      out.push({ seq: Number(r.lastInsertRowid), id, cls: input.cls, dest: input.dest, body, created: now, expires });
    }
    if (counter !== startCounter) this.stmt.setMeta.run('next_id', counter);
    for (const item of out) {
      if (!item) continue;
      this.counts.queued[item.cls].items++;
      this.counts.queued[item.cls].bytes += item.body.length;
    }
    return out;
  }

  private delete(items: readonly OutboxItem[]): void {
    const gone: OutboxItem[] = [];
    for (const item of items) if (this.stmt.remove.run(item.seq).changes === 1) gone.push(item);
    for (const cls of PRIORITY_CLASSES) {
      const mine = gone.filter((i) => i.cls === cls);
      if (mine.length === 0) continue;
      const bytes = mine.reduce((s, i) => s + i.body.length, 0);
      this.stmt.bumpMeta.run(`delivered.${cls}.items`, mine.length);
      this.stmt.bumpMeta.run(`delivered.${cls}.bytes`, bytes);
      this.counts.delivered[cls].items += mine.length;
      this.counts.delivered[cls].bytes += bytes;
      this.counts.queued[cls].items -= mine.length;
      this.counts.queued[cls].bytes -= bytes;
    }
  }

  private migrate(): void {
    const version = this.db.pragma('user_version', { simple: true }) as number;
    if (version === SCHEMA_VERSION) return;
    if (version !== 0) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `relay outbox "${this.opts.path}" has schema version ${version}; this Canopy reads version ${SCHEMA_VERSION}`);
    }
    this.db.exec(`
      CREATE TABLE outbox (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        id      TEXT NOT NULL UNIQUE,
        class   INTEGER NOT NULL,
        dest    TEXT NOT NULL,
        body    BLOB NOT NULL,
        created INTEGER NOT NULL,
        expires INTEGER
      );
      CREATE INDEX outbox_by_class ON outbox (class, seq);
      CREATE INDEX outbox_by_expiry ON outbox (expires) WHERE expires IS NOT NULL;
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
  }

  private loadCounts(): OutboxCounts {
    const meta = (key: string) => Number((this.stmt.getMeta.get(key) as { value: number } | undefined)?.value ?? 0);
    const counts: OutboxCounts = {
      queued: perClass(() => ({ items: 0, bytes: 0 })),
      delivered: perClass(() => ({ items: 0, bytes: 0 })),
      expired: perClass(() => 0),
    };
    for (const cls of PRIORITY_CLASSES) {
      counts.delivered[cls] = { items: meta(`delivered.${cls}.items`), bytes: meta(`delivered.${cls}.bytes`) };
      counts.expired[cls] = meta(`expired.${cls}`);
    }
    return Object.assign(counts, { queued: this.queuedNow() });
  }

  private queuedNow(): OutboxCounts['queued'] {
    const queued = perClass(() => ({ items: 0, bytes: 0 }));
    for (const r of this.db.prepare('SELECT class, COUNT(*) AS n, SUM(length(body)) AS bytes FROM outbox GROUP BY class').all() as { class: number; n: number; bytes: number }[]) {
      queued[PRIORITY_CLASSES[r.class]!] = { items: r.n, bytes: r.bytes ?? 0 };
    }
    return queued;
  }
}

function toItem(r: Row): OutboxItem {
  return { seq: r.seq, id: r.id, cls: PRIORITY_CLASSES[r.class]!, dest: r.dest, body: r.body, created: r.created, expires: r.expires };
}
