/**
 * Repair (Tahoe-LAFS's check and repair): find the shares a backup has lost — a neighbour that no
 * longer answers, or one that answers without the share — and, while the power budget grants it,
 * re-create them on other neighbours. A lost share is rebuilt byte for byte (the code is
 * systematic and deterministic: encoding the same sealed chunk gives the same shares), from the
 * phone's sealed copy or from k surviving shares; only its holder changes. The updated placement
 * goes into a new manifest, sent like a backup's.
 */
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { addressOf } from './chunk-store.ts';
import { Sender, type StoreTargets } from './backup.ts';
import { decodeShares, type Share } from './erasure.ts';
import { openManifest, sealManifest, type ChunkRef, type ShareRef } from './manifest.ts';

export interface RepairOptions extends StoreTargets {
  manifest: Uint8Array;
  passphrase: string;
  /** Asked before each chunk is rebuilt: the power budget's grant. Absent: always granted. */
  grant?: () => boolean;
  timeoutMs?: number;
  warn?: (msg: string) => void;
  progress?: (fraction: number, detail: string) => void;
}

export interface RepairResult {
  chunks: number;
  /** Chunks that had all n shares. */
  healthy: number;
  /** Neighbours that did not answer. */
  gone: string[];
  lostShares: number;
  recreated: number;
  /** Chunks left short because the grant was withheld. */
  deferred: number;
  /** Chunks that could not be rebuilt (no phone copy and fewer than k shares), by id. */
  unrecoverable: string[];
  /** The new manifest, when any share moved. */
  manifest?: Uint8Array;
  manifestAddr?: string;
}

export async function repair(opts: RepairOptions): Promise<RepairResult> {
  const { client } = opts;
  const { header, body, keys } = await openManifest(opts.manifest, opts.passphrase);
  const { k, n } = body.erasure;
  const sender = new Sender({ ...opts, k, n }, opts.warn);
  await sender.init();
  const result: RepairResult = { chunks: body.chunks.length, healthy: 0, gone: [], lostShares: 0, recreated: 0, deferred: 0, unrecoverable: [] };

  // Which shares are still where the manifest says: one `has` per holder.
  const byHolder = new Map<string, ShareRef[]>();
  for (const c of body.chunks) for (const s of c.shares) byHolder.set(s.holder, [...(byHolder.get(s.holder) ?? []), s]);
  const alive = new Set<ShareRef>();
  for (const [holder, shares] of byHolder) {
    try {
      const { data } = await client.request(holder, { op: 'has', addrs: shares.map((s) => s.addr) }, undefined, opts.timeoutMs);
      shares.forEach((s, i) => data.present[i] && alive.add(s));
    } catch (e) {
      if (!isCanopyError(e, 'CANOPY_ERR_TIMEOUT') && !isCanopyError(e, 'CANOPY_ERR_LINK_DOWN')) throw e;
      result.gone.push(holder);
      sender.dead.add(holder);
    }
  }

  let changed = false;
  for (const [seq, ref] of body.chunks.entries()) {
    opts.progress?.(seq / body.chunks.length, `chunk ${seq + 1} of ${body.chunks.length}`);
    const live = ref.shares.filter((s) => alive.has(s));
    const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !live.some((s) => s.index === i));
    if (missing.length === 0) {
      result.healthy++;
      continue;
    }
    result.lostShares += missing.length;
    if (opts.grant && !opts.grant()) {
      result.deferred++;
      continue;
    }
    const sealed = await sealedCopy(opts, ref, live, k, n);
    if (!sealed) {
      result.unrecoverable.push(ref.id);
      continue;
    }
    const placed = await sender.placeShares(seq, sealed, missing, live.map((s) => s.holder));
    if (placed.length > 0 || live.length !== ref.shares.length) changed = true;
    ref.shares = [...live, ...placed].sort((a, b) => a.index - b.index);
    result.recreated += placed.length;
  }

  opts.progress?.(1, 'checked');
  if (changed) {
    result.manifest = sealManifest({ ...header, createdAt: Date.now() }, body, keys);
    result.manifestAddr = await sender.sendManifest(result.manifest);
  }
  return result;
}

/** The sealed chunk: the phone's copy if intact, else decoded from k live shares. */
async function sealedCopy(opts: RepairOptions, ref: ChunkRef, live: ShareRef[], k: number, n: number): Promise<Uint8Array | undefined> {
  try {
    const { body } = await opts.client.request(opts.owner, { op: 'get', addr: ref.addr }, undefined, opts.timeoutMs);
    if (addressOf(body) === ref.addr) return body;
  } catch (e) {
    if (!isCanopyError(e)) throw e;
  }
  const got: Share[] = [];
  for (const s of live) {
    if (got.length === k) break;
    try {
      const { body } = await opts.client.request(s.holder, { op: 'get', addr: s.addr }, undefined, opts.timeoutMs);
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
