/**
 * What `canopy phone`, `canopy backup` and `canopy restore` share on the command line: the store
 * settings (canopy.yaml's `store:` section, flags over it), secrets from the environment or a file
 * (never from a flag: flags show in `ps`), and the owner's connection to the mesh. On the simulated
 * site, with no login given, backup and restore use its phone's login (simulated-login.ts).
 */
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { readNamedFile } from '../named-files.ts';
import { dataDir, dataDirFrom, defaultConfig, findConfig, loadConfig, type CanopyConfig } from '../config.ts';
import { StoreClient } from './protocol.ts';
import { readSimulatedLogin, type SimulatedLogin } from './simulated-login.ts';

export const DEFAULT_BROKER = 'mqtt://127.0.0.1:1883';

/** The option table every store command accepts (node:util parseArgs). */
export const CONNECTION_OPTIONS = {
  config: { type: 'string' },
  broker: { type: 'string' },
  base: { type: 'string' },
  username: { type: 'string' },
  'password-file': { type: 'string' },
} as const;

/** What backup and restore add: the data directory, the neighbours, the passphrase file, the per-request timeout (ms). */
export const OWNER_OPTIONS = {
  ...CONNECTION_OPTIONS,
  owner: { type: 'string' },
  data: { type: 'string' },
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

export interface OwnerFlags extends ConnectionFlags {
  data?: string;
  neighbour?: string[];
  'passphrase-file'?: string;
}

type StoreSettings = NonNullable<CanopyConfig['store']>;

/**
 * canopy.yaml (from --config, or ./canopy.yaml or /etc/canopy/canopy.yaml when present), else the
 * defaults; the data directory as `canopy start` finds it (`data`: --data, then the file, then CANOPY_DATA).
 */
export function storeConfig(path: string | undefined, data?: string): { config: CanopyConfig; store: StoreSettings } {
  const found = path ?? findConfig();
  const dir = dataDirFrom(data, found);
  const overrides = dir === undefined ? undefined : { values: { dataDir: dir }, source: data ? '--data' : 'CANOPY_DATA' };
  const config = found ? loadConfig(found, overrides) : defaultConfig(overrides);
  return { config, store: config.store ?? { owner: 'phone', neighbours: [], k: 3, n: 6 } };
}

/** Who backs up or restores, to which neighbours, and how: what the flags, canopy.yaml and a running simulated site say. */
export interface OwnerContext {
  config: CanopyConfig;
  store: StoreSettings;
  owner: string;
  neighbours: readonly string[];
  /** The simulated site's phone login, used because no other login was given. */
  simulated?: SimulatedLogin & { file: string };
}

export function ownerContext(flags: OwnerFlags, note: (m: string) => void = (m) => process.stderr.write(`${m}\n`)): OwnerContext {
  const { config, store } = storeConfig(flags.config, flags.data);
  const owner = flags.owner ?? store.owner;
  const login = readSimulatedLogin(dataDir(config), (m) => note(`warning: ${m}`));
  // Its login only where nothing else is asked for: no password, and the same user and broker if named.
  const simulated =
    login &&
    flags['password-file'] === undefined &&
    !process.env.CANOPY_PASSWORD &&
    (flags.username ?? owner) === login.username &&
    (flags.broker ?? login.broker) === login.broker &&
    (flags.base ?? login.baseTopic) === login.baseTopic
      ? login
      : undefined;
  const neighbours = flags.neighbour ?? (store.neighbours.length > 0 || !simulated ? store.neighbours : simulated.neighbours);
  if (simulated) note(`canopy: the simulated site's phone "${simulated.username}" on ${simulated.broker}, with its neighbours (${neighbours.join(', ') || 'none'}): login from ${simulated.file}`);
  return { config, store, owner, neighbours, ...(simulated && { simulated }) };
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
 * The backup passphrase: CANOPY_PASSPHRASE, --passphrase-file, the simulated site's demo
 * passphrase (its phone holds backups sealed with it), or asked on the terminal without echo.
 */
export async function passphrase(file: string | undefined, simulated?: OwnerContext['simulated']): Promise<string> {
  const known = readSecret('CANOPY_PASSPHRASE', file, 'passphrase', !process.stdin.isTTY && !simulated);
  if (known !== undefined) return known;
  if (simulated) {
    process.stderr.write(`canopy: passphrase: the simulated site's demo passphrase, from ${simulated.file} (CANOPY_PASSPHRASE or --passphrase-file for another)\n`);
    return simulated.passphrase;
  }
  return askHidden('passphrase: ');
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

/** Connects the owner (or the given user) to the mesh as a store client; a refused login names the user and where its password came from. */
export async function connectOwner(flags: ConnectionFlags, ctx: OwnerContext, timeoutMs?: number): Promise<StoreClient> {
  const { simulated } = ctx;
  const username = flags.username ?? ctx.owner;
  const password = simulated?.password ?? readSecret('CANOPY_PASSWORD', flags['password-file'], 'password', false);
  const url = flags.broker ?? simulated?.broker ?? DEFAULT_BROKER;
  try {
    return await StoreClient.connect({ url, baseTopic: flags.base ?? simulated?.baseTopic ?? ctx.config.mesh.baseTopic, username, password, timeoutMs });
  } catch (e) {
    if (!isCanopyError(e, 'CANOPY_ERR_DENIED')) throw e;
    const from = simulated
      ? `the simulated site's login in ${simulated.file}`
      : flags['password-file'] !== undefined
        ? `--password-file ${flags['password-file']}`
        : password !== undefined
          ? 'CANOPY_PASSWORD'
          : undefined;
    const hint = from ? `its password came from ${from}` : 'no password was given: set CANOPY_PASSWORD or --password-file FILE';
    throw new CanopyError('CANOPY_ERR_DENIED', `${e.message}; ${hint} (--username NAME logs in as another user)`, { cause: e });
  }
}

export function intFlag(v: string | undefined, name: string, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--${name} must be an integer, got "${v}"`);
  return n;
}
