/**
 * Proofs that a holder still has a share, without the owner downloading it (docs/audits.md):
 * precomputed challenge/answer pairs, sealed in the manifest.
 *
 *   auditKey   = HMAC-SHA256(sealKey, "canopy audit key v1")
 *   nonce_i    = HMAC-SHA256(auditKey, shareAddr(32 bytes) ‖ u32 BE i)[0..16)
 *   answer_i   = HMAC-SHA256(nonce_i, share bytes)[0..8)
 *
 * When a share is made (backup, repair) the owner has its bytes and computes the answers for
 * AUDIT_ROUNDS consecutive i from `from`; only the answers go into the manifest (ShareRef.audit).
 * An audit sends nonce_i for the next unused i (the ledger keeps the cursor: each i is used once);
 * the holder must hash the whole share with that fresh key to answer, so any change to any byte,
 * a lost share or another share in its place gives another answer (a guess is right with
 * probability 2^-64). The nonces come from the owner's key, so a holder cannot learn them ahead.
 *
 * On the wire (the `audit` store request) a challenge is 48 bytes, addr(32) ‖ nonce(16), and an
 * answer 8 bytes, in the frames' bodies.
 */
import { createHmac } from 'node:crypto';
import type { Keys } from './crypto.ts';

/** Answers armed per share: audits before it has to be armed again (from the phone's copy). */
export const AUDIT_ROUNDS = 16;
export const ANSWER_BYTES = 8;
export const CHALLENGE_NONCE_BYTES = 16;
export const CHALLENGE_BYTES = 32 + CHALLENGE_NONCE_BYTES;

/** What the manifest keeps per share: answers for i = from … from + AUDIT_ROUNDS - 1. */
export interface ShareAudit {
  from: number;
  /** Base64 of AUDIT_ROUNDS × ANSWER_BYTES. */
  answers: string;
}

export function auditKeyOf(keys: Pick<Keys, 'sealKey'>): Uint8Array {
  return createHmac('sha256', keys.sealKey).update('canopy audit key v1').digest();
}

export function auditNonce(auditKey: Uint8Array, addr: string, i: number): Uint8Array {
  const index = Buffer.alloc(4);
  index.writeUInt32BE(i);
  return createHmac('sha256', auditKey).update(Buffer.from(addr, 'hex')).update(index).digest().subarray(0, CHALLENGE_NONCE_BYTES);
}

/** The holder's answer: a keyed hash of every byte of the share under the fresh nonce. */
export function answerOf(nonce: Uint8Array, share: Uint8Array): Uint8Array {
  return createHmac('sha256', nonce).update(share).digest().subarray(0, ANSWER_BYTES);
}

/** The answers for a share the owner has in hand, from index `from`. */
export function armShare(auditKey: Uint8Array, addr: string, share: Uint8Array, from: number): ShareAudit {
  const out = Buffer.alloc(AUDIT_ROUNDS * ANSWER_BYTES);
  for (let j = 0; j < AUDIT_ROUNDS; j++) out.set(answerOf(auditNonce(auditKey, addr, from + j), share), j * ANSWER_BYTES);
  return { from, answers: out.toString('base64') };
}

/** The expected answer to challenge i, or undefined when i is outside the armed range. */
export function expectedAnswer(audit: ShareAudit | undefined, i: number): Buffer | undefined {
  if (!audit || i < audit.from || i >= audit.from + AUDIT_ROUNDS) return undefined;
  const j = i - audit.from;
  return Buffer.from(audit.answers, 'base64').subarray(j * ANSWER_BYTES, (j + 1) * ANSWER_BYTES);
}

export function encodeChallenges(challenges: readonly { addr: string; nonce: Uint8Array }[]): Uint8Array {
  const out = Buffer.alloc(challenges.length * CHALLENGE_BYTES);
  challenges.forEach((c, j) => {
    out.write(c.addr, j * CHALLENGE_BYTES, 32, 'hex');
    out.set(c.nonce, j * CHALLENGE_BYTES + 32);
  });
  return out;
}

export function decodeChallenges(body: Uint8Array): { addr: string; nonce: Uint8Array }[] | undefined {
  if (body.length % CHALLENGE_BYTES !== 0) return undefined;
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return Array.from({ length: body.length / CHALLENGE_BYTES }, (_, j) => ({
    addr: b.toString('hex', j * CHALLENGE_BYTES, j * CHALLENGE_BYTES + 32),
    nonce: b.subarray(j * CHALLENGE_BYTES + 32, (j + 1) * CHALLENGE_BYTES),
  }));
}

/**
 * The holder's side: answers for each challenge, from `read` (the share's bytes, or undefined when
 * it is not held or not intact). Returns the answers' body and the indexes it could not answer.
 */
export function answerChallenges(body: Uint8Array, read: (addr: string) => Uint8Array | undefined): { answers: Uint8Array; missing: number[] } | undefined {
  const challenges = decodeChallenges(body);
  if (!challenges) return undefined;
  const answers = Buffer.alloc(challenges.length * ANSWER_BYTES);
  const missing: number[] = [];
  challenges.forEach((c, j) => {
    const share = read(c.addr);
    if (share) answers.set(answerOf(c.nonce, share), j * ANSWER_BYTES);
    else missing.push(j);
  });
  return { answers, missing };
}
