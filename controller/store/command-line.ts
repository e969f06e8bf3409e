/**
 * What `canopy phone`, `canopy backup` and `canopy restore` share on the command line: the store
 * settings (canopy.yaml's `store:` section, flags over it), secrets from the environment or a file
 * (never from a flag: flags show in `ps`), and the owner's connection to the mesh.
 */
import { CanopyError } from '../../common/errors.ts';
import { readNamedFile } from '../named-files.ts';
import { defaultConfig, findConfig, loadConfig, type CanopyConfig } from '../config.ts';
import { StoreClient } from './protocol.ts';

export const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

/** The option table every store command accepts (node:util parseArgs). */
export const CONNECTION_OPTIONS = {
  config: { type: 'string' },
  broker: { type: 'string' },
  base: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
} as const;

/** What backup and restore add: the neighbours, the passphrase file, the per-request timeout (ms). */
export const OWNER_OPTIONS = {
  ...CONNECTION_OPTIONS,
  owner: { type: 'string' },
  neighbour: { type: 'string', multiple: true },
  'passphrase-file': { type: 'string' },
  timeout: { type: 'string' },
} as const;

export interface ConnectionFlags {
  config?: string;
  broker?: string;
  base?: string;
  owner?: string;
  username?: string;
  'password-file'?: string;
}

/** canopy.yaml (from --config, or ./canopy.yaml or /etc/canopy/canopy.yaml when present), else the defaults. */
export function storeConfig(path: string | undefined): { config: CanopyConfig; store: NonNullable<CanopyConfig['store']> } {
  const found = path ?? findConfig();
  const config = found ? loadConfig(found) : defaultConfig();
  return { config, store: config.store ?? { owner: 'phone', neighbours: [], k: 3, n: 6 } };
}

/** A secret from `env` or from `file`; undefined when neither is given (and `required` is false). */
export function readSecret(env: string, file: string | undefined, what: string, required = true): string | undefined {
  if (file !== undefined) {
    return readNamedFile(file, `${what} file`).toString('utf8').replace(/\r?\n$/, '');
  }
  const v = process.env[env];
  if (v) return v;
  if (required) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `no ${what}: set ${env} or give --${what.replace(/ /g, '-')}-file FILE`);
  return undefined;
}

/**
 * The backup passphrase: CANOPY_PASSPHRASE, --passphrase-file, or asked on the terminal without
 * echo when there is one.
 */
export async function passphrase(file: string | undefined): Promise<string> {
  const known = readSecret('CANOPY_PASSPHRASE', file, 'passphrase', !process.stdin.isTTY);
  return known ?? askHidden('passphrase: ');
}

function askHidden(question: string): Promise<string> {
  const input = process.stdin;
  input.setRawMode(true); // no echo, from before the question shows
  input.resume();
  process.stderr.write(question);
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (e?: Error) => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (e) reject(e);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new CanopyError('CANOPY_ERR_CANCELLED', 'no passphrase given (Ctrl-C)'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}

/** Connects the owner (or the given user) to the mesh as a store client. */
export async function connectOwner(flags: ConnectionFlags, config: CanopyConfig, owner: string, timeoutMs?: number): Promise<StoreClient> {
  const username = flags.username ?? owner;
  return StoreClient.connect({
    url: flags.broker ?? DEFAULT_BROKER,
    baseTopic: flags.base ?? config.mesh.baseTopic,
    username,
    password: readSecret('CANOPY_PASSWORD', flags['password-file'], 'password', false),
    timeoutMs,
  });
}

export function intFlag(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} must be an integer, got "${v}"`);
  return n;
}
