/**
 * Repair (Tahoe-LAFS's check and repair): find the shares a backup has lost — a neighbour that no
 * longer answers, or one that answers without the share — and, while the power budget grants it,
 * re-create them on other neighbours; shares crowded on fewer neighbours than there now are (the
 * backup was made before the others joined) move to the new ones (backup.ts's underPlaced). A lost share is rebuilt byte for byte (the code is
 * systematic and deterministic: encoding the same sealed chunk gives the same shares), from the
 * phone's sealed copy or from k surviving shares; only its holder changes. The updated placement
 * goes into a new manifest, sent like a backup's.
 */
import { isCanopyError } from '../../common/errors.ts';
import { isUnderPlaced, Sender, underPlaced, type StoreTargets } from './backup.ts';
import { openManifest, sealManifest, type ShareRef } from './manifest.ts';
import { auditKeyOf } from './audit-proof.ts';
import type { Keys } from './crypto.ts';

/** A share as an audit names it: its holder and address. */
export const shareKey = (s: Pick<ShareRef, 'holder' | 'addr'>): string => `${s.holder}\u0000${s.addr}`;

export interface RepairOptions extends StoreTargets {
  manifest: Uint8Array;
  passphrase: string;
  /** Asked before each chunk is rebuilt: the power budget's grant. Absent: always granted. */
  grant?: () => boolean;
  timeoutMs?: number;
  warn?: (msg: string) => void;
  progress?: (fraction: number, detail: string) => void;
  /** The manifest's keys, when the caller has them (no second key derivation). */
  keys?: Keys;
  /** Shares that failed an audit (shareKey): lost, whatever their holder answers to `has`; their holder gets none of that chunk back. */
  distrusted?: ReadonlySet<string>;
}

export interface RepairResult {
  chunks: number;
  /** Chunks that had all n shares, spread over as many neighbours as there are (up to n). */
  healthy: number;
  /** Neighbours that did not answer. */
  gone: string[];
  lostShares: number;
  recreated: number;
  /** Shares moved from a neighbour holding several of a chunk to one holding none. */
  moved: number;
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
  const { header, body, keys } = await openManifest(opts.manifest, opts.passphrase, { ...(opts.keys && { keys: opts.keys }) });
  const { k, n } = body.erasure;
  const sender = new Sender({ ...opts, k, n }, opts.warn);
  sender.auditKey = auditKeyOf(keys);
  await sender.init();
  const distrusted = opts.distrusted ?? new Set<string>();
  const result: RepairResult = { chunks: body.chunks.length, healthy: 0, gone: [], lostShares: 0, recreated: 0, moved: 0, deferred: 0, unrecoverable: [] };

  // Which shares are still where the manifest says: one `has` per holder.
  const byHolder = new Map<string, ShareRef[]>();
  for (const c of body.chunks) for (const s of c.shares) byHolder.set(s.holder, [...(byHolder.get(s.holder) ?? []), s]);
  const alive = new Set<ShareRef>();
  for (const [holder, shares] of byHolder) {
    try {
      const { data } = await client.request(holder, { op: 'has', addrs: shares.map((s) => s.addr) }, undefined, opts.timeoutMs);
      shares.forEach((s, i) => data.present[i] && !distrusted.has(shareKey(s)) && alive.add(s));
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
    const plan = underPlaced(live, n, sender.liveNeighbours());
    if (!isUnderPlaced(plan)) {
      result.healthy++;
      continue;
    }
    result.lostShares += plan.missing.length;
    if (opts.grant && !opts.grant()) {
      result.deferred++;
      continue;
    }
    const sealed = await sender.sealedCopy(ref, live, opts.timeoutMs);
    if (!sealed) {
      result.unrecoverable.push(ref.id);
      continue;
    }
    const failedHolders = new Set(ref.shares.filter((s) => distrusted.has(shareKey(s))).map((s) => s.holder));
    const r = await sender.topUp(seq, live, sealed, plan, failedHolders);
    if (r.recreated + r.moved > 0 || live.length !== ref.shares.length) changed = true;
    ref.shares = r.shares;
    result.recreated += r.recreated;
    result.moved += r.moved;
  }

  opts.progress?.(1, 'checked');
  if (changed) {
    result.manifest = sealManifest({ ...header, createdAt: Date.now() }, body, keys);
    result.manifestAddr = await sender.sendManifest(result.manifest);
  }
  return result;
}
