/**
 * The phone's content-addressed chunk store: an entry's address is the SHA-256 of its bytes, so
 * anyone can check what they get back without a key. The store only ever holds what its clients
 * sealed (ciphertext, erasure shares, sealed manifests); it never sees a key.
 *
 * Classes:
 *   own   the owner's data (sealed chunks, manifests); bounded by `quotas.own` when set
 *   cold  neighbours' backup shares; bounded by `quotas.cold` — a put beyond it is refused
 *   hot   a cache of ciphertext neighbours read; bounded by `quotas.hot` — least recently used
 *         entries are evicted to make room
 *
 * The index is SQLite (better-sqlite3, WAL). Bodies live in the database (default) or as files
 * `<dir>/chunks/<ab>/<address>` written before their index row commits (so a row never points at
 * nothing); `canopy bench store` measures both (README "Store and backup").
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { limitPageCache } from '../../common/sqlite.ts';
import { SystemClock, type Clock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';

export const STORE_CLASSES = ['own', 'cold', 'hot'] as const;
export type StoreClass = (typeof STORE_CLASSES)[number];

export function isStoreClass(s: unknown): s is StoreClass {
  return (STORE_CLASSES as readonly unknown[]).includes(s);
}

const ADDRESS = /^[0-9a-f]{64}$/;

/** The address of `body`: lower-case hex SHA-256. */
export function addressOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('hex');
}

export function isAddress(s: unknown): s is string {
  return typeof s === 'string' && ADDRESS.test(s);
}

export interface ChunkStoreOptions {
  /** Directory of the index (`index.sqlite`) and, with `bodies: 'files'`, the chunk files. */
  dir: string;
  bodies?: 'sqlite' | 'files';
  /** Byte limits per class; a class without one is unbounded. */
  quotas?: Partial<Record<StoreClass, number>>;
  synchronous?: 'FULL' | 'NORMAL';
  clock?: Clock;
}

export interface PutInput {
  addr: string;
  body: Uint8Array;
  cls: StoreClass;
  /** Whose entry this is: the phone's owner for `own`, the neighbour for `cold`, whoever put it for `hot`. */
  owner: string;
  /** A short label clients list by (`manifest`, `chunk`, `share`). */
  tag?: string;
}

export interface EntryInfo {
  addr: string;
  cls: StoreClass;
  owner: string;
  tag: string;
  size: number;
  createdAt: number;
  lastAccess: number;
}

export interface ListFilter {
  cls?: StoreClass;
  owner?: string;
  tag?: string;
  /** Only entries created at or after this time (epoch ms). */
  since?: number;
  limit?: number;
}

export interface ScrubReport {
  checked: number;
  bytes: number;
  /** Entries whose bytes no longer hash to their address (or whose body file is gone). */
  corrupt: EntryInfo[];
}

export type Usage = Record<StoreClass, { items: number; bytes: number; quota: number | null }>;

interface Row {
  addr: string;
  cls: StoreClass;
  owner: string;
  tag: string;
  size: number;
  created: number;
  last_access: number;
}

export class ChunkStore {
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly files: boolean;
  private readonly stmt: Record<'insert' | 'info' | 'present' | 'body' | 'touch' | 'remove' | 'usage' | 'lru', Database.Statement>;
  private readonly putTx: (inputs: readonly PutInput[]) => boolean[];
  /** Bytes per class, kept beside the index so a quota check does not scan it. */
  private used: Record<StoreClass, number> = { own: 0, cold: 0, hot: 0 };

  constructor(private readonly opts: ChunkStoreOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.files = opts.bodies === 'files';
    for (const [cls, q] of Object.entries(opts.quotas ?? {})) {
      if (q !== undefined && !(q >= 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `store quota for ${cls} must be a number of bytes ≥ 0, got ${q}`);
    }
    try {
      mkdirSync(opts.dir, { recursive: true });
      this.db = new Database(join(opts.dir, 'index.sqlite'));
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `store "${opts.dir}" cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
    limitPageCache(this.db);
    this.db.exec(`CREATE TABLE IF NOT EXISTS chunks (
      addr TEXT PRIMARY KEY, cls TEXT NOT NULL, owner TEXT NOT NULL, tag TEXT NOT NULL,
      size INTEGER NOT NULL, created INTEGER NOT NULL, last_access INTEGER NOT NULL, body BLOB)`);
    this.db.exec('CREATE INDEX IF NOT EXISTS chunks_lru ON chunks (cls, last_access)');
    const cols = 'addr, cls, owner, tag, size, created, last_access';
    this.stmt = {
      insert: this.db.prepare('INSERT INTO chunks (addr, cls, owner, tag, size, created, last_access, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      info: this.db.prepare(`SELECT ${cols} FROM chunks WHERE addr = ?`),
      present: this.db.prepare('SELECT addr FROM chunks WHERE addr IN (SELECT value FROM json_each(?))'),
      body: this.db.prepare('SELECT body FROM chunks WHERE addr = ?'),
      touch: this.db.prepare('UPDATE chunks SET last_access = ? WHERE addr = ?'),
      remove: this.db.prepare('DELETE FROM chunks WHERE addr = ?'),
      usage: this.db.prepare('SELECT cls, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM chunks GROUP BY cls'),
      lru: this.db.prepare(`SELECT ${cols} FROM chunks WHERE cls = 'hot' ORDER BY last_access, created LIMIT 64`),
    };
    this.putTx = this.db.transaction((inputs: readonly PutInput[]) => inputs.map((i) => this.insert(i)));
    this.recount();
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /** The store's directory (the agent keeps its signing key there: receipts.ts). */
  get dir(): string {
    return this.opts.dir;
  }

  /** Bytes `owner` has in class `cls` (a neighbour's room in the cold class: ledger.ts). */
  bytesOf(cls: StoreClass, owner: string): number {
    return (this.db.prepare('SELECT COALESCE(SUM(size), 0) AS bytes FROM chunks WHERE cls = ? AND owner = ?').get(cls, owner) as { bytes: number }).bytes;
  }

  /** One put; see putMany. */
  put(input: PutInput): boolean {
    return this.putMany([input])[0]!;
  }

  /**
   * Stores entries in one transaction. Idempotent: an address already stored is left as it is
   * (false in the result). Each body must hash to its address. A put that would take a class over
   * its quota is refused with CANOPY_ERR_STORE_QUOTA and nothing of the batch is stored; the hot
   * class evicts its least recently used entries instead. A body that is refused is never written.
   */
  putMany(inputs: readonly PutInput[]): boolean[] {
    for (const i of inputs) {
      if (!isAddress(i.addr)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `"${i.addr}" is not a chunk address (64 lower-case hex digits of SHA-256)`);
      if (!isStoreClass(i.cls)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `store class "${String(i.cls)}": one of ${STORE_CLASSES.join(', ')}`);
      if (addressOf(i.body) !== i.addr) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `chunk ${i.addr}: the body sent does not hash to its address (damaged in transit?)`);
    }
    const written: string[] = [];
    try {
      if (this.files) {
        for (const i of inputs) {
          if (this.stmt.info.get(i.addr) === undefined && !written.includes(i.addr)) {
            this.writeFile(i.addr, i.body);
            written.push(i.addr);
          }
        }
      }
      const result = this.putTx(inputs);
      written.length = 0;
      return result;
    } catch (e) {
      this.recount(); // the transaction rolled back: so do the counters
      throw e;
    } finally {
      // A refused batch leaves no body files behind.
      for (const addr of written) rmSync(this.pathOf(addr), { force: true });
    }
  }

  /** The bytes at `addr`, checked against it: CANOPY_ERR_STORE_CORRUPT names the address when they differ. */
  get(addr: string): Uint8Array {
    const info = this.info(addr);
    if (!info) throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `chunk ${addr} is not in the store`);
    const body = this.readBody(info);
    if (!body || addressOf(body) !== addr) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `chunk ${addr} (${info.cls}, ${info.owner}) is damaged: its bytes no longer match its hash`);
    if (info.cls === 'hot') this.stmt.touch.run(this.clock.now(), addr);
    return body;
  }

  has(addr: string): boolean {
    return this.info(addr) !== undefined;
  }

  /** Which of `addrs` the store holds: one query for all of them (a hot item's parts), where has() is one each. */
  present(addrs: readonly string[]): Set<string> {
    if (addrs.length === 0) return new Set();
    return new Set((this.stmt.present.all(JSON.stringify(addrs)) as { addr: string }[]).map((r) => r.addr));
  }

  info(addr: string): EntryInfo | undefined {
    const row = this.stmt.info.get(addr) as Row | undefined;
    return row && toInfo(row);
  }

  list(filter: ListFilter = {}): EntryInfo[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.cls) (where.push('cls = ?'), args.push(filter.cls));
    if (filter.owner) (where.push('owner = ?'), args.push(filter.owner));
    if (filter.tag) (where.push('tag = ?'), args.push(filter.tag));
    if (filter.since !== undefined) (where.push('created >= ?'), args.push(filter.since));
    const sql = `SELECT addr, cls, owner, tag, size, created, last_access FROM chunks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created, addr LIMIT ?`;
    return (this.db.prepare(sql).all(...args, filter.limit ?? -1) as Row[]).map(toInfo);
  }

  /** Removes an entry; false when it was not there. */
  delete(addr: string): boolean {
    const info = this.info(addr);
    const removed = this.stmt.remove.run(addr).changes > 0;
    if (removed) this.used[info!.cls] -= info!.size;
    if (removed && this.files) rmSync(this.pathOf(addr), { force: true });
    return removed;
  }

  usage(): Usage {
    const quota = (c: StoreClass) => this.opts.quotas?.[c] ?? null;
    const u: Usage = { own: { items: 0, bytes: 0, quota: quota('own') }, cold: { items: 0, bytes: 0, quota: quota('cold') }, hot: { items: 0, bytes: 0, quota: quota('hot') } };
    for (const r of this.stmt.usage.all() as { cls: StoreClass; n: number; bytes: number }[]) u[r.cls] = { items: r.n, bytes: r.bytes, quota: quota(r.cls) };
    return u;
  }

  /**
   * Re-reads and re-hashes every entry (restic's `check --read-data`); `progress` gets (done, total).
   * Page by page in address order, and between pages the event loop runs: an agent scrubbing a
   * large store keeps answering (entries put meanwhile behind the current page are checked too).
   */
  async scrub(progress?: (done: number, total: number) => void): Promise<ScrubReport> {
    const total = (this.db.prepare('SELECT COUNT(*) AS n FROM chunks').get() as { n: number }).n;
    const page = this.db.prepare('SELECT addr, cls, owner, tag, size, created, last_access FROM chunks WHERE addr > ? ORDER BY addr LIMIT 256');
    const report: ScrubReport = { checked: 0, bytes: 0, corrupt: [] };
    for (let after = ''; ; ) {
      const rows = page.all(after) as Row[];
      if (rows.length === 0 || !this.db.open) break;
      for (const row of rows) {
        const info = toInfo(row);
        const body = this.readBody(info);
        report.checked++;
        report.bytes += info.size;
        if (!body || addressOf(body) !== info.addr) report.corrupt.push(info);
        progress?.(report.checked, Math.max(total, report.checked));
      }
      after = rows.at(-1)!.addr;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return report;
  }

  private insert(i: PutInput): boolean {
    if (this.stmt.info.get(i.addr) !== undefined) return false;
    const quota = this.opts.quotas?.[i.cls];
    if (quota !== undefined) {
      const used = this.used[i.cls];
      if (used + i.body.length > quota) {
        if (i.cls !== 'hot' || i.body.length > quota) {
          throw new CanopyError('CANOPY_ERR_STORE_QUOTA', `the ${i.cls} class is full: ${used} of ${quota} bytes used, ${i.body.length} more asked for chunk ${i.addr}; nothing was stored`);
        }
        this.evictHot(used + i.body.length - quota);
      }
    }
    const now = this.clock.now();
    this.stmt.insert.run(i.addr, i.cls, i.owner, i.tag ?? '', i.body.length, now, now, this.files ? null : i.body);
    this.used[i.cls] += i.body.length;
    return true;
  }

  /** Evicts least recently used hot entries until `need` bytes are free (inside the put's transaction). */
  private evictHot(need: number): void {
    let freed = 0;
    while (freed < need) {
      const victims = this.stmt.lru.all() as Row[];
      if (victims.length === 0) break;
      for (const v of victims) {
        this.stmt.remove.run(v.addr);
        this.used.hot -= v.size;
        // The body file goes once the transaction commits; a rollback keeps it.
        if (this.files) queueMicrotask(() => !this.has(v.addr) && rmSync(this.pathOf(v.addr), { force: true }));
        freed += v.size;
        if (freed >= need) break;
      }
    }
  }

  private recount(): void {
    const u = this.usage();
    this.used = { own: u.own.bytes, cold: u.cold.bytes, hot: u.hot.bytes };
  }

  private readBody(info: EntryInfo): Uint8Array | undefined {
    if (!this.files) return (this.stmt.body.get(info.addr) as { body: Buffer | null }).body ?? undefined;
    const path = this.pathOf(info.addr);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  private pathOf(addr: string): string {
    return join(this.opts.dir, 'chunks', addr.slice(0, 2), addr);
  }

  /** Written to a temporary name, fsynced and renamed: a crash leaves the whole body or none. */
  private writeFile(addr: string, body: Uint8Array): void {
    const path = this.pathOf(addr);
    mkdirSync(join(path, '..'), { recursive: true });
    const tmp = `${path}.tmp`;
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, body);
      if ((this.opts.synchronous ?? 'FULL') === 'FULL') fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  }
}

function toInfo(r: Row): EntryInfo {
  return { addr: r.addr, cls: r.cls, owner: r.owner, tag: r.tag, size: r.size, createdAt: r.created, lastAccess: r.last_access };
}
