/**
 * Mesh users kept in the data directory (`users.json`, scrypt hashes only, mode 0600). On the first
 * start there is no such file: Canopy creates an `admin` with a random password and prints it
 * once, the way zigbee2mqtt's frontend prints its first token — anonymous access stays off.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CanopyError } from '../firmware-bridge/errors.ts';
import { hashPassword, type MeshUser } from './mesh/users.ts';

export interface Credentials {
  users: MeshUser[];
  /** Set only when this call created the admin: the one time its password is known. */
  created?: { username: string; password: string; file: string };
}

export async function ensureUsers(dataDir: string): Promise<Credentials> {
  const file = join(dataDir, 'users.json');
  if (existsSync(file)) {
    let users: unknown;
    try {
      users = JSON.parse(readFileSync(file, 'utf8'));
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: not valid JSON (${(e as Error).message}); fix it or delete it to create a new admin`);
    }
    if (!Array.isArray(users)) throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: expected a list of users`);
    return { users: users as MeshUser[] };
  }
  mkdirSync(dataDir, { recursive: true });
  const password = randomBytes(12).toString('base64url');
  const users: MeshUser[] = [{ username: 'admin', role: 'admin', passwordHash: await hashPassword(password) }];
  writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { users, created: { username: 'admin', password, file } };
}
