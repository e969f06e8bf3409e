/**
 * The reciprocity ledger: per neighbour, what it held for the owner and the owner held for it (in
 * byte-days), its audits passed and failed, the hot-cache bytes the owner's phone served it, and
 * the receipts it signed. Kept in SQLite (better-sqlite3, WAL: every update is one atomic
 * transaction) at `<data dir>/ledger.sqlite`; published retained on `<base>/store/<owner>/ledger`
 * (LedgerState) after each audit round.
 *
 * Byte-days accrue at each update: the bytes last recorded times the days since. What a neighbour
 * holds for the owner is only what it proved at its latest audit (shares that answered right), so
 * unproven holding earns nothing.
 *
 * The quota rule (tit-for-tat, docs/audits.md): a neighbour's room in the phone's cold class is
 *   room = (baseBytes + ratio × heldForUsBytes) × trust,   trust = (passed + 1) / (passed + 1 + failWeight × failed)
 * capped by `capBytes`: a newcomer or a neighbour that holds nothing for the owner gets the base
 * only, each byte it holds for the owner buys it `ratio` bytes more, and a failed audit weighs as
 * `failWeight` passed ones.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { CanopyError } from '../../common/errors.ts';
import type { LedgerRow, LedgerState } from '../../common/topics.ts';
import { verifyReceipt, type Receipt } from './receipts.ts';

export const LEDGER_FILE = 'ledger.sqlite';
const DAY_MS = 86_400_000;

export interface QuotaPolicy {
  baseBytes: number;
  ratio: number;
  failWeight: number;
  /** Upper bound on any one neighbour's room (bytes). */
  capBytes?: number;
}

export const DEFAULT_QUOTA_POLICY: QuotaPolicy = { baseBytes: 64 * 2 ** 20, ratio: 1, failWeight: 4 };

/** The quota rule, on a ledger row's counts. */
export function roomFor(row: Pick<LedgerRow, 'heldForUsBytes' | 'auditsPassed' | 'auditsFailed'>, policy: QuotaPolicy = DEFAULT_QUOTA_POLICY): number {
  const trust = (row.auditsPassed + 1) / (row.auditsPassed + 1 + policy.failWeight * row.auditsFailed);
  const room = Math.floor((policy.baseBytes + policy.ratio * row.heldForUsBytes) * trust);
  return policy.capBytes === undefined ? room : Math.min(policy.capBytes, room);
}

export type Direction = 'forUs' | 'byUs';

interface Row {
  name: string;
  for_us_bytes: number;
  for_us_byte_days: number;
  for_us_at: number | null;
  by_us_bytes: number;
  by_us_byte_days: number;
  by_us_at: number | null;
  passed: number;
  failed: number;
  served: number;
  last_audit: number | null;
}

export class Ledger {
  private readonly db: Database.Database;

  constructor(
    readonly dir: string,
    readonly policy: QuotaPolicy = DEFAULT_QUOTA_POLICY,
  ) {
    try {
      mkdirSync(dir, { recursive: true });
      this.db = new Database(join(dir, LEDGER_FILE));
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `the ledger in "${dir}" cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    this.db.pragma('journal_mode = WAL');
    // The audit command and the site may update it at once.
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS neighbours (
        name TEXT PRIMARY KEY,
        for_us_bytes INTEGER NOT NULL DEFAULT 0, for_us_byte_days REAL NOT NULL DEFAULT 0, for_us_at INTEGER,
        by_us_bytes INTEGER NOT NULL DEFAULT 0, by_us_byte_days REAL NOT NULL DEFAULT 0, by_us_at INTEGER,
        passed INTEGER NOT NULL DEFAULT 0, failed INTEGER NOT NULL DEFAULT 0,
        served INTEGER NOT NULL DEFAULT 0, last_audit INTEGER);
      CREATE TABLE IF NOT EXISTS audit_cursor (addr TEXT PRIMARY KEY, next INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS holder_keys (holder TEXT PRIMARY KEY, key TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS receipts (
        holder TEXT NOT NULL, addr TEXT NOT NULL, owner TEXT NOT NULL, size INTEGER NOT NULL,
        at INTEGER NOT NULL, key TEXT NOT NULL, sig TEXT NOT NULL, PRIMARY KEY (holder, addr));`);
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  private ensure(name: string): void {
    this.db.prepare('INSERT OR IGNORE INTO neighbours (name) VALUES (?)').run(name);
  }

  /** Records that `bytes` are now held (forUs: by the neighbour for the owner; byUs: by the owner's phone for it), accruing the byte-days since the last record. */
  holding(neighbour: string, direction: Direction, bytes: number, now: number): void {
    const col = direction === 'forUs' ? 'for_us' : 'by_us';
    this.db.transaction(() => {
      this.ensure(neighbour);
      this.db
        .prepare(
          `UPDATE neighbours SET ${col}_byte_days = ${col}_byte_days + CASE WHEN ${col}_at IS NULL OR ? < ${col}_at THEN 0 ELSE ${col}_bytes * (? - ${col}_at) / ${DAY_MS}.0 END,
             ${col}_bytes = ?, ${col}_at = ? WHERE name = ?`,
        )
        .run(now, now, bytes, now, neighbour);
    })();
  }

  /** An audit of the neighbour: shares that answered right and wrong; the bytes it proved it holds. */
  audited(neighbour: string, passed: number, failed: number, provenBytes: number, now: number): void {
    this.db.transaction(() => {
      this.ensure(neighbour);
      this.db.prepare('UPDATE neighbours SET passed = passed + ?, failed = failed + ?, last_audit = ? WHERE name = ?').run(passed, failed, now, neighbour);
      this.holding(neighbour, 'forUs', provenBytes, now);
    })();
  }

  /** Hot-cache bytes served to the neighbour (the phone agent's get, the CDN's streams). */
  served(neighbour: string, bytes: number): void {
    this.db.transaction(() => {
      this.ensure(neighbour);
      this.db.prepare('UPDATE neighbours SET served = served + ? WHERE name = ?').run(bytes, neighbour);
    })();
  }

  /**
   * The challenge index to use for each share now, each used once: max(the cursor, the armed
   * range's start). The cursor moves past it before the challenge is sent, so a crash never
   * sends a nonce twice.
   */
  reserveChallenges(shares: readonly { addr: string; from: number }[]): number[] {
    return this.db.transaction(() =>
      shares.map(({ addr, from }) => {
        const row = this.db.prepare('SELECT next FROM audit_cursor WHERE addr = ?').get(addr) as { next: number } | undefined;
        const i = Math.max(row?.next ?? 0, from);
        this.db.prepare('INSERT INTO audit_cursor (addr, next) VALUES (?, ?) ON CONFLICT (addr) DO UPDATE SET next = excluded.next').run(addr, i + 1);
        return i;
      }),
    )();
  }

  /** The next challenge index of a share (where newly armed answers start). */
  cursor(addr: string): number {
    return (this.db.prepare('SELECT next FROM audit_cursor WHERE addr = ?').get(addr) as { next: number } | undefined)?.next ?? 0;
  }

  /**
   * Keeps a holder's receipt after checking it (receipts.ts): its signature, and that the holder
   * signs with the key it signed with first (pinned here). A tampered receipt throws
   * CANOPY_ERR_STORE_CORRUPT and is not kept.
   */
  keepReceipt(r: unknown): Receipt {
    const holder = (r as Partial<Receipt> | null)?.holder;
    const pinned = typeof holder === 'string' ? (this.db.prepare('SELECT key FROM holder_keys WHERE holder = ?').get(holder) as { key: string } | undefined)?.key : undefined;
    const receipt = verifyReceipt(r, pinned);
    this.db.transaction(() => {
      this.db.prepare('INSERT OR IGNORE INTO holder_keys (holder, key) VALUES (?, ?)').run(receipt.holder, receipt.key);
      this.db
        .prepare('INSERT OR REPLACE INTO receipts (holder, addr, owner, size, at, key, sig) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(receipt.holder, receipt.addr, receipt.owner, receipt.size, receipt.at, receipt.key, receipt.sig);
      this.ensure(receipt.holder);
    })();
    return receipt;
  }

  receipts(holder?: string): Receipt[] {
    const rows = (holder ? this.db.prepare('SELECT * FROM receipts WHERE holder = ? ORDER BY at, addr').all(holder) : this.db.prepare('SELECT * FROM receipts ORDER BY holder, at, addr').all()) as Omit<Receipt, 'v'>[];
    return rows.map((r) => ({ v: 1, holder: r.holder, owner: r.owner, addr: r.addr, size: r.size, at: r.at, key: r.key, sig: r.sig }));
  }

  row(neighbour: string): LedgerRow {
    const r = this.db.prepare('SELECT * FROM neighbours WHERE name = ?').get(neighbour) as Row | undefined;
    return this.toRow(r ?? { name: neighbour, for_us_bytes: 0, for_us_byte_days: 0, for_us_at: null, by_us_bytes: 0, by_us_byte_days: 0, by_us_at: null, passed: 0, failed: 0, served: 0, last_audit: null });
  }

  rows(): LedgerRow[] {
    return (this.db.prepare('SELECT * FROM neighbours ORDER BY name').all() as Row[]).map((r) => this.toRow(r));
  }

  /** The neighbour's room in the phone's cold class under the quota rule. */
  room(neighbour: string): number {
    return this.row(neighbour).roomBytes;
  }

  state(owner: string, now: number): LedgerState {
    return { owner, neighbours: this.rows(), updatedAt: now };
  }

  private toRow(r: Row): LedgerRow {
    const receipts = (this.db.prepare('SELECT COUNT(*) AS n FROM receipts WHERE holder = ?').get(r.name) as { n: number }).n;
    const row: Omit<LedgerRow, 'roomBytes'> = {
      neighbour: r.name,
      heldForUsBytes: r.for_us_bytes,
      heldForUsByteDays: r.for_us_byte_days,
      heldByUsBytes: r.by_us_bytes,
      heldByUsByteDays: r.by_us_byte_days,
      auditsPassed: r.passed,
      auditsFailed: r.failed,
      hotServedBytes: r.served,
      receipts,
      ...(r.last_audit !== null && { lastAuditAt: r.last_audit }),
    };
    return { ...row, roomBytes: roomFor(row, this.policy) };
  }
}
