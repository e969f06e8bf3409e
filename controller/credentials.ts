/**
 * Mesh users kept in the data directory (`users.json`, scrypt hashes only, mode 0600). On the first
 * start there is no such file: Canopy creates an `admin` with a random password, prints it once
 * and keeps it in `initial-admin-password` (mode 0600) until the owner deletes it, the way
 * Jenkins keeps its initialAdminPassword — anonymous access stays off.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CanopyError } from '../common/errors.ts';
import type { Role } from './mesh/acl.ts';
import { hashPassword, UserDirectory, type MeshUser } from './mesh/users.ts';

export interface Credentials {
  users: MeshUser[];
  /** Set only when this call created the admin: the one time its password is known (also kept in `passwordFile`, mode 0600). */
  created?: { username: string; password: string; file: string; passwordFile: string };
}

/** Where the first admin's password is kept, in the data directory, until its owner deletes it. */
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';

export async function ensureUsers(dataDir: string): Promise<Credentials> {
  const file = join(dataDir, 'users.json');
  if (existsSync(file)) return { users: readUsers(file) };
  const password = newPassword();
  const users: MeshUser[] = [{ username: 'admin', role: 'admin', passwordHash: await hashPassword(password) }];
  writeUsers(dataDir, users);
  // Kept for the owner (as Jenkins keeps initialAdminPassword), readable by this user only.
  const passwordFile = join(dataDir, INITIAL_PASSWORD_FILE);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
  return { users, created: { username: 'admin', password, file, passwordFile } };
}

function readUsers(file: string): MeshUser[] {
  let users: unknown;
  try {
    users = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: not valid JSON (${(e as Error).message}); fix it or delete it to create a new admin`);
  }
  if (!Array.isArray(users)) throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: expected a list of users`);
  return users as MeshUser[];
}

function writeUsers(dataDir: string, users: MeshUser[]): string {
  mkdirSync(dataDir, { recursive: true });
  const file = join(dataDir, 'users.json');
  writeFileSync(file, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return file;
}

export function newPassword(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Adds a mesh user (or sets a new password and role for an existing one) in `users.json`, checked
 * as the mesh checks it. A running Canopy reads the file at start: restart it to let the user in.
 */
export async function setUser(dataDir: string, username: string, role: Role, password: string): Promise<{ file: string; replaced: boolean }> {
  const { users } = await ensureUsers(dataDir);
  const entry: MeshUser = { username, role, passwordHash: await hashPassword(password) };
  const i = users.findIndex((u) => u.username === username);
  const next = i >= 0 ? users.map((u, j) => (j === i ? entry : u)) : [...users, entry];
  new UserDirectory(next);
  return { file: writeUsers(dataDir, next), replaced: i >= 0 };
}

/** Removes a mesh user; the last admin stays (nobody could act on the mesh without one). */
export async function removeUser(dataDir: string, username: string): Promise<string> {
  const { users } = await ensureUsers(dataDir);
  const user = users.find((u) => u.username === username);
  if (!user) throw new CanopyError('CANOPY_ERR_NOT_FOUND', `no mesh user "${username}"; known: ${users.map((u) => u.username).join(', ')}`);
  const next = users.filter((u) => u !== user);
  if (user.role === 'admin' && !next.some((u) => u.role === 'admin')) throw new CanopyError('CANOPY_ERR_DENIED', `"${username}" is the last admin; add another admin first`);
  return writeUsers(dataDir, next);
}
