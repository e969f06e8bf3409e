/**
 * `canopy restore MANIFEST DIR`: open the manifest with the passphrase (nothing is written before
 * that succeeds), then rebuild every file from whichever source answers, per chunk:
 *   1. the phone (its own class),
 *   2. the upstream store, when one is given (the blobs the relay carried up),
 *   3. any k of the chunk's n erasure shares on the neighbours' phones.
 * Every blob is checked against its address (SHA-256 of the sealed bytes, from the authenticated
 * manifest), every chunk against its seal and its keyed id. A chunk no source can give intact is
 * named with the files that need it; those files are not written and the rest are.
 *
 * Files land under DIR by their path in the backup, which starts with the name of what was backed
 * up: `canopy backup ~/Documents` restores into `DIR/Documents/…`. A file already there with the
 * backup's content is left as it is (not fetched); one with other content is replaced only with
 * `overwrite` — otherwise the restore refuses before it writes anything (CANOPY_ERR_STORE_EXISTS).
 */
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { chmod, lstat, mkdir, open as openFile, rename, rm, utimes } from 'node:fs/promises';
import { dirname, isAbsolute, join, normalize, sep } from 'node:path';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { addressOf, isAddress } from './chunk-store.ts';
import { Chunker } from './chunker.ts';
import { chunkId, open, type Keys } from './crypto.ts';
import { decodeShares, type Share } from './erasure.ts';
import { openManifest, type ChunkRef, type FileEntry, type ManifestBody, type OpenedManifest } from './manifest.ts';
import type { StoreClient } from './protocol.ts';

/** A store agent to fetch from: a client and the agent's name on that client's broker. */
export interface Source {
  client: StoreClient;
  agent: string;
  /** How it is named in reports ("phone", "upstream"). */
  label: string;
}

export interface RestoreOptions {
  /** A manifest file, or a manifest's address on one of the sources. */
  manifest: string;
  dir: string;
  passphrase: string;
  /** Tried in order for whole sealed chunks (the phone, then the upstream store). */
  sources: Source[];
  /** The client neighbours' shares are fetched through (the owner's mesh client). */
  shares?: StoreClient;
  /** Neighbours asked for the manifest when it is given by address. */
  neighbours?: readonly string[];
  /** Chunks fetched at once. Default 8. */
  window?: number;
  timeoutMs?: number;
  /** Replace files in DIR whose content differs from the backup's (otherwise: CANOPY_ERR_STORE_EXISTS). */
  overwrite?: boolean;
  progress?: (fraction: number, detail: string) => void;
  warn?: (msg: string) => void;
}

export interface RestoreResult {
  /** Files restored, `unchanged` of them already there with the backup's content. */
  files: number;
  unchanged: number;
  bytes: number;
  /** Where the backup's top-level entries landed (DIR/<name of what was backed up>). */
  roots: string[];
  /** Files not written, each with the reason (the chunk that could not be had). */
  failed: { path: string; reason: string }[];
  /** Bad copies met on the way (a source that gave damaged bytes, a missing share), named. */
  problems: string[];
  /** Chunks fetched per source label ("shares" for the erasure-coded path). */
  fetched: Record<string, number>;
  /** Sources and neighbours that stopped answering: not asked again during this restore. */
  unreachable: string[];
}

export async function loadManifestBytes(opts: Pick<RestoreOptions, 'manifest' | 'sources' | 'shares' | 'neighbours' | 'timeoutMs'>): Promise<{ bytes: Uint8Array; source: string }> {
  if (existsSync(opts.manifest)) return { bytes: readFileSync(opts.manifest), source: opts.manifest };
  if (!isAddress(opts.manifest)) throw new CanopyError('CANOPY_ERR_NOT_FOUND', `${opts.manifest}: no such manifest file (nor a 64-hex-digit manifest address)`);
  const tried: string[] = [];
  const candidates: Source[] = [...opts.sources, ...(opts.shares ? (opts.neighbours ?? []).map((agent) => ({ client: opts.shares!, agent, label: `neighbour ${agent}` })) : [])];
  for (const s of candidates) {
    try {
      const { body } = await s.client.request(s.agent, { op: 'get', addr: opts.manifest }, undefined, opts.timeoutMs);
      if (addressOf(body) === opts.manifest) return { bytes: body, source: `manifest ${opts.manifest} from the ${s.label}` };
      tried.push(`${s.label}: damaged copy`);
    } catch (e) {
      tried.push(`${s.label}: ${(e as Error).message}`);
    }
  }
  throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `manifest ${opts.manifest} not found (${tried.join('; ') || 'no sources'})`);
}

/** Relative, "/"-separated, inside the target: a manifest cannot write outside DIR. */
function safePath(dir: string, p: string): string {
  const n = normalize(p);
  if (isAbsolute(p) || n.split(sep).includes('..') || n === '.' || n === '') throw new CanopyError('CANOPY_ERR_STORE_MANIFEST', `manifest path "${p}" leaves the restore directory`);
  return join(dir, n);
}

/** A request that got no answer (timeout, connection down), as opposed to an answer saying no. */
function silent(e: unknown): boolean {
  return isCanopyError(e, 'CANOPY_ERR_TIMEOUT') || isCanopyError(e, 'CANOPY_ERR_LINK_DOWN');
}

/** How many fetched chunks a restore keeps in memory for repeats (at most 256 KiB each: 8 MiB). */
const RECENT_CHUNKS = 32;

class Fetcher {
  readonly problems: string[] = [];
  readonly fetched: Record<string, number> = {};
  /** Sources (by label) and share holders that did not answer once: each chunk would wait for them again. */
  readonly unreachable = new Set<string>();

  constructor(
    private readonly m: OpenedManifest,
    private readonly opts: RestoreOptions,
  ) {}

  /** Recently fetched chunks by address: a chunk repeated in a tree (zero runs, copies) is fetched once. */
  private readonly recent = new Map<string, Promise<Uint8Array>>();

  /** The plaintext of chunk `ref`, from the first source that has it intact (recent ones from memory). */
  chunk(ref: ChunkRef): Promise<Uint8Array> {
    const hit = this.recent.get(ref.addr);
    if (hit) {
      this.recent.delete(ref.addr);
      this.recent.set(ref.addr, hit); // most recently used last
      return hit;
    }
    const p = this.fetch(ref);
    this.recent.set(ref.addr, p);
    p.catch(() => this.recent.delete(ref.addr));
    if (this.recent.size > RECENT_CHUNKS) this.recent.delete(this.recent.keys().next().value!);
    return p;
  }

  private async fetch(ref: ChunkRef): Promise<Uint8Array> {
    const tried: string[] = [];
    for (const s of this.opts.sources) {
      if (this.unreachable.has(s.label)) continue;
      try {
        const { body } = await s.client.request(s.agent, { op: 'get', addr: ref.addr }, undefined, this.opts.timeoutMs);
        if (addressOf(body) !== ref.addr) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `the bytes do not match chunk ${ref.addr}`);
        return this.opened(ref, body, s.label);
      } catch (e) {
        if (!isCanopyError(e)) throw e;
        if (silent(e)) this.gone(s.label);
        if (e.code === 'CANOPY_ERR_STORE_CORRUPT') this.problem(`chunk ${ref.id} (sealed ${ref.addr}) is damaged on the ${s.label}`);
        tried.push(`${s.label}: ${e.code === 'CANOPY_ERR_STORE_NOT_FOUND' ? 'not there' : e.code === 'CANOPY_ERR_STORE_CORRUPT' ? 'damaged' : e.message}`);
      }
    }
    if (this.opts.shares && ref.shares.length > 0) {
      try {
        return this.opened(ref, await this.fromShares(ref), 'shares');
      } catch (e) {
        if (!isCanopyError(e)) throw e;
        tried.push(`shares: ${e.message}`);
      }
    }
    throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `chunk ${ref.id} (sealed ${ref.addr}) cannot be restored: ${tried.join('; ') || 'no source has it'}`);
  }

  private opened(ref: ChunkRef, sealed: Uint8Array, label: string): Uint8Array {
    const id = Buffer.from(ref.id, 'hex');
    const plain = open(this.m.keys, id, sealed, `chunk ${ref.id}`);
    if (!Buffer.from(chunkId(this.m.keys, plain)).equals(id) || plain.length !== ref.size) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `chunk ${ref.id} opens to other content than it was made from`);
    this.fetched[label] = (this.fetched[label] ?? 0) + 1;
    return plain;
  }

  /** Asks every holder at once and decodes from the first k shares that arrive intact. */
  private fromShares(ref: ChunkRef): Promise<Uint8Array> {
    const { k, n } = this.m.body.erasure;
    const client = this.opts.shares!;
    const asked = ref.shares.filter((s) => !this.unreachable.has(`neighbour ${s.holder}`));
    return new Promise((resolve, reject) => {
      const got: Share[] = [];
      let answered = 0;
      let settled = false;
      const finish = () => {
        if (settled) return;
        if (got.length >= k) {
          settled = true;
          try {
            const sealed = decodeShares(got.slice(0, k), k, n, ref.sealed);
            if (addressOf(sealed) !== ref.addr) throw new CanopyError('CANOPY_ERR_STORE_CORRUPT', `shares of chunk ${ref.id} decode to other bytes`);
            resolve(sealed);
          } catch (e) {
            reject(e);
          }
        } else if (answered === asked.length) {
          settled = true;
          reject(new CanopyError('CANOPY_ERR_STORE_SHARES', `only ${got.length} of the ${k} shares needed answered intact`));
        }
      };
      finish(); // nobody left to ask
      for (const s of asked) {
        client.request(s.holder, { op: 'get', addr: s.addr }, undefined, this.opts.timeoutMs).then(
          ({ body }) => {
            answered++;
            if (addressOf(body) === s.addr) got.push({ index: s.index, data: body });
            else this.problem(`share ${s.index} of chunk ${ref.id} is damaged on neighbour "${s.holder}"`);
            finish();
          },
          (e: unknown) => {
            answered++;
            if (silent(e)) this.gone(`neighbour ${s.holder}`);
            if (isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT')) this.problem(`share ${s.index} of chunk ${ref.id} is damaged on neighbour "${s.holder}"`);
            finish();
          },
        );
      }
    });
  }

  private gone(label: string): void {
    if (this.unreachable.has(label)) return;
    this.unreachable.add(label);
    this.opts.warn?.(`the ${label} does not answer: not asked again`);
  }

  private problem(msg: string): void {
    this.problems.push(msg);
    this.opts.warn?.(msg);
  }
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const progress = opts.progress ?? (() => {});
  const { bytes, source } = await loadManifestBytes(opts);
  progress(0, 'deriving keys');
  // Wrong passphrase or a damaged manifest end here, before DIR is touched.
  const m = await openManifest(bytes, opts.passphrase, { source });
  const body: ManifestBody = m.body;
  for (const d of body.dirs) safePath(opts.dir, d.path);
  for (const f of body.files) safePath(opts.dir, f.path);

  // What is in DIR already, before anything is written there.
  const present = await existing(opts.dir, body, m.keys);
  const refused = present.blocked.length > 0 ? present.blocked : opts.overwrite ? [] : present.differing;
  if (refused.length > 0) {
    const named = refused.slice(0, 3).map((p) => join(opts.dir, p)).join(', ') + (refused.length > 3 ? ` and ${refused.length - 3} more` : '');
    throw new CanopyError(
      'CANOPY_ERR_STORE_EXISTS',
      present.blocked.length > 0
        ? `${named}: in the way (a directory where the backup has a file, or a file where it has a directory): move it away; nothing was restored`
        : `${named}: already there with other content than the backup's; nothing was restored (--overwrite replaces ${refused.length === 1 ? 'it' : 'them'}, or restore into another directory)`,
    );
  }

  const fetcher = new Fetcher(m, opts);
  const total = body.files.reduce((s, f) => s + f.size, 0);
  const roots = [...new Set([...body.dirs, ...body.files].map((e) => e.path.split('/')[0]!))].map((r) => join(opts.dir, r));
  const result: RestoreResult = { files: 0, unchanged: 0, bytes: 0, roots, failed: [], problems: fetcher.problems, fetched: fetcher.fetched, unreachable: [] };
  await mkdir(opts.dir, { recursive: true });
  for (const d of body.dirs) await mkdir(safePath(opts.dir, d.path), { recursive: true });
  const windowSize = opts.window ?? 8;
  let done = 0;

  for (const f of body.files) {
    const target = safePath(opts.dir, f.path);
    if (present.same.has(f.path)) {
      await chmod(target, f.mode);
      await utimes(target, new Date(f.mtimeMs), new Date(f.mtimeMs));
      done += f.size;
      progress(total === 0 ? 1 : done / total, f.path);
      result.files++;
      result.unchanged++;
      result.bytes += f.size;
      continue;
    }
    const partial = `${target}.canopy-partial`;
    await mkdir(dirname(target), { recursive: true });
    const fh = await openFile(partial, 'w', 0o600);
    let failure: string | undefined;
    try {
      // Fetch ahead by `window` chunks, write in order.
      const ahead: Promise<Uint8Array>[] = [];
      const refs = f.chunks.map((i) => body.chunks[i]!);
      for (let i = 0; i < refs.length; i++) {
        while (ahead.length < windowSize && i + ahead.length < refs.length) {
          const p = fetcher.chunk(refs[i + ahead.length]!);
          p.catch(() => {}); // awaited below, in order
          ahead.push(p);
        }
        const plain = await ahead.shift()!;
        await fh.write(plain);
        done += plain.length;
        progress(total === 0 ? 1 : done / total, f.path);
      }
    } catch (e) {
      if (!isCanopyError(e)) throw e;
      failure = e.message;
    } finally {
      await fh.close();
    }
    if (failure) {
      await rm(partial, { force: true });
      result.failed.push({ path: f.path, reason: failure });
      opts.warn?.(`${f.path}: not restored: ${failure}`);
      continue;
    }
    await chmod(partial, f.mode);
    await utimes(partial, new Date(f.mtimeMs), new Date(f.mtimeMs));
    await rename(partial, target);
    result.files++;
    result.bytes += f.size;
  }
  for (const d of [...body.dirs].reverse()) await chmod(safePath(opts.dir, d.path), d.mode).catch(() => {});
  progress(1, 'done');
  result.unreachable = [...fetcher.unreachable];
  return result;
}

/**
 * The backup's paths already in `dir`: files with the backup's content (`same`: their keyed chunk
 * ids are the manifest's, so the content is the same without fetching anything), files with other
 * content (`differing`), and entries of the wrong kind (`blocked`: a directory where a file goes
 * or the other way round), by their path in the backup.
 */
async function existing(dir: string, body: ManifestBody, keys: Keys): Promise<{ same: Set<string>; differing: string[]; blocked: string[] }> {
  const out = { same: new Set<string>(), differing: [] as string[], blocked: [] as string[] };
  const kind = (p: string) => lstat(safePath(dir, p)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? undefined : Promise.reject(e)));
  for (const d of body.dirs) {
    const st = await kind(d.path);
    if (st && !st.isDirectory()) out.blocked.push(d.path);
  }
  for (const f of body.files) {
    const st = await kind(f.path);
    if (!st) continue;
    if (st.isDirectory()) out.blocked.push(f.path);
    else if (st.isFile() && st.size === f.size && (await sameContent(safePath(dir, f.path), f, body, keys))) out.same.add(f.path);
    else out.differing.push(f.path);
  }
  return out;
}

/** Whether the file at `path` cuts into the chunks `f` lists (the backup's chunker, its keyed ids). */
async function sameContent(path: string, f: FileEntry, body: ManifestBody, keys: Keys): Promise<boolean> {
  const want = f.chunks.map((i) => body.chunks[i]!.id);
  const chunker = new Chunker(body.chunker);
  let at = 0;
  const matches = (chunk: Uint8Array) => want[at++] === Buffer.from(chunkId(keys, chunk)).toString('hex');
  for await (const block of createReadStream(path, { highWaterMark: 1 << 20 })) {
    for (const chunk of chunker.push(block as Buffer)) if (!matches(chunk)) return false;
  }
  for (const chunk of chunker.finish()) if (!matches(chunk)) return false;
  return at === want.length;
}
