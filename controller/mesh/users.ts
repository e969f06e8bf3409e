/**
 * Mesh users and their passwords. Passwords are stored as scrypt hashes (RFC 7914, node:crypto in worker threads: scrypt-pool.ts)
 * in the PHC string format `$scrypt$ln=<log2 N>,r=<r>,p=<p>$<salt>$<hash>` (base64 without
 * padding), so the parameters travel with the hash and can be raised later without breaking old
 * entries.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { CanopyError } from '../../common/errors.ts';
import { isRole, ROLES, type Principal, type Role } from './acl.ts';
import { ScryptPool } from './scrypt-pool.ts';

export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  logN: number;
  r: number;
  p: number;
}

/**
 * N = 2^14, r = 8, p = 5: OWASP's password-storage row for 16 MiB (the same work as its N = 2^17,
 * p = 1 minimum in an eighth of the memory); ≈ 0.14 s per check on a laptop core. The memory is
 * what a login holds while it is checked, and a flood of logins is the broker's to survive, so
 * the work is in p (run one after another in the same 16 MiB), not in N. Older hashes keep their
 * parameters (they travel in the PHC string); `canopy user add` of an existing name rehashes. A check
 * runs once per CONNECT, never per message.
 */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 14, r: 8, p: 5 };

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

export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT, salt: Uint8Array = randomBytes(SALT_BYTES), pool?: ScryptPool): Promise<string> {
  const hash = await derive(password, salt, params, HASH_BYTES, pool);
  return `$scrypt$ln=${params.logN},r=${params.r},p=${params.p}$${b64(salt)}$${b64(hash)}`;
}

/** True when `password` matches `encoded`; the comparison takes the same time for any mismatch. */
export async function verifyPassword(password: string | Uint8Array, encoded: string, pool?: ScryptPool): Promise<boolean> {
  const { params, salt, hash } = parsePasswordHash(encoded);
  const candidate = await derive(password, salt, params, hash.length, pool);
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

/**
 * The mesh's users, checked once at construction (fail fast, naming the bad entry). A running
 * mesh swaps in a new directory when users.json changes (Mesh.setUsers).
 */
export class UserDirectory {
  private readonly users = new Map<string, MeshUser>();
  private dummy: Promise<string> | undefined;
  /** Unknown names are checked against a dummy hash with the parameters real entries use. */
  private dummyParams: ScryptParams = DEFAULT_SCRYPT;

  /** `pool`: the threads its checks run in (the mesh gives it maxConcurrentLogins of them). */
  constructor(
    users: readonly MeshUser[],
    private readonly pool?: ScryptPool,
  ) {
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

  /** The entry of `username`, if there is one. */
  get(username: string): MeshUser | undefined {
    return this.users.get(username);
  }

  get usernames(): string[] {
    return [...this.users.keys()];
  }

  /**
   * The user when the password matches, else undefined. An unknown name costs one scrypt too, so
   * response time does not tell which usernames exist.
   */
  async authenticate(username: string, password: Uint8Array): Promise<Principal | undefined> {
    const user = this.users.get(username);
    if (!user) {
      this.dummy ??= hashPassword('', this.dummyParams, new Uint8Array(SALT_BYTES), this.pool);
      await verifyPassword(password, await this.dummy, this.pool);
      return undefined;
    }
    return (await verifyPassword(password, user.passwordHash, this.pool)) ? { username: user.username, role: user.role } : undefined;
  }
}

/** Checks outside a directory (hashing for `canopy user add`, tests) share one thread. */
const shared = new ScryptPool(1);

function derive(password: string | Uint8Array, salt: Uint8Array, params: ScryptParams, dkLen: number, pool = shared): Promise<Uint8Array> {
  return pool.derive({ password, salt, dkLen, N: 2 ** params.logN, r: params.r, p: params.p });
}

function b64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}
