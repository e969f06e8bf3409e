/**
 * Mesh users kept in the data directory (`users.json`, scrypt hashes only, mode 0600). On the first
 * start there is no such file: Canopy creates an `admin` with a random password, prints it once
 * and keeps it in `initial-admin-password` (mode 0600) until the owner deletes it, the way
 * Jenkins keeps its initialAdminPassword — anonymous access stays off.
 * `canopy user` changes the file (each write a whole new file renamed over the old one); a running
 * mesh watches it (watchUsers) and takes each change at once.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { CanopyError, isCanopyError } from '../common/errors.ts';
import type { Role } from './mesh/acl.ts';
import { hashPassword, UserDirectory, type MeshUser } from './mesh/users.ts';

export interface Credentials {
  users: MeshUser[];
  /** The users file (`<dataDir>/users.json`). */
  file: string;
  /** Set only when this call created the admin: the one time its password is known (also kept in `passwordFile`, mode 0600). */
  created?: { username: string; password: string; file: string; passwordFile: string };
}

/** Where the first admin's password is kept, in the data directory, until its owner deletes it. */
export const INITIAL_PASSWORD_FILE = 'initial-admin-password';
const FIRST_ADMIN = 'admin';

export function usersFile(dataDir: string): string {
  return join(dataDir, 'users.json');
}

export async function ensureUsers(dataDir: string): Promise<Credentials> {
  const file = usersFile(dataDir);
  if (existsSync(file)) return { users: readUsersFile(file).users, file };
  const password = newPassword();
  const users: MeshUser[] = [{ username: FIRST_ADMIN, role: 'admin', passwordHash: await hashPassword(password) }];
  writeUsers(dataDir, users);
  // Kept for the owner (as Jenkins keeps initialAdminPassword), readable by this user only.
  const passwordFile = join(dataDir, INITIAL_PASSWORD_FILE);
  writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
  chmodSync(passwordFile, 0o600);
  return { users, file, created: { username: FIRST_ADMIN, password, file, passwordFile } };
}

/** The users of `file` and the text they came from (the watch compares against it). */
export function readUsersFile(file: string): { users: MeshUser[]; text: string } {
  const text = readFileSync(file, 'utf8');
  try {
    return { users: parseUsers(text, file), text };
  } catch (e) {
    if (!isCanopyError(e)) throw e;
    throw new CanopyError(e.code, `${e.message}; fix it, or delete it to create a new admin`, { cause: e });
  }
}

/** A users file's entries, each with a username, role and passwordHash (UserDirectory checks their values). */
export function parseUsers(text: string, file: string): MeshUser[] {
  let users: unknown;
  try {
    users = JSON.parse(text);
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: not valid JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(users)) throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: expected a list of users`);
  for (const [i, u] of users.entries()) {
    const entry = u as Partial<Record<keyof MeshUser, unknown>> | null;
    if (typeof entry !== 'object' || entry === null || typeof entry.username !== 'string' || typeof entry.role !== 'string' || typeof entry.passwordHash !== 'string') {
      throw new CanopyError('CANOPY_ERR_CONFIG', `${file}: users[${i}] is not { "username", "role", "passwordHash" }`);
    }
  }
  return users as MeshUser[];
}

/**
 * Writes the users as a new file renamed over the old one, so a reader (the running mesh) sees the
 * old file or the new one, never half of one. The new file keeps the old one's owner: `sudo
 * canopy user …` must leave it readable by the service's user.
 */
function writeUsers(dataDir: string, users: MeshUser[]): string {
  mkdirSync(dataDir, { recursive: true });
  const file = usersFile(dataDir);
  const temp = join(dataDir, `.users.json.${process.pid}.tmp`);
  try {
    writeFileSync(temp, `${JSON.stringify(users, null, 2)}\n`, { mode: 0o600 });
    chmodSync(temp, 0o600);
    if (existsSync(file)) {
      const { uid, gid } = statSync(file);
      if (process.getuid?.() === 0) chownSync(temp, uid, gid);
    }
    renameSync(temp, file);
  } catch (e) {
    rmSync(temp, { force: true });
    throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `${file}: cannot write it (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { cause: e });
  }
  return file;
}

export function newPassword(): string {
  return randomBytes(12).toString('base64url');
}

/**
 * Adds a mesh user, or sets a new password for an existing one, and its role when `role` is given
 * (without it an existing user keeps its role; a new one is a viewer). Checked as the mesh checks
 * it; demoting the last admin is refused.
 */
export async function setUser(dataDir: string, username: string, password: string, role?: Role): Promise<{ file: string; replaced: boolean; role: Role }> {
  const { users } = await ensureUsers(dataDir);
  const old = users.find((u) => u.username === username);
  const entry: MeshUser = { username, role: role ?? old?.role ?? 'viewer', passwordHash: await hashPassword(password) };
  const next = old ? users.map((u) => (u === old ? entry : u)) : [...users, entry];
  keepAnAdmin(users, next, `"${username}" is the last admin and stays one; make another admin first (canopy user add NAME --role admin)`);
  new UserDirectory(next);
  const file = writeUsers(dataDir, next);
  // The first admin's kept password is wrong from now on: it goes, rather than mislead.
  if (username === FIRST_ADMIN) rmSync(join(dataDir, INITIAL_PASSWORD_FILE), { force: true });
  return { file, replaced: old !== undefined, role: entry.role };
}

/** A new password for an existing mesh user (its role stays). */
export async function setPassword(dataDir: string, username: string, password: string): Promise<{ file: string; role: Role }> {
  const { users } = await ensureUsers(dataDir);
  knownUser(users, username);
  return setUser(dataDir, username, password);
}

/** Removes a mesh user; the last admin stays (nobody could act on the mesh without one). */
export async function removeUser(dataDir: string, username: string): Promise<string> {
  const { users } = await ensureUsers(dataDir);
  const user = knownUser(users, username);
  const next = users.filter((u) => u !== user);
  keepAnAdmin(users, next, `"${username}" is the last admin; make another admin first (canopy user add NAME --role admin)`);
  return writeUsers(dataDir, next);
}

function knownUser(users: MeshUser[], username: string): MeshUser {
  const user = users.find((u) => u.username === username);
  if (!user) throw new CanopyError('CANOPY_ERR_NOT_FOUND', `no mesh user "${username}"; known: ${users.map((u) => u.username).join(', ')}`);
  return user;
}

/** The last admin stays: without one nobody could launch, recall or change users from the mesh. */
function keepAnAdmin(before: MeshUser[], after: MeshUser[], refusal: string): void {
  const hasAdmin = (users: MeshUser[]) => users.some((u) => u.role === 'admin');
  if (hasAdmin(before) && !hasAdmin(after)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', refusal);
}

export interface UsersWatchOptions {
  /** Gets the users each time the file's content changes; a throw is reported as a refused change. */
  onUsers(users: MeshUser[]): void;
  /** A change that could not be taken, one line; the users stay as they were. */
  onError(message: string): void;
  /** Quiet time after the last event before the file is read. Default 100 ms. */
  debounceMs?: number;
  /** The file is also reread this often, for changes no event reported. Default 5 s. */
  pollMs?: number;
}

/**
 * Watches a users file for the running mesh, from `seen`, the text it holds now. fs.watch is on the
 * directory, not the file: a write-then-rename (`canopy user`'s, most editors') puts a new file in
 * its place, and a watch on the file would stay on the old one. The file is read once the events
 * have been quiet for debounceMs, and every pollMs anyway (network filesystems and full inotify
 * tables lose events). A content that does not parse, or that onUsers refuses, is reported once:
 * a file still being written is read again when its writer's next event comes. The result stops the watch.
 */
export function watchUsers(file: string, seen: string, opts: UsersWatchOptions): () => void {
  const { debounceMs = 100, pollMs = 5000 } = opts;
  let stopped = false;
  let reading: Promise<void> | undefined;
  let again = false;
  const check = async () => {
    do {
      again = false;
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        text = `\0${(e as NodeJS.ErrnoException).code}`;
        if (text !== seen && !stopped) opts.onError(`${file}: cannot read it (${(e as NodeJS.ErrnoException).code}); the mesh keeps the users it has`);
        seen = text;
        continue;
      }
      if (text === seen || stopped) continue;
      seen = text;
      const refused = (e: unknown) => opts.onError(`${e instanceof Error ? e.message : String(e)}; the mesh keeps the users it has`);
      let users: MeshUser[];
      try {
        users = parseUsers(text, file);
      } catch (e) {
        refused(e);
        continue;
      }
      try {
        opts.onUsers(users);
      } catch (e) {
        refused(new Error(`${file}: ${e instanceof Error ? e.message : String(e)}`));
      }
    } while (again && !stopped);
  };
  const read = () => {
    if (stopped) return;
    if (reading) {
      again = true;
      return;
    }
    reading = check().finally(() => (reading = undefined));
  };
  let timer: NodeJS.Timeout | undefined;
  const name = basename(file);
  let watcher: FSWatcher | undefined;
  try {
    watcher = watch(dirname(file), { persistent: false }, (_event, changed) => {
      if (changed !== null && changed !== name) return;
      clearTimeout(timer);
      timer = setTimeout(read, debounceMs);
      timer.unref();
    });
    watcher.on('error', (e) => {
      opts.onError(`${file}: cannot watch it any more (${e.message}); changes are seen within ${pollMs / 1000} s`);
      watcher?.close();
    });
  } catch (e) {
    opts.onError(`${file}: cannot watch it (${(e as NodeJS.ErrnoException).code}); changes are seen within ${pollMs / 1000} s`);
  }
  const poll = setInterval(read, pollMs);
  poll.unref();
  return () => {
    stopped = true;
    clearTimeout(timer);
    clearInterval(poll);
    watcher?.close();
  };
}
