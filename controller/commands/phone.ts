/**
 * `canopy phone --store DIR [--broker URL] [--http PORT]`: the store agent on the owner's (or a
 * neighbour's) phone, under Termux or in the simulation; runs until SIGINT/SIGTERM. With --http it
 * also streams the hot cache to the mesh's users (hot-http.ts, docs/cdn.md).
 * `canopy phone scrub --store DIR` re-reads and re-hashes every chunk and names the damaged ones;
 * `canopy phone usage --store DIR` prints what each class holds;
 * `canopy phone grant ITEM --store DIR` prints a grant token for one hot item.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDuration } from '../../common/duration.ts';
import { CanopyError } from '../../common/errors.ts';
import { dataDir } from '../config.ts';
import { readUsersFile, usersFile } from '../credentials.ts';
import { UserDirectory } from '../mesh/users.ts';
import { issueGrant } from '../store/hot-http.ts';
import { HotItems } from '../store/hot-items.ts';
import { Ledger } from '../store/ledger.ts';
import { streamLogger, type Logger } from '../../firmware-bridge/log.ts';
import { progressBar } from '../progress.ts';
import { ChunkStore, type StoreClass } from '../store/chunk-store.ts';
import { CONNECTION_OPTIONS, DEFAULT_BROKER, readSecret, storeConfig } from '../store/command-line.ts';
import { PhoneAgent } from '../store/phone-agent.ts';
import { parseSize } from '../store/size.ts';

export async function run(args: string[]): Promise<number> {
  const verb = args[0] === 'scrub' || args[0] === 'usage' || args[0] === 'grant' ? args[0] : undefined;
  const { values, positionals } = parseArgs({
    args: verb ? args.slice(1) : args,
    allowPositionals: verb === 'grant',
    options: {
      ...CONNECTION_OPTIONS,
      store: { type: 'string' },
      name: { type: 'string' },
      bodies: { type: 'string', default: 'sqlite' },
      'quota-own': { type: 'string' },
      'quota-cold': { type: 'string' },
      'quota-hot': { type: 'string' },
      ingest: { type: 'string' },
      'no-neighbours': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      http: { type: 'string' },
      'http-host': { type: 'string' },
      users: { type: 'string' },
      data: { type: 'string' },
      for: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      url: { type: 'string' },
    },
  });
  if (!values.store) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'give the store directory: canopy phone --store DIR');
  if (values.bodies !== 'sqlite' && values.bodies !== 'files') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--bodies must be sqlite or files, got "${values.bodies}"`);
  const { config, store: settings } = storeConfig(values.config, values.data);
  const httpPort = values.http === undefined ? undefined : Number(values.http);
  if (httpPort !== undefined && (!Number.isInteger(httpPort) || httpPort < 0 || httpPort > 65535)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--http must be a port number (0–65535), got "${values.http}"`);
  const quota = (c: StoreClass) => {
    const flag = values[`quota-${c}`];
    return flag !== undefined ? parseSize(flag, `--quota-${c}`) : settings.quotas?.[c];
  };
  const store = new ChunkStore({ dir: values.store, bodies: values.bodies, quotas: { own: quota('own'), cold: quota('cold'), hot: quota('hot') } });
  try {
    if (verb === 'usage') {
      const usage = store.usage();
      if (values.json) console.log(JSON.stringify(usage));
      else for (const [c, u] of Object.entries(usage)) console.log(`${c.padEnd(5)} ${String(u.items).padStart(8)} chunks ${String(u.bytes).padStart(14)} bytes${u.quota === null ? '' : ` of ${u.quota}`}`);
      return 0;
    }
    if (verb === 'scrub') {
      const bar = progressBar('scrub');
      const report = await store.scrub((done, total) => bar(done / total, `${done}/${total}`));
      if (report.checked === 0) bar(1, 'empty store');
      if (values.json) console.log(JSON.stringify(report));
      else {
        console.log(`checked ${report.checked} chunks, ${report.bytes} bytes: ${report.corrupt.length === 0 ? 'all intact' : `${report.corrupt.length} damaged`}`);
        for (const c of report.corrupt) console.log(`damaged: ${c.addr} (${c.cls}, owner ${c.owner}, ${c.tag || 'untagged'}, ${c.size} bytes)`);
      }
      return report.corrupt.length === 0 ? 0 : 1;
    }
    if (verb === 'grant') {
      const item = positionals[0];
      if (!item || positionals.length > 1) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'name one hot item: canopy phone grant ITEM --store DIR [--for USER] [--ttl 1h]');
      const hot = new HotItems(store);
      try {
        if (!hot.find(item)) throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `no hot item "${item}" in ${values.store} (canopy phone usage shows what it holds)`);
        const token = issueGrant(hot, { item, expiresAt: Date.now() + parseDuration(values.ttl), ...(values.for !== undefined && { user: values.for }) });
        console.log(values.url ? `${values.url.replace(/\/+$/, '')}/hot/${item}?grant=${token}` : token);
      } finally {
        hot.close();
      }
      return 0;
    }
    const name = values.name ?? values.username ?? settings.owner;
    const log = streamLogger({ level: 'info' });
    // The hot cache over HTTP: the mesh's users from the site's users.json (read again when it changes), the ledger counting neighbours' bytes.
    const users = httpPort === undefined ? undefined : usersGetter(values.users ?? usersFile(dataDir(config)), log);
    const ledger = httpPort === undefined ? undefined : new Ledger(dataDir(config));
    const http = users && { port: httpPort, host: values['http-host'], users, reciprocity: ledger };
    const agent = new PhoneAgent({
      store,
      url: values.broker ?? DEFAULT_BROKER,
      baseTopic: values.base ?? config.mesh.baseTopic,
      username: values.username ?? (values.ingest ? undefined : name),
      password: readSecret('CANOPY_PASSWORD', values['password-file'], 'password', false),
      name,
      serveNeighbours: !values['no-neighbours'] && !values.ingest,
      ingest: values.ingest,
      log,
      ...(http && { http }),
    });
    try {
      await agent.start();
    } catch (e) {
      ledger?.close();
      throw e;
    }
    console.log(`store agent "${name}" serving ${values.store} on ${values.broker ?? DEFAULT_BROKER}${values.ingest ? ` (keeping what the relay delivers under ${values.ingest})` : ''}`);
    if (agent.http) console.log(`hot cache on ${agent.http.url('ITEM')} (mesh users by Basic auth, or ?grant= from canopy phone grant)`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await agent.stop();
    ledger?.close();
    return 0;
  } finally {
    store.close();
  }
}

/**
 * The users of `file` (users.json), read again when its modification time or size changes. A file
 * that cannot be read or does not parse (being rewritten) leaves the users as they were, as the
 * mesh does (credentials.ts watchUsers), said once in the log.
 */
function usersGetter(file: string, log: Logger): () => UserDirectory {
  const stamp = () => {
    try {
      const st = statSync(file);
      return `${st.mtimeMs}:${st.size}`;
    } catch (e) {
      return `\0${(e as NodeJS.ErrnoException).code}`;
    }
  };
  let seen = stamp();
  let users: UserDirectory;
  try {
    users = new UserDirectory(readUsersFile(file).users);
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `--http needs the mesh's users: ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}; give --users FILE (the site's users.json)`, { cause: e });
  }
  return () => {
    const now = stamp();
    if (now === seen) return users;
    seen = now;
    try {
      users = new UserDirectory(readUsersFile(file).users);
      log.info('mesh users read again', { file, users: users.usernames.length });
    } catch (e) {
      log.warn('mesh users not read again: the ones before stay', { file, error: (e as Error).message });
    }
    return users;
  };
}
