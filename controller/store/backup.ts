/**
 * `canopy backup PATH`, the owner's side: walk the tree, cut every file into content-defined chunks
 * (chunker.ts), give each a keyed id, seal the ones no earlier backup of this repository holds
 * (crypto.ts, on the seal workers of seal-pool.ts), and send each sealed chunk
 *   - to the phone (class own),
 *   - to the uplink relay (bulk class, `<base>/relay/bulk/store/<owner>/blob/chunk/<addr>`), when
 *     the mesh has one,
 *   - as k-of-n Reed-Solomon shares (erasure.ts) to the neighbours' phones (class cold);
 * then seal the manifest (manifest.ts) and send it the same ways, and write it to a local file.
 *
 * The repository is the phone's own-class manifests: a backup opens the newest one with the
 * passphrase, keeps its salt and KDF parameters (so ids, hence dedup, carry across runs) and reuses
 * every chunk it lists. A passphrase that does not open it is refused before anything is sent.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { addressOf } from './chunk-store.ts';
import { Chunker, DEFAULT_CHUNKER, type ChunkerParams } from './chunker.ts';
import { chunkId, DEFAULT_KDF, deriveKeys, newKdfParams, type Keys } from './crypto.ts';
import { decodeShares, encodeShares, type Share } from './erasure.ts';
import { armShare, auditKeyOf } from './audit-proof.ts';
import { openManifest, sealManifest, type ChunkRef, type ManifestBody, type ManifestHeader, type ShareRef } from './manifest.ts';
import type { StoreClient } from './protocol.ts';
import { SealPool } from './seal-pool.ts';

export interface StoreTargets {
  client: StoreClient;
  /** The owner's name: the phone agent's name and the owner of every share on the neighbours. */
  owner: string;
  /** Neighbours' store agents that keep shares. */
  neighbours: readonly string[];
  k: number;
  n: number;
  /** Queue sealed blobs for the uplink: true, false, or 'auto' (when the mesh's relay publishes its status). */
  uplink?: boolean | 'auto';
  /** Requests in flight at once. Default 16. */
  window?: number;
  /** Each holder's signed receipt for a share it accepted (receipts.ts); throwing refuses the holder (the share goes to the next). */
  onReceipt?: (receipt: unknown) => void;
  /** Where a new share's audit answers start (the ledger's cursor, so no nonce is used twice). Default 0. */
  auditFrom?: (shareAddr: string) => number;
}

export interface BackupOptions extends StoreTargets {
  path: string;
  passphrase: string;
  /** scrypt cost for a new repository (log2 N). Default 17. */
  kdfLogN?: number;
  chunker?: ChunkerParams;
  progress?: (fraction: number, detail: string) => void;
  warn?: (msg: string) => void;
  /** Seal worker threads (seal-pool.ts; 0 seals in this thread). Default: defaultSealers(). */
  sealers?: number;
  /** A pool to seal on instead (not closed by the backup); `sealers` is then ignored. */
  sealPool?: SealPool;
}

export interface BackupResult {
  manifest: Uint8Array;
  manifestAddr: string;
  files: number;
  /** Plaintext bytes read. */
  bytes: number;
  chunks: number;
  /** Chunks (and their plaintext bytes) that no earlier backup held: sealed and sent this run. */
  newChunks: number;
  newBytes: number;
  /** Sealed bytes sent to the phone (chunks and manifest). */
  sentBytes: number;
  /** Shares put on neighbours, `spreadShares` of them for chunks of earlier backups. */
  shares: number;
  /** Shares placed for chunks an earlier backup holds too few of, or on too few neighbours (late neighbours, a changed code). */
  spreadShares: number;
  uplinked: number;
  warnings: string[];
}

/** The newest manifest of `owner` on the phone, opened; undefined for a new repository. */
export async function latestManifest(client: StoreClient, owner: string, passphrase: string): Promise<{ bytes: Uint8Array; header: ManifestHeader; body: ManifestBody; keys: Keys } | undefined> {
  const { data } = await client.request(owner, { op: 'list', filter: { cls: 'own', owner, tag: 'manifest' } });
  const newest = [...data.entries].sort((a, b) => b.createdAt - a.createdAt)[0];
  if (!newest) return undefined;
  const { body: bytes } = await client.request(owner, { op: 'get', addr: newest.addr });
  const opened = await openManifest(bytes, passphrase, { source: `manifest ${newest.addr} on the phone` }).catch((e: unknown) => {
    if (isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE')) {
      throw new CanopyError('CANOPY_ERR_STORE_PASSPHRASE', `wrong passphrase: it does not open the backups already on the phone of "${owner}" (nothing was sent)`);
    }
    throw e;
  });
  return { bytes, ...opened };
}

interface Walked {
  dirs: { path: string; mode: number }[];
  files: { abs: string; path: string; size: number; mode: number; mtimeMs: number }[];
}

/** Every directory and regular file under `root`, in a stable order; paths start with root's name. */
async function walk(root: string, warn: (m: string) => void): Promise<Walked> {
  const out: Walked = { dirs: [], files: [] };
  const top = resolve(root);
  const name = basename(top);
  const rel = (abs: string) => [name, ...relative(top, abs).split(sep).filter(Boolean)].join('/');
  const visit = async (abs: string): Promise<void> => {
    const st = await lstat(abs);
    if (st.isDirectory()) {
      out.dirs.push({ path: rel(abs), mode: st.mode & 0o7777 });
      for (const entry of (await readdir(abs)).sort()) await visit(join(abs, entry));
    } else if (st.isFile()) {
      out.files.push({ abs, path: rel(abs), size: st.size, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs });
    } else {
      warn(`${rel(abs)}: not a regular file or directory (symlink, socket, device): skipped`);
    }
  };
  try {
    await visit(top);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new CanopyError('CANOPY_ERR_NOT_FOUND', `${root}: no such file or directory`);
    throw e;
  }
  return out;
}

/** At most `size` promises in flight; add() waits for room; drain() for all. The first failure is rethrown. */
export class Window {
  private readonly running = new Set<Promise<void>>();
  private failure: unknown;
  constructor(private readonly size: number) {}
  async add(task: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.size) await Promise.race(this.running);
    this.check();
    const p: Promise<void> = task()
      .catch((e: unknown) => void (this.failure ??= e))
      .finally(() => this.running.delete(p));
    this.running.add(p);
  }
  async drain(): Promise<void> {
    await Promise.all(this.running);
    this.check();
  }
  private check(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}

/**
 * The owner's side of a backup for a stream of chunks: keyed id, dedup (this run and the previous
 * manifest's chunks), seal on the pool, address, then `onSealed` (send; nothing in the bench). A
 * chunk's place in `chunks` is taken when it is cut, so the manifest's order does not depend on
 * which worker finishes first. At most `window` new chunks are out (sealing or being sent) at
 * once: add() waits for room, so the main thread chunks ahead of the workers only that far.
 */
export class ChunkPipeline {
  readonly chunks: ChunkRef[] = [];
  newChunks = 0;
  newBytes = 0;
  private readonly indexOf = new Map<string, number>();
  private readonly window: Window;

  constructor(
    private readonly keys: Keys,
    private readonly pool: Pick<SealPool, 'seal'>,
    private readonly onSealed: (ref: ChunkRef, index: number, sealed: Uint8Array) => Promise<void> | void,
    private readonly known: ReadonlyMap<string, ChunkRef> = new Map(),
    window = 16,
  ) {
    this.window = new Window(window);
  }

  /** The chunk's index in `chunks`; `plain` must not change until drain() (a Chunker's chunks never do). */
  async add(plain: Uint8Array): Promise<number> {
    const idBytes = chunkId(this.keys, plain);
    const id = Buffer.from(idBytes).toString('hex');
    const seen = this.indexOf.get(id);
    if (seen !== undefined) return seen;
    const index = this.chunks.length;
    this.indexOf.set(id, index);
    const old = this.known.get(id);
    if (old) {
      this.chunks.push(old);
      return index;
    }
    const ref: ChunkRef = { id, addr: '', size: plain.length, sealed: 0, shares: [] };
    this.chunks.push(ref);
    this.newChunks++;
    this.newBytes += plain.length;
    // The task (the seal) starts as soon as there is room, before add() returns.
    await this.window.add(async () => {
      const sealed = await this.pool.seal(this.keys, idBytes, plain);
      ref.addr = addressOf(sealed);
      ref.sealed = sealed.length;
      await this.onSealed(ref, index, sealed);
    });
    return index;
  }

  /** Waits for every chunk to be sealed and handled; rethrows the first failure. */
  drain(): Promise<void> {
    return this.window.drain();
  }
}

/**
 * What a chunk's shares lack to be spread as a new backup would spread them: the indexes it holds
 * no share of (`missing`), and, while fewer than min(n, live neighbours) neighbours hold its
 * shares, the extra shares of a neighbour holding several (`crowded`: they move to one holding
 * none). A backup made before neighbours joined has all its shares on the few there were.
 */
export function underPlaced(shares: readonly ShareRef[], n: number, liveNeighbours: number): { missing: number[]; crowded: ShareRef[] } {
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !shares.some((s) => s.index === i));
  const byHolder = new Map<string, ShareRef[]>();
  for (const s of shares) byHolder.set(s.holder, [...(byHolder.get(s.holder) ?? []), s]);
  // The missing shares go to neighbours holding none first, so they count towards the spread.
  let short = Math.min(n, liveNeighbours) - byHolder.size - missing.length;
  const crowded: ShareRef[] = [];
  for (const held of byHolder.values()) for (const s of held.slice(1)) if (short-- > 0) crowded.push(s);
  return { missing, crowded };
}

export function isUnderPlaced(plan: ReturnType<typeof underPlaced>): boolean {
  return plan.missing.length > 0 || plan.crowded.length > 0;
}

/** Puts a sealed blob everywhere it belongs; shares are placed by `placeShares`, topped up by `topUp`. */
export class Sender {
  readonly dead = new Set<string>();
  readonly warnings: string[] = [];
  uplinked = 0;
  sharesPut = 0;
  sentBytes = 0;
  /** Set once the keys are known: every share placed gets its audit answers (audit-proof.ts). */
  auditKey: Uint8Array | undefined;
  private uplinkOn = false;

  constructor(
    private readonly t: StoreTargets,
    private readonly warn: (msg: string) => void = () => {},
  ) {
    if (!(Number.isInteger(t.k) && Number.isInteger(t.n) && t.k >= 1 && t.n >= t.k && t.n <= 255)) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `erasure code ${t.k}-of-${t.n}: need integers 1 ≤ k ≤ n ≤ 255`);
    }
  }

  /** Decides once whether blobs go to the uplink. */
  async init(): Promise<void> {
    const u = this.t.uplink ?? 'auto';
    if (u === 'auto') {
      this.uplinkOn = (await this.t.client.retained(this.t.client.tree.uplink)) !== undefined;
      if (!this.uplinkOn) this.note('no uplink relay on this mesh (no retained uplink status): nothing is queued for upstream');
    } else this.uplinkOn = u;
    if (this.t.neighbours.length === 0) this.note('no neighbours: no erasure shares are made');
    else if (this.t.neighbours.length < this.t.n) this.note(`${this.t.neighbours.length} neighbours for ${this.t.n} shares: some hold several shares of a chunk`);
  }

  note(msg: string): void {
    if (this.warnings.includes(msg)) return;
    this.warnings.push(msg);
    this.warn(msg);
  }

  /** The phone's copy (own class) and the uplink's. */
  async toPhoneAndUplink(tag: string, addr: string, sealed: Uint8Array): Promise<void> {
    const { client, owner } = this.t;
    await client.request(owner, { op: 'put', addr, cls: 'own', tag }, sealed);
    this.sentBytes += sealed.length;
    if (this.uplinkOn) {
      await client.uplink(owner, tag, addr, sealed);
      this.uplinked++;
    }
  }

  /**
   * Shares `indexes` of `sealed` to neighbours: share i of the j-th chunk goes to neighbour (j+i) mod N
   * first (spread evenly), then to the next live one that is not yet holding a share of this chunk;
   * the `spreadOnly` ones go only to a neighbour holding none (they exist elsewhere already); the
   * `avoid` ones (they failed an audit of this chunk) get none.
   */
  async placeShares(
    seq: number,
    sealed: Uint8Array,
    indexes?: readonly number[],
    taken: readonly string[] = [],
    spreadOnly: ReadonlySet<number> = new Set(),
    avoid: ReadonlySet<string> = new Set(),
  ): Promise<ShareRef[]> {
    const { neighbours, k, n } = this.t;
    if (neighbours.length === 0) return [];
    const shares = encodeShares(sealed, k, n).filter((s) => !indexes || indexes.includes(s.index));
    const holding = new Set(taken);
    const placed = await Promise.all(
      shares.map(async (share) => {
        const addr = addressOf(share.data);
        const order = neighbours.map((_, i) => neighbours[(seq + share.index + i) % neighbours.length]!);
        // Prefer a neighbour not holding a share of this chunk yet; fall back to any live one.
        const preferred = [...order.filter((h) => !holding.has(h)), ...(spreadOnly.has(share.index) ? [] : order.filter((h) => holding.has(h)))];
        for (const holder of preferred) {
          if (this.dead.has(holder) || avoid.has(holder)) continue;
          holding.add(holder);
          try {
            const { data } = await this.t.client.request(holder, { op: 'put', addr, cls: 'cold', owner: this.t.owner, tag: 'share' }, share.data);
            if (this.t.onReceipt) this.t.onReceipt(data.receipt);
            this.sharesPut++;
            const audit = this.auditKey && armShare(this.auditKey, addr, share.data, this.t.auditFrom?.(addr) ?? 0);
            return { index: share.index, addr, holder, ...(audit && { audit }) };
          } catch (e) {
            if (!isCanopyError(e)) throw e;
            if (e.code === 'CANOPY_ERR_TIMEOUT' || e.code === 'CANOPY_ERR_LINK_DOWN') {
              this.dead.add(holder);
              this.note(`neighbour "${holder}" does not answer: its shares go to others`);
            } else this.note(`neighbour "${holder}" refused a share: ${e.message}`);
          }
        }
        return undefined;
      }),
    );
    const ok = placed.filter((p): p is ShareRef => p !== undefined);
    const needed = shares.filter((s) => !spreadOnly.has(s.index)).length;
    const got = ok.filter((p) => !spreadOnly.has(p.index)).length;
    if (got < needed) this.note(`only ${got} of ${needed} shares of a chunk found a neighbour`);
    return ok;
  }

  /** Neighbours not known to be gone. */
  liveNeighbours(): number {
    return this.t.neighbours.filter((h) => !this.dead.has(h)).length;
  }

  /**
   * Places a chunk's `missing` shares and moves its `crowded` ones (underPlaced) to neighbours
   * holding none of it; a crowded share that finds no other neighbour stays where it was (the old
   * copy stays too: older manifests still name it). Returns the chunk's shares after it.
   */
  async topUp(seq: number, shares: readonly ShareRef[], sealed: Uint8Array, plan: ReturnType<typeof underPlaced>, avoid?: ReadonlySet<string>): Promise<{ shares: ShareRef[]; recreated: number; moved: number }> {
    const moving = new Set(plan.crowded);
    const kept = shares.filter((s) => !moving.has(s));
    const movingIndexes = new Set(plan.crowded.map((s) => s.index));
    const placed = await this.placeShares(seq, sealed, [...plan.missing, ...movingIndexes], kept.map((s) => s.holder), movingIndexes, avoid);
    const unmoved = plan.crowded.filter((s) => !placed.some((p) => p.index === s.index));
    const recreated = placed.filter((p) => plan.missing.includes(p.index)).length;
    return { shares: [...kept, ...unmoved, ...placed].sort((a, b) => a.index - b.index), recreated, moved: placed.length - recreated };
  }

  /** A stored chunk's sealed bytes: the phone's copy if intact, else decoded from k of `shares`; undefined when neither can be had. */
  async sealedCopy(ref: ChunkRef, shares: readonly ShareRef[], timeoutMs?: number): Promise<Uint8Array | undefined> {
    const { client, owner, k, n } = this.t;
    try {
      const { body } = await client.request(owner, { op: 'get', addr: ref.addr }, undefined, timeoutMs);
      if (addressOf(body) === ref.addr) return body;
    } catch (e) {
      if (!isCanopyError(e)) throw e;
    }
    const got: Share[] = [];
    for (const s of shares) {
      if (got.length === k) break;
      try {
        const { body } = await client.request(s.holder, { op: 'get', addr: s.addr }, undefined, timeoutMs);
        if (addressOf(body) === s.addr) got.push({ index: s.index, data: body });
      } catch (e) {
        if (!isCanopyError(e)) throw e;
      }
    }
    if (got.length < k) return undefined;
    const sealed = decodeShares(got, k, n, ref.sealed);
    if (addressOf(sealed) !== ref.addr) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `shares of chunk ${ref.id} decode to other bytes`);
    return sealed;
  }

  /** The manifest: to the phone, the uplink and, whole, to every live neighbour (a restore can start anywhere). */
  async sendManifest(manifest: Uint8Array): Promise<string> {
    const addr = addressOf(manifest);
    await this.toPhoneAndUplink('manifest', addr, manifest);
    await Promise.all(
      this.t.neighbours
        .filter((h) => !this.dead.has(h))
        .map((holder) =>
          this.t.client.request(holder, { op: 'put', addr, cls: 'cold', owner: this.t.owner, tag: 'manifest' }, manifest).catch((e: unknown) => {
            this.note(`neighbour "${holder}" did not take the manifest: ${(e as Error).message}`);
          }),
        ),
    );
    return addr;
  }
}

export async function backup(opts: BackupOptions): Promise<BackupResult> {
  const warn = opts.warn ?? (() => {});
  const chunker = opts.chunker ?? DEFAULT_CHUNKER;
  const sender = new Sender(opts, warn);
  const tree = await walk(opts.path, (m) => sender.note(m));
  const total = tree.files.reduce((s, f) => s + f.size, 0);
  const progress = opts.progress ?? (() => {});
  progress(0, 'deriving keys');
  // The workers start while the keys are derived.
  const pool = opts.sealPool ?? new SealPool({ ...(opts.sealers !== undefined && { size: opts.sealers }) });
  try {
    // The repository: the newest manifest's KDF and chunks, or a new salt.
    const previous = await latestManifest(opts.client, opts.owner, opts.passphrase);
    const kdf = previous?.header.kdf ?? newKdfParams(opts.kdfLogN ?? DEFAULT_KDF.logN);
    const keys = previous?.keys ?? (await deriveKeys(opts.passphrase, kdf));
    sender.auditKey = auditKeyOf(keys);
    await sender.init();

    // Chunks of the newest backup are reused with their shares; under another erasure code
    // (k, n changed since) their shares are made again under this one.
    const sameCode = previous?.body.erasure.k === opts.k && previous.body.erasure.n === opts.n;
    const known = new Map<string, ChunkRef>(previous?.body.chunks.map((c) => [c.id, { ...c, shares: sameCode ? [...c.shares] : [] }]));
    const reused = new Set(known.values());
    const pipeline = new ChunkPipeline(
      keys,
      pool,
      async (ref, index, sealed) => {
        await sender.toPhoneAndUplink('chunk', ref.addr, sealed);
        ref.shares = await sender.placeShares(index, sealed);
      },
      known,
      opts.window ?? 16,
    );
    const body: ManifestBody = { source: resolve(opts.path), owner: opts.owner, chunker, erasure: { k: opts.k, n: opts.n }, dirs: tree.dirs, files: [], chunks: pipeline.chunks };
    let done = 0;

    for (const f of tree.files) {
      const entry = { path: f.path, size: f.size, mode: f.mode, mtimeMs: f.mtimeMs, chunks: [] as number[] };
      const c = new Chunker(chunker);
      let read = 0;
      for await (const block of createReadStream(f.abs, { highWaterMark: 1 << 20 })) {
        read += (block as Buffer).length;
        for (const chunk of c.push(block as Buffer)) entry.chunks.push(await pipeline.add(chunk));
        progress(total === 0 ? 1 : (done + read) / total, f.path);
      }
      for (const chunk of c.finish()) entry.chunks.push(await pipeline.add(chunk));
      if (read !== f.size) sender.note(`${f.path} changed size while it was read (${f.size} → ${read} bytes)`);
      entry.size = read;
      done += f.size;
      body.files.push(entry);
    }
    await pipeline.drain();
    const spreadShares = await spreadEarlier(sender, pipeline.chunks, reused, opts, progress);

    const header: ManifestHeader = { v: 1, kdf, check: Buffer.from(keys.check).toString('base64'), createdAt: Date.now() };
    const manifest = sealManifest(header, body, keys);
    const manifestAddr = await sender.sendManifest(manifest);
    progress(1, 'done');
    return {
      manifest,
      manifestAddr,
      files: body.files.length,
      bytes: done,
      chunks: body.chunks.length,
      newChunks: pipeline.newChunks,
      newBytes: pipeline.newBytes,
      sentBytes: sender.sentBytes,
      shares: sender.sharesPut,
      spreadShares,
      uplinked: sender.uplinked,
      warnings: sender.warnings,
    };
  } finally {
    if (!opts.sealPool) await pool.close();
  }
}

/**
 * Tops up the shares of the chunks this backup reuses from an earlier one (underPlaced): a
 * neighbour added since gets its part of them, from the phone's sealed copy (or k shares).
 * Returns how many shares were placed.
 */
async function spreadEarlier(sender: Sender, chunks: readonly ChunkRef[], reused: ReadonlySet<ChunkRef>, opts: BackupOptions, progress: (f: number, d: string) => void): Promise<number> {
  const short = chunks.map((ref, seq) => ({ ref, seq, plan: underPlaced(ref.shares, opts.n, sender.liveNeighbours()) })).filter((c) => reused.has(c.ref) && isUnderPlaced(c.plan));
  if (short.length === 0 || opts.neighbours.length === 0) return 0;
  const window = new Window(opts.window ?? 16);
  let placed = 0;
  let done = 0;
  for (const { ref, seq, plan } of short) {
    await window.add(async () => {
      const sealed = await sender.sealedCopy(ref, ref.shares);
      if (!sealed) sender.note(`chunk ${ref.id} of an earlier backup: neither the phone nor its shares give it, so its shares are not spread (canopy backup --repair names it)`);
      else {
        const r = await sender.topUp(seq, ref.shares, sealed, plan);
        ref.shares = r.shares;
        placed += r.recreated + r.moved;
      }
      progress(1, `spreading shares: ${++done} of ${short.length} earlier chunks`);
    });
  }
  await window.drain();
  return placed;
}
