/**
 * Storage receipts: a holder's signed word that it accepted a share (or manifest) of an owner.
 * Every store agent has an Ed25519 key (node:crypto), made on first start and kept in its store
 * directory (`agent-key.pem`, PKCS#8, mode 0600); its reply to a cold-class put carries a Receipt.
 * The owner keeps the receipts (ledger.ts), so it can later show what a neighbour took, and the
 * neighbour can show what it was asked to hold.
 *
 * The signature covers "canopy receipt v1\n" followed by the JSON array
 * [holder, owner, addr, size, at, key]: the fields in a fixed order, so no JSON canonicalisation
 * is needed. `key` is the holder's public key (SPKI DER, base64); the ledger pins the first key it
 * sees per holder, so a receipt signed by any other key is refused too.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CanopyError } from '../../common/errors.ts';

export interface Receipt {
  v: 1;
  /** The agent that accepted it. */
  holder: string;
  /** Whose entry it is. */
  owner: string;
  addr: string;
  size: number;
  /** Epoch ms of acceptance. */
  at: number;
  /** The holder's Ed25519 public key, SPKI DER, base64. */
  key: string;
  /** Ed25519 signature, base64. */
  sig: string;
}

export const AGENT_KEY_FILE = 'agent-key.pem';

export interface AgentKey {
  privateKey: KeyObject;
  /** SPKI DER, base64. */
  publicKey: string;
}

/** The agent's key in `dir`, made (and written atomically, 0600) the first time. */
export function loadOrCreateAgentKey(dir: string): AgentKey {
  const path = join(dir, AGENT_KEY_FILE);
  let privateKey: KeyObject;
  if (existsSync(path)) {
    try {
      privateKey = createPrivateKey(readFileSync(path));
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `the store agent's key ${path} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  } else {
    privateKey = generateKeyPairSync('ed25519').privateKey;
    writeKeyFile(path, privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  }
  return { privateKey, publicKey: createPublicKey(privateKey).export({ type: 'spki', format: 'der' }).toString('base64') };
}

/** A key file of the agent: written to a temporary name (mode 0600), fsynced and renamed, so a crash leaves the whole key or none. */
export function writeKeyFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

function signedBytes(r: Omit<Receipt, 'sig' | 'v'>): Buffer {
  return Buffer.from(`canopy receipt v1\n${JSON.stringify([r.holder, r.owner, r.addr, r.size, r.at, r.key])}`);
}

export function signReceipt(key: AgentKey, fields: { holder: string; owner: string; addr: string; size: number; at: number }): Receipt {
  const unsigned = { ...fields, key: key.publicKey };
  return { v: 1, ...unsigned, sig: sign(null, signedBytes(unsigned), key.privateKey).toString('base64') };
}

/**
 * The receipt, checked: its shape, its signature under its own key and, when given, that key is
 * `pinned` (the holder's known key). Anything else is CANOPY_ERR_STORE_CORRUPT naming the receipt.
 */
export function verifyReceipt(r: unknown, pinned?: string): Receipt {
  const x = r as Partial<Receipt> | null;
  const what = `receipt from "${String(x?.holder)}" for ${String(x?.addr)}`;
  const refuse = (why: string) => new CanopyError('CANOPY_ERR_STORE_CORRUPT', `${what} refused: ${why}`);
  if (
    !x ||
    x.v !== 1 ||
    typeof x.holder !== 'string' ||
    typeof x.owner !== 'string' ||
    typeof x.addr !== 'string' ||
    !Number.isInteger(x.size) ||
    !Number.isFinite(x.at) ||
    typeof x.key !== 'string' ||
    typeof x.sig !== 'string'
  ) {
    throw refuse('not a receipt (fields missing or of the wrong type)');
  }
  const receipt = x as Receipt;
  if (pinned !== undefined && receipt.key !== pinned) throw refuse(`signed by another key than the one "${receipt.holder}" signed with before`);
  let ok = false;
  try {
    const key = createPublicKey({ key: Buffer.from(receipt.key, 'base64'), format: 'der', type: 'spki' });
    ok = key.asymmetricKeyType === 'ed25519' && verify(null, signedBytes(receipt), key, Buffer.from(receipt.sig, 'base64'));
  } catch {
    ok = false;
  }
  if (!ok) throw refuse('its signature does not verify (altered after it was signed)');
  return receipt;
}
