/**
 * Mesh users and their passwords. Passwords are stored as scrypt hashes (RFC 7914, node:crypto)
 * in the PHC string format `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (base64 without
 * padding), so the parameters travel with the hash and can be raised later without breaking old
 * entries.
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { CanopyError } from '../../firmware-bridge/errors.ts';
import { isRole, ROLES, type Principal, type Role } from './acl.ts';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number;
  r: number;
  p: number;
}

/**
 * N = 2^15, r = 8, p = 1: 32 MiB and ≈ 0.15 s per check on a laptop, ≈ 1 s on a Raspberry Pi 4
 * (pure JS). OWASP's minimum is N = 2^17; raise logN where the hardware allows — a check runs once
 * per CONNECT, never per message.
 */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 15, r: 8, p: 1 };

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PHC = /^\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export interface MeshUser {
  username: string;
  role: Role;
  /** A `hashPassword` result; never the password itself. */
  passwordHash: string;
}

interface ParsedHash {
  params: ScryptParams;
  salt: Uint8Array;
  hash: Uint8Array;
}

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT, salt: Uint8Array = randomBytes(SALT_BYTES)): Promise<string> {
  const hash = await derive(password, salt, params, HASH_BYTES);
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** True when `password` matches `encoded`; the comparison takes the same time for any mismatch. */
export async function verifyPassword(password: string | Uint8Array, encoded: string): Promise<boolean> {
  const { params, salt, hash } = parsePasswordHash(encoded);
  const candidate = await derive(password, salt, params, hash.length);
  return timingSafeEqual(candidate, hash);
}

export function parsePasswordHash(encoded: string): ParsedHash {
  const m = PHC.exec(encoded);
  if (!m) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'password hash is not a "$scrypt$ln=…,r=…,p=…$salt$hash" string; make one with hashPassword()');
  const params = { logN: Number(m[1]), r: Number(m[2]), p: Number(m[3]) };
  if (params.logN < 1 || params.logN > 20 || params.r < 1 || params.p < 1) {
    throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `scrypt parameters out of range: ln=${params.logN} (1..20), r=${params.r}, p=${params.p}`);
  }
  return { params, salt: Buffer.from(m[4]!, 'base64'), hash: Buffer.from(m[5]!, 'base64') };
}

/** Usernames become topic levels (a neighbour's store topics), so they may not contain / + # $. */
const USERNAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** The mesh's users, checked once at construction (fail fast, naming the bad entry). */
export class UserDirectory {
  private readonly users = new Map<string, MeshUser>();
  private dummy: Promise<string> | undefined;
  /** Unknown names are checked against a dummy hash with the parameters real entries use. */
  private dummyParams: ScryptParams = DEFAULT_SCRYPT;

  constructor(users: readonly MeshUser[]) {
    for (const [i, u] of users.entries()) {
      if (!USERNAME.test(u.username)) {
        throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `users[${i}].username "${u.username}": use 1–64 letters, digits, "_", "." or "-"`);
      }
      if (!isRole(u.role)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `users[${i}].role "${u.role}": one of ${ROLES.join(', ')}`);
      if (this.users.has(u.username)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `users[${i}].username "${u.username}" appears twice`);
      this.dummyParams = parsePasswordHash(u.passwordHash).params;
      this.users.set(u.username, u);
    }
  }

  /**
   * The user when the password matches, else undefined. An unknown name costs one scrypt too, so
   * response time does not tell which usernames exist.
   */
  async authenticate(username: string, password: Uint8Array): Promise<Principal | undefined> {
    const user = this.users.get(username);
    if (!user) {
      this.dummy ??= hashPassword('', this.dummyParams, new Uint8Array(SALT_BYTES));
      await verifyPassword(password, await this.dummy);
      return undefined;
    }
    return (await verifyPassword(password, user.passwordHash)) ? { username: user.username, role: user.role } : undefined;
  }
}

/**
 * node:crypto's scrypt (OpenSSL, RFC 7914): it runs on the libuv thread pool, so a login does not
 * hold the event loop, and its 128·N·r bytes of work memory are freed when it returns, so logins
 * one after another do not pile 32 MiB buffers up for the garbage collector (they did with a
 * JavaScript scrypt: a flood of failed logins grew RSS by up to 60 MB). maxmem is the work memory
 * the parameters need plus a margin; node's default (32 MiB) is just under N = 2^15, r = 8.
 */
function derive(password: string | Uint8Array, salt: Uint8Array, params: ScryptParams, dkLen: number): Promise<Uint8Array> {
  const N = 2 ** params.logN;
  return new Promise((resolve, reject) =>
    scrypt(password, salt, dkLen, { N, r: params.r, p: params.p, maxmem: 128 * N * params.r + 1024 * 1024 * params.p }, (err, key) => (err ? reject(err) : resolve(key))),
  );
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}
