/**
 * An audit round (docs/audits.md), the owner's side: every share the manifest places on a
 * neighbour is challenged with a fresh nonce (audit-proof.ts; one `audit` request per holder per
 * AUDIT_BATCH shares) and its answer compared with the one sealed in the manifest. Then:
 *   - the ledger (ledger.ts) records each holder's passes and failures and the bytes it proved it
 *     holds, and what the owner's phone holds for each neighbour (its cold entries), in byte-days;
 *   - shares that failed, and those of holders that did not answer, are repaired (repair.ts), their
 *     failed holder excluded for that chunk, while the power budget grants it;
 *   - shares with no answers left (or none yet: a manifest from before audits) are armed again from
 *     the phone's sealed copy (or k shares), while the grant lasts;
 *   - a new manifest is sealed and sent when either changed a share.
 * AuditSchedule runs rounds every `periodMs` under the same grant as repair.
 */
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { encodeFrame } from './protocol.ts';
import { Sender, type StoreTargets } from './backup.ts';
import { armShare, auditKeyOf, auditNonce, ANSWER_BYTES, AUDIT_ROUNDS, encodeChallenges, expectedAnswer } from './audit-proof.ts';
import { encodeShares } from './erasure.ts';
import type { Ledger } from './ledger.ts';
import { openManifest, sealManifest, type ChunkRef, type ShareRef } from './manifest.ts';
import { repair, shareKey, type RepairResult } from './repair.ts';

/** Challenges per request. */
export const AUDIT_BATCH = 256;

export interface AuditOptions extends StoreTargets {
  manifest: Uint8Array;
  passphrase: string;
  ledger: Ledger;
  /** The power budget's grant for repair and re-arming (the challenges themselves are cheap). Absent: always granted. */
  grant?: () => boolean;
  timeoutMs?: number;
  warn?: (msg: string) => void;
  now?: () => number;
}

export interface ShareFailure {
  chunk: string;
  index: number;
  addr: string;
  holder: string;
  why: 'missing' | 'wrong answer';
}

export interface AuditResult {
  /** Shares challenged. */
  audited: number;
  passed: number;
  failed: ShareFailure[];
  /** Holders that did not answer (their shares are repaired like a gone neighbour's). */
  unanswered: string[];
  /** Shares with no answers left (or none yet), and how many of them were armed again. */
  unarmed: number;
  armed: number;
  /** Bytes of the audit's requests and replies (frames), and of the shares they covered. */
  auditBytes: number;
  shareBytes: number;
  repair?: RepairResult;
  /** Work left for a grant: repair or re-arming withheld. */
  deferred: boolean;
  manifest?: Uint8Array;
  manifestAddr?: string;
}

export async function audit(opts: AuditOptions): Promise<AuditResult> {
  const now = opts.now ?? Date.now;
  const warn = opts.warn ?? (() => {});
  const { client, ledger } = opts;
  const { header, body, keys } = await openManifest(opts.manifest, opts.passphrase);
  const { k } = body.erasure;
  const key = auditKeyOf(keys);
  const result: AuditResult = { audited: 0, passed: 0, failed: [], unanswered: [], unarmed: 0, armed: 0, auditBytes: 0, shareBytes: 0, deferred: false };
  const shareSize = (c: ChunkRef) => Math.ceil(c.sealed / k);

  // Per holder: the shares it should have that still have answers armed.
  const toArm = new Set<ChunkRef>();
  const byHolder = new Map<string, { chunk: ChunkRef; share: ShareRef }[]>();
  for (const chunk of body.chunks) {
    for (const share of chunk.shares) {
      const next = Math.max(ledger.cursor(share.addr), share.audit?.from ?? 0);
      if (!expectedAnswer(share.audit, next)) {
        result.unarmed++;
        toArm.add(chunk);
        continue;
      }
      byHolder.set(share.holder, [...(byHolder.get(share.holder) ?? []), { chunk, share }]);
    }
  }

  const distrusted = new Set<string>();
  await Promise.all(
    [...byHolder].map(async ([holder, shares]) => {
      let passed = 0;
      let provenBytes = 0;
      const failed: ShareFailure[] = [];
      try {
        for (let at = 0; at < shares.length; at += AUDIT_BATCH) {
          const batch = shares.slice(at, at + AUDIT_BATCH);
          // The nonces' indexes are taken (and the cursor moved past them) before they are sent.
          const indexes = ledger.reserveChallenges(batch.map(({ share }) => ({ addr: share.addr, from: share.audit!.from })));
          const challenges = encodeChallenges(batch.map(({ share }, j) => ({ addr: share.addr, nonce: auditNonce(key, share.addr, indexes[j]!) })));
          const req = { op: 'audit' } as const;
          const reply = await client.request(holder, req, challenges, opts.timeoutMs);
          result.auditBytes += encodeFrame({ ...req, rid: '0000' }, challenges).length + encodeFrame({ rid: '0000', ok: true, data: reply.data }, reply.body).length;
          const missing = new Set(reply.data.missing);
          batch.forEach(({ chunk, share }, j) => {
            result.audited++;
            result.shareBytes += shareSize(chunk);
            const answer = reply.body.subarray(j * ANSWER_BYTES, (j + 1) * ANSWER_BYTES);
            if (!missing.has(j) && answer.length === ANSWER_BYTES && expectedAnswer(share.audit, indexes[j]!)!.equals(answer)) {
              passed++;
              provenBytes += shareSize(chunk);
            } else failed.push({ chunk: chunk.id, index: share.index, addr: share.addr, holder, why: missing.has(j) ? 'missing' : 'wrong answer' });
          });
        }
      } catch (e) {
        if (!isCanopyError(e, 'CANOPY_ERR_TIMEOUT') && !isCanopyError(e, 'CANOPY_ERR_LINK_DOWN')) throw e;
        result.unanswered.push(holder);
        warn(`neighbour "${holder}" did not answer its audit: its shares are repaired elsewhere when the power budget grants it`);
        return;
      }
      for (const f of failed) distrusted.add(shareKey(f));
      result.passed += passed;
      result.failed.push(...failed);
      ledger.audited(holder, passed, failed.length, provenBytes, now());
    }),
  );

  // What the owner's phone holds for each neighbour (its cold entries, by owner).
  try {
    const { data } = await client.request(opts.owner, { op: 'list', filter: { cls: 'cold' } }, undefined, opts.timeoutMs);
    const held = new Map<string, number>(opts.neighbours.map((nb) => [nb, 0]));
    for (const e of data.entries) if (e.owner !== opts.owner) held.set(e.owner, (held.get(e.owner) ?? 0) + e.size);
    for (const [nb, bytes] of held) ledger.holding(nb, 'byUs', bytes, now());
  } catch (e) {
    if (!isCanopyError(e)) throw e;
    warn(`the phone "${opts.owner}" did not list what it holds for neighbours: ${e.message}`);
  }

  const grant = opts.grant ?? (() => true);
  let changed = false;
  // Re-arming first, in memory: a repair then seals and sends the manifest with both.
  if (toArm.size > 0) {
    const sender = new Sender({ ...opts, k, n: body.erasure.n }, warn);
    for (const chunk of toArm) {
      if (!grant()) {
        result.deferred = true;
        break;
      }
      const sealed = await sender.sealedCopy(chunk, chunk.shares, opts.timeoutMs);
      if (!sealed) {
        warn(`chunk ${chunk.id}: neither the phone nor its shares give it, so its audit answers cannot be renewed`);
        continue;
      }
      const made = new Map(encodeShares(sealed, k, body.erasure.n).map((s) => [s.index, s.data]));
      for (const share of chunk.shares) {
        const next = Math.max(ledger.cursor(share.addr), share.audit?.from ?? 0);
        if (expectedAnswer(share.audit, next)) continue;
        share.audit = armShare(key, share.addr, made.get(share.index)!, next);
        result.armed++;
        changed = true;
      }
    }
  }

  if (result.failed.length > 0 || result.unanswered.length > 0) {
    const manifest = changed ? sealManifest({ ...header, createdAt: now() }, body, keys) : opts.manifest;
    result.repair = await repair({ ...opts, manifest, keys, distrusted, grant, auditFrom: (addr) => ledger.cursor(addr), ...(opts.timeoutMs !== undefined && { timeoutMs: opts.timeoutMs }) });
    if (result.repair.deferred > 0) result.deferred = true;
    if (result.repair.manifest) {
      result.manifest = result.repair.manifest;
      result.manifestAddr = result.repair.manifestAddr;
      return result;
    }
  }
  if (changed) {
    const sender = new Sender({ ...opts, k, n: body.erasure.n }, warn);
    await sender.init();
    result.manifest = sealManifest({ ...header, createdAt: now() }, body, keys);
    result.manifestAddr = await sender.sendManifest(result.manifest);
  }
  return result;
}

/** Publishes the ledger, retained, on `<base>/store/<owner>/ledger` (readers of the store class: the phone and admin roles). */
export function publishLedger(client: StoreTargets['client'], ledger: Ledger, owner: string, now = Date.now()): Promise<void> {
  const topic = client.tree.ledger(owner);
  return new Promise((resolve, reject) =>
    client.client.publish(topic, JSON.stringify(ledger.state(owner, now)), { qos: 1, retain: true }, (err) =>
      err ? reject(new CanopyError('CANOPY_ERR_LINK_DOWN', `the ledger was not published on ${topic}: ${err.message}`)) : resolve(),
    ),
  );
}

export interface ScheduleOptions {
  /** One round: resolves with its result (and the manifest to audit next time, when it changed). */
  round: () => Promise<AuditResult>;
  periodMs: number;
  /** The power budget's grant: a round due while it is withheld waits for it. */
  grant: () => boolean;
  /** How often a due round looks at the grant again. Default a minute. */
  retryMs?: number;
  onResult?: (r: AuditResult) => void;
  onError?: (e: unknown) => void;
  setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

/**
 * Audit rounds on a schedule under the power grant, as repair: a round is due every `periodMs`;
 * when it is due and the grant is withheld, it waits (looking again every `retryMs`) rather than
 * running, so audits and the repairs they start fall in hours of spare power.
 */
export class AuditSchedule {
  private timer: { cancel(): void } | undefined;
  private stopped = false;
  rounds = 0;
  waits = 0;

  constructor(private readonly opts: ScheduleOptions) {}

  start(): void {
    this.stopped = false;
    this.arm(0);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** Runs the due round now if the grant allows; returns whether it ran. */
  async tick(): Promise<boolean> {
    if (!this.opts.grant()) {
      this.waits++;
      this.arm(this.opts.retryMs ?? 60_000);
      return false;
    }
    try {
      const result = await this.opts.round();
      this.opts.onResult?.(result);
    } catch (e) {
      this.opts.onError?.(e);
    }
    this.rounds++;
    this.arm(this.opts.periodMs);
    return true;
  }

  private arm(ms: number): void {
    if (this.stopped) return;
    this.timer?.cancel();
    const set =
      this.opts.setTimer ??
      ((fn: () => void, delay: number) => {
        const t = setTimeout(fn, delay);
        t.unref();
        return { cancel: () => clearTimeout(t) };
      });
    this.timer = set(() => void this.tick(), ms);
  }
}
