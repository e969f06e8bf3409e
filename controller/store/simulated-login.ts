/**
 * The simulated site's phone login, for `canopy backup` and `canopy restore` in a second terminal.
 * The simulated start (harness/simulated-start.ts) makes its phone's mesh password for the run and
 * writes it here, `<data>/sim-login.json`, mode 0600, with the broker's address, the simulated
 * neighbours and the demo repository's passphrase (kept across runs: the simulated phone's store
 * is). The store commands use it only when no login (or passphrase) is given and the process that
 * wrote it still runs; a real site never writes it, and a file others can read is ignored.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';

export const SIMULATED_LOGIN_FILE = 'sim-login.json';

export interface SimulatedLogin {
  /** The simulated start's process: the login is good while it runs. */
  pid: number;
  broker: string;
  baseTopic: string;
  username: string;
  password: string;
  neighbours: string[];
  /** The demo repository's passphrase (its scheduled backups and, by default, the user's own). */
  passphrase: string;
}

export function simulatedLoginPath(dataDir: string): string {
  return join(dataDir, SIMULATED_LOGIN_FILE);
}

/** The passphrase an earlier run wrote, or a new one: the simulated phone's repository outlives a run. */
export function demoPassphrase(dataDir: string): string {
  return readJson(simulatedLoginPath(dataDir))?.passphrase ?? randomBytes(18).toString('base64url');
}

/** Writes the login, readable by its owner only (written whole, then renamed into place). */
export function writeSimulatedLogin(dataDir: string, login: SimulatedLogin): string {
  mkdirSync(dataDir, { recursive: true });
  const file = simulatedLoginPath(dataDir);
  const partial = `${file}.partial`;
  writeFileSync(partial, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  chmodSync(partial, 0o600);
  renameSync(partial, file);
  return file;
}

/**
 * The login of a simulated site running from `dataDir`; undefined when there is none, its process
 * has ended, or the file is readable by others (then `warn` says so).
 */
export function readSimulatedLogin(dataDir: string, warn: (m: string) => void = () => {}): (SimulatedLogin & { file: string }) | undefined {
  const file = simulatedLoginPath(dataDir);
  if (!existsSync(file)) return undefined;
  if ((statSync(file).mode & 0o077) !== 0) {
    warn(`${file} is readable by others: not used (chmod 600 it, or restart the simulated site)`);
    return undefined;
  }
  const login = readJson(file);
  if (!login || typeof login.password !== 'string' || !isRunning(login.pid)) return undefined;
  return { ...login, file };
}

function readJson(file: string): SimulatedLogin | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as SimulatedLogin;
  } catch {
    return undefined;
  }
}

function isRunning(pid: unknown): boolean {
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0); // signal 0: only asks whether the process exists
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
