/**
 * The phone's hot cache of items: pieces of content (an episode, a file) that neighbours stream
 * from the phone (hot-http.ts) and the prefetcher fills through the store protocol's `hot-write`
 * (docs/cdn.md, the contract in protocol.ts).
 *
 * An item is cut into parts of `partBytes` (256 KiB by default; the last part shorter). Each part
 * is sealed at rest with the hot-cache key (`hot-key` in the store directory, 32 random bytes,
 * mode 0600: only the phone agent holds it) as crypto.ts seals chunks, with
 *   part id = SHA-256("canopy hot part v1\n" ‖ item ‖ "\n" ‖ index)
 * as the associated data, so a sealed part opens only in its own place. The sealed part is an
 * entry of the chunk store's `hot` class (tag `hot-part`), whose quota and LRU eviction apply; the
 * index (items and which parts they have) is `hot-items.sqlite` beside the store's own index.
 *
 * A part the chunk store evicted is simply absent: every status is computed against the store, so
 * it always says what is there.
 */
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { limitPageCache } from '../../common/sqlite.ts';
import { SystemClock, type Clock } from '../../firmware-bridge/clock.ts';
import { addressOf, type ChunkStore } from './chunk-store.ts';
import { open, seal } from './crypto.ts';
import { writeKeyFile } from './receipts.ts';

export const HOT_PART_BYTES = 256 * 1024;
export const HOT_KEY_FILE = 'hot-key';
export const HOT_INDEX_FILE = 'hot-items.sqlite';
/** The chunk store's tag of a sealed hot part. */
export const HOT_PART_TAG = 'hot-part';
const ITEM = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** RFC 9110 §8.3.1 media type, loosely: type/subtype and parameters, no control characters. */
const MIME = /^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+-]+(\s*;[\x20-\x7e]*)?$/i;
const DEFAULT_MIME = 'application/octet-stream';

export function isHotItem(s: unknown): s is string {
  return typeof s === 'string' && ITEM.test(s);
}

/** What the phone has of one item (the contract's HotStatus). */
export interface HotStatus {
  item: string;
  mime: string;
  title?: string;
  source?: string;
  /** Bytes, when known. */
  total: number | null;
  partBytes: number;
  /** Bytes present in total. */
  have: number;
  /** Bytes present from offset 0 without a gap (what a player can start on). */
  contiguous: number;
  /** Byte ranges [start, end) not present, up to `total` (up to the last part present while it is unknown). */
  missing: [number, number][];
  complete: boolean;
  /** Ms, the agent's clock. */
  updatedAt: number;
}

export interface HotList {
  items: HotStatus[];
  usedBytes: number;
  quotaBytes: number | null;
  partBytes: number;
}

export interface HotWrite {
  item: string;
  /** A multiple of the item's part size. */
  offset: number;
  total?: number;
  mime?: string;
  title?: string;
  source?: string;
}

export interface HotItemsOptions {
  /** Part size of items created from now on (an item keeps the size it was created with). */
  partBytes?: number;
  /** The owner recorded on the chunk-store entries (the agent's name). */
  owner?: string;
  clock?: Clock;
}

interface ItemRow {
  item: string;
  mime: string;
  title: string | null;
  source: string | null;
  total: number | null;
  part_bytes: number;
  updated: number;
}

interface PartRow {
  idx: number;
  addr: string;
  len: number;
}

export class HotItems extends EventEmitter<{ change: [item: string] }> {
  readonly partBytes: number;
  private readonly db: Database.Database;
  private readonly clock: Clock;
  private readonly sealKey: Uint8Array;
  private readonly grantKey: Uint8Array;

  constructor(
    readonly store: ChunkStore,
    private readonly opts: HotItemsOptions = {},
  ) {
    super();
    // Every stream waiting for a part listens (hot-http.ts).
    this.setMaxListeners(0);
    this.partBytes = opts.partBytes ?? HOT_PART_BYTES;
    if (!Number.isInteger(this.partBytes) || this.partBytes < 1) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot part size must be a whole number of bytes ≥ 1, got ${this.partBytes}`);
    this.clock = opts.clock ?? new SystemClock();
    const key = loadOrCreateHotKey(store.dir);
    // One key file, two uses kept apart (RFC 5869): sealing parts, signing grants (hot-http.ts).
    this.sealKey = new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), 'canopy hot seal v1', 32));
    this.grantKey = new Uint8Array(hkdfSync('sha256', key, new Uint8Array(0), 'canopy hot grant v1', 32));
    try {
      this.db = new Database(join(store.dir, HOT_INDEX_FILE));
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `the hot-cache index in "${store.dir}" cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    limitPageCache(this.db);
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS items (
        item TEXT PRIMARY KEY, mime TEXT NOT NULL, title TEXT, source TEXT, total INTEGER,
        part_bytes INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS parts (
        item TEXT NOT NULL, idx INTEGER NOT NULL, addr TEXT NOT NULL, len INTEGER NOT NULL, PRIMARY KEY (item, idx));`);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  /**
   * Stores the plaintext `body` at [offset, offset + body.length) of the item (created by its first
   * write), sealed part by part. Parts already present are left as they are (a resumed fetch may
   * resend). Refused with the numbers when the item is larger than the hot quota, or when it does
   * not fit even after evicting other items' parts; a refused write stores nothing.
   */
  write(w: HotWrite, body: Uint8Array): HotStatus {
    if (!isHotItem(w.item)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item id ${JSON.stringify(w.item)}: 1–64 of a-z, 0-9, ".", "_", "-", starting with a letter or digit`);
    const row = this.itemRow(w.item);
    const partBytes = row?.part_bytes ?? this.partBytes;
    const total = w.total ?? row?.total ?? null;
    if (w.total !== undefined && (!Number.isSafeInteger(w.total) || w.total < 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}": total ${String(w.total)} is not a byte count`);
    if (row && row.total !== null && w.total !== undefined && w.total !== row.total) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}" is ${row.total} bytes, this write says ${w.total}: delete the item to store other content under its id`);
    }
    if (!Number.isSafeInteger(w.offset) || w.offset < 0 || w.offset % partBytes !== 0) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}": offset ${String(w.offset)} is not a multiple of its part size ${partBytes}`);
    }
    const end = w.offset + body.length;
    if (total !== null && end > total) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}": bytes ${w.offset}–${end} run past its end (${total} bytes)`);
    if (body.length % partBytes !== 0 && end !== total) {
      throw new CanopyError(
        'CANOPY_ERR_BAD_ARGUMENT',
        `hot item "${w.item}": ${body.length} bytes at ${w.offset} is not a whole number of ${partBytes}-byte parts, and only the part ending at the item's total may be shorter${total === null ? ' (give total with the last part)' : ` (${total})`}`,
      );
    }
    if (w.mime !== undefined && (typeof w.mime !== 'string' || !MIME.test(w.mime) || w.mime.length > 128)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}": mime ${JSON.stringify(w.mime)} is not a media type (type/subtype)`);
    for (const k of ['title', 'source'] as const) {
      if (w[k] !== undefined && (typeof w[k] !== 'string' || w[k].length > 1024)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item "${w.item}": ${k} must be a string of at most 1024 characters`);
    }
    const quota = this.store.usage().hot.quota;
    const size = total ?? end;
    if (quota !== null && size > quota) {
      throw new CanopyError('CANOPY_ERR_STORE_QUOTA', `hot item "${w.item}" is ${size} bytes${total === null ? ' at least' : ''}, more than the hot cache's quota of ${quota} bytes (${this.store.usage().hot.bytes} in use): nothing was stored`);
    }

    // The parts to store: those not present (or evicted since).
    const present = new Set(this.presentParts(w.item).map((p) => p.idx));
    const parts: { idx: number; sealed: Uint8Array; addr: string; len: number }[] = [];
    for (let at = 0; at < body.length; at += partBytes) {
      const idx = (w.offset + at) / partBytes;
      if (present.has(idx)) continue;
      const plain = body.subarray(at, Math.min(body.length, at + partBytes));
      const sealed = seal({ sealKey: this.sealKey }, partId(w.item, idx), plain);
      parts.push({ idx, sealed, addr: addressOf(sealed), len: plain.length });
    }
    const incoming = parts.reduce((n, p) => n + p.sealed.length, 0);
    if (quota !== null && incoming > 0) this.makeRoom(w.item, incoming, quota, size);

    const now = this.clock.now();
    const owner = this.opts.owner ?? 'phone';
    // Bodies first, then the index: a crash between leaves an unindexed entry the LRU will take, never an index row pointing at nothing.
    this.store.putMany(parts.map((p) => ({ addr: p.addr, body: p.sealed, cls: 'hot' as const, owner, tag: HOT_PART_TAG })));
    this.db.transaction(() => {
      this.db
        .prepare(
          `INSERT INTO items (item, mime, title, source, total, part_bytes, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (item) DO UPDATE SET mime = COALESCE(?, mime), title = COALESCE(?, title), source = COALESCE(?, source), total = COALESCE(total, ?), updated = ?`,
        )
        .run(w.item, w.mime ?? DEFAULT_MIME, w.title ?? null, w.source ?? null, total, partBytes, now, now, w.mime ?? null, w.title ?? null, w.source ?? null, total, now);
      const put = this.db.prepare('INSERT OR REPLACE INTO parts (item, idx, addr, len) VALUES (?, ?, ?, ?)');
      for (const p of parts) put.run(w.item, p.idx, p.addr, p.len);
    })();
    this.emit('change', w.item);
    return this.status(w.item);
  }

  /** What the phone has of `item`; CANOPY_ERR_STORE_NOT_FOUND when it has no such item. */
  status(item: string): HotStatus {
    const row = isHotItem(item) ? this.itemRow(item) : undefined;
    if (!row) throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `no hot item ${JSON.stringify(item)} in the cache`);
    return this.toStatus(row, this.presentParts(item));
  }

  /** Undefined instead of NOT_FOUND. */
  find(item: string): HotStatus | undefined {
    return isHotItem(item) && this.itemRow(item) ? this.status(item) : undefined;
  }

  /** The item's fixed facts (one row, none of the parts looked at: cheap); undefined when there is no such item. */
  info(item: string): { item: string; mime: string; total: number | null; partBytes: number } | undefined {
    const r = isHotItem(item) ? this.itemRow(item) : undefined;
    return r && { item: r.item, mime: r.mime, total: r.total, partBytes: r.part_bytes };
  }

  list(): HotList {
    const rows = this.db.prepare('SELECT * FROM items ORDER BY item').all() as ItemRow[];
    const usage = this.store.usage().hot;
    return { items: rows.map((r) => this.toStatus(r, this.presentParts(r.item))), usedBytes: usage.bytes, quotaBytes: usage.quota, partBytes: this.partBytes };
  }

  /** Removes the item and its parts; false when there was no such item. */
  delete(item: string): boolean {
    if (!isHotItem(item) || !this.itemRow(item)) return false;
    for (const p of this.db.prepare('SELECT addr FROM parts WHERE item = ?').all(item) as { addr: string }[]) this.store.delete(p.addr);
    this.db.transaction(() => {
      this.db.prepare('DELETE FROM parts WHERE item = ?').run(item);
      this.db.prepare('DELETE FROM items WHERE item = ?').run(item);
    })();
    this.emit('change', item);
    return true;
  }

  /**
   * The plaintext of part `index` of `item`, or undefined when the part is not present. A part
   * whose bytes were altered (they no longer hash to their address, or fail authentication) is
   * dropped from the cache, so the status shows it missing and a prefetch fetches it again, and
   * CANOPY_ERR_STORE_CORRUPT names it; the other parts are untouched.
   */
  readPart(item: string, index: number): Uint8Array | undefined {
    const p = this.db.prepare('SELECT idx, addr, len FROM parts WHERE item = ? AND idx = ?').get(item, index) as PartRow | undefined;
    if (!p || !this.store.has(p.addr)) return undefined;
    try {
      const plain = open({ sealKey: this.sealKey }, partId(item, index), this.store.get(p.addr), `hot item "${item}" part ${index}`);
      if (plain.length !== p.len) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `${plain.length} bytes where the index says ${p.len}`);
      return plain;
    } catch (e) {
      if (!isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT')) throw e;
      this.store.delete(p.addr);
      this.db.prepare('DELETE FROM parts WHERE item = ? AND idx = ?').run(item, index);
      this.emit('change', item);
      const partBytes = this.itemRow(item)?.part_bytes ?? this.partBytes;
      throw new CanopyError(
        'CANOPY_ERR_STORE_CORRUPT',
        `hot item "${item}" part ${index} (bytes ${index * partBytes}–${index * partBytes + p.len}) is damaged on the phone (${e.message}): dropped from the cache, to be fetched again`,
        { cause: e },
      );
    }
  }

  /**
   * A strong validator of the item's bytes (RFC 9110 §8.8.3): the item's creation time. Parts are
   * idempotent and the total, once known, is fixed, so the bytes change only when the item is
   * deleted and made anew; the total becoming known does not change it.
   */
  etag(item: string): string | undefined {
    const r = this.db.prepare('SELECT created FROM items WHERE item = ?').get(item) as { created: number } | undefined;
    return r && `"${r.created.toString(36)}"`;
  }

  /** A grant's signature (hot-http.ts): HMAC-SHA256 under the grant key, which never leaves the agent. */
  signGrant(payload: string): string {
    return createHmac('sha256', this.grantKey).update(payload).digest('base64url');
  }

  checkGrant(payload: string, sig: string): boolean {
    const want = Buffer.from(this.signGrant(payload));
    const got = Buffer.from(sig);
    return got.length === want.length && timingSafeEqual(got, want);
  }

  private itemRow(item: string): ItemRow | undefined {
    return this.db.prepare('SELECT * FROM items WHERE item = ?').get(item) as ItemRow | undefined;
  }

  /** The item's parts still in the store; rows of evicted parts are pruned on the way. */
  private presentParts(item: string): PartRow[] {
    const rows = this.db.prepare('SELECT idx, addr, len FROM parts WHERE item = ? ORDER BY idx').all(item) as PartRow[];
    const there = this.store.present(rows.map((r) => r.addr));
    const gone = rows.filter((r) => !there.has(r.addr));
    if (gone.length > 0) {
      const del = this.db.prepare('DELETE FROM parts WHERE item = ? AND idx = ?');
      this.db.transaction(() => gone.forEach((g) => del.run(item, g.idx)))();
    }
    return gone.length === 0 ? rows : rows.filter((r) => !gone.includes(r));
  }

  /**
   * Frees room for `incoming` bytes of `item` by evicting the least recently used hot entries of
   * anything else (the chunk store's own LRU could take the item's earlier parts). Refused with
   * the numbers when even all of them would not make room.
   */
  private makeRoom(item: string, incoming: number, quota: number, itemBytes: number): void {
    const used = this.store.usage().hot.bytes;
    const need = used + incoming - quota;
    if (need <= 0) return;
    const mine = new Set((this.db.prepare('SELECT addr FROM parts WHERE item = ?').all(item) as { addr: string }[]).map((r) => r.addr));
    const others = this.store
      .list({ cls: 'hot' })
      .filter((e) => !mine.has(e.addr))
      .sort((a, b) => a.lastAccess - b.lastAccess || a.createdAt - b.createdAt);
    const evictable = others.reduce((n, e) => n + e.size, 0);
    if (evictable < need) {
      throw new CanopyError(
        'CANOPY_ERR_STORE_QUOTA',
        `hot item "${item}" (${itemBytes} bytes) does not fit: the hot cache's quota is ${quota} bytes, ${used} in use of which ${used - evictable} are this item's, and ${incoming} more are needed: nothing was stored`,
      );
    }
    const touched = new Set<string>();
    for (let freed = 0, i = 0; freed < need; i++) {
      const v = others[i]!;
      this.store.delete(v.addr);
      freed += v.size;
      const owner = this.db.prepare('SELECT item FROM parts WHERE addr = ?').get(v.addr) as { item: string } | undefined;
      if (owner) touched.add(owner.item);
    }
    for (const t of touched) this.emit('change', t);
  }

  private toStatus(r: ItemRow, parts: PartRow[]): HotStatus {
    const total = r.total;
    const missing: [number, number][] = [];
    let at = 0;
    let have = 0;
    for (const p of parts) {
      const start = p.idx * r.part_bytes;
      if (start > at) missing.push([at, start]);
      at = start + p.len;
      have += p.len;
    }
    if (total !== null && at < total) missing.push([at, total]);
    const contiguous = missing.length === 0 ? at : missing[0]![0];
    return {
      item: r.item,
      mime: r.mime,
      ...(r.title !== null && { title: r.title }),
      ...(r.source !== null && { source: r.source }),
      total,
      partBytes: r.part_bytes,
      have,
      contiguous,
      missing,
      complete: total !== null && missing.length === 0,
      updatedAt: r.updated,
    };
  }
}

function partId(item: string, index: number): Uint8Array {
  return createHash('sha256').update(`canopy hot part v1\n${item}\n${index}`).digest();
}

/** The hot-cache key in `dir`, made (32 random bytes, written atomically, 0600) the first time. */
function loadOrCreateHotKey(dir: string): Uint8Array {
  const path = join(dir, HOT_KEY_FILE);
  if (existsSync(path)) {
    const key = readFileSync(path);
    if (key.length !== 32) throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `the hot-cache key ${path} is ${key.length} bytes, not 32: it was damaged (deleting it forgets the cached items)`);
    return key;
  }
  const key = randomBytes(32);
  writeKeyFile(path, key);
  return key;
}
