/**
 * `canopy backup PATH`: content-defined chunks, sealed, to the phone, the uplink relay and k-of-n
 * shares on the neighbours; writes the sealed manifest to a local file (a restore needs it, or its
 * address, and the passphrase). `canopy backup --repair MANIFEST` re-creates the shares of
 * neighbours that went away, while the power budget grants it (the retained `<base>/power`).
 * The passphrase comes from CANOPY_PASSPHRASE, --passphrase-file or, on a terminal, a prompt.
 */
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { readNamedFile, writeNamedFile } from '../named-files.ts';
import { decodeJson, type PowerState } from '../../common/topics.ts';
import { progressBar } from '../progress.ts';
import { backup } from '../store/backup.ts';
import { connectOwner, intFlag, OWNER_OPTIONS, passphrase, storeConfig } from '../store/command-line.ts';
import { DEFAULT_KDF } from '../store/crypto.ts';
import { repair } from '../store/repair.ts';
import type { StoreClient } from '../store/protocol.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...OWNER_OPTIONS,
      k: { type: 'string' },
      n: { type: 'string' },
      manifest: { type: 'string' },
      'no-uplink': { type: 'boolean', default: false },
      'scrypt-log-n': { type: 'string' },
      repair: { type: 'string' },
      'seal-workers': { type: 'string' },
    },
  });
  const path = positionals[0];
  if (!path && !values.repair) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'give what to back up: canopy backup PATH (or canopy backup --repair MANIFEST)');
  const { config, store } = storeConfig(values.config);
  const owner = values.owner ?? store.owner;
  // Worker threads that seal chunks (seal-pool.ts); 0 seals in the main thread.
  const sealers = values['seal-workers'] === undefined ? undefined : intFlag(values['seal-workers'], 'seal-workers', 0);
  const secret = await passphrase(values['passphrase-file']);
  const timeoutMs = intFlag(values.timeout, 'timeout', 10_000);
  const client = await connectOwner(values, config, owner, timeoutMs);
  const targets = {
    client,
    owner,
    neighbours: values.neighbour ?? store.neighbours,
    k: intFlag(values.k, 'k', store.k),
    n: intFlag(values.n, 'n', store.n),
    uplink: values['no-uplink'] ? false : ('auto' as const),
  };
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  try {
    if (values.repair) {
      const grant = await powerGrant(client);
      const r = await repair({ ...targets, manifest: readNamedFile(values.repair, '--repair'), passphrase: secret, grant, timeoutMs: Math.min(timeoutMs, 3000), warn, progress: progressBar('repair') });
      console.log(`checked ${r.chunks} chunks: ${r.healthy} with every share${r.gone.length ? `; neighbours gone: ${r.gone.join(', ')}` : ''}`);
      console.log(`shares lost ${r.lostShares}, re-created ${r.recreated}${r.deferred ? `, ${r.deferred} chunks deferred (the power budget does not grant it now)` : ''}`);
      for (const id of r.unrecoverable) console.log(`unrecoverable: chunk ${id} (no phone copy and fewer than k shares)`);
      if (r.manifest) {
        const out = values.manifest ?? values.repair;
        writeNamedFile(out, r.manifest, `the repaired manifest ${r.manifestAddr}`);
        console.log(`manifest ${r.manifestAddr} written to ${out}`);
      }
      return r.unrecoverable.length > 0 ? 1 : 0;
    }
    const bar = progressBar(`backup ${basename(resolve(path!))}`);
    const r = await backup({ ...targets, path: path!, passphrase: secret, kdfLogN: intFlag(values['scrypt-log-n'], 'scrypt-log-n', DEFAULT_KDF.logN), progress: bar, warn, ...(sealers !== undefined && { sealers }) });
    const out = values.manifest ?? `${basename(resolve(path!))}-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}.canopy-manifest`;
    writeNamedFile(out, r.manifest, `the manifest ${r.manifestAddr} (stored on the phone too: restore by its address)`);
    const mb = (b: number) => (b / 1e6).toFixed(1);
    console.log(`backed up ${r.files} files, ${mb(r.bytes)} MB in ${r.chunks} chunks; new: ${r.newChunks} chunks, ${mb(r.newBytes)} MB (dedup ${r.newBytes === 0 ? '∞' : (r.bytes / r.newBytes).toFixed(2)}×)`);
    console.log(`phone: ${mb(r.sentBytes)} MB sealed; uplink: ${r.uplinked} queued; shares: ${r.shares} on ${targets.neighbours.length} neighbours (${targets.k}-of-${targets.n})`);
    console.log(`manifest ${r.manifestAddr} written to ${out}`);
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * The power budget's word on extra work: the retained `<base>/power` PowerState's uplinkGranted,
 * followed live. A mesh without a power budget (no retained state) grants it.
 */
async function powerGrant(client: StoreClient): Promise<() => boolean> {
  const topic = client.tree.power;
  let latest: PowerState | undefined;
  let heard: () => void = () => {};
  const first = new Promise<void>((resolve) => (heard = resolve));
  // One subscription, followed for the whole run (it ends with the client).
  client.client.on('message', (t, payload) => {
    if (t !== topic) return;
    latest = decodeJson<PowerState>(payload);
    heard();
  });
  client.client.subscribe(topic, { qos: 0 });
  // The retained state comes right after the SUBACK; a mesh without a power budget has none.
  await Promise.race([first, new Promise((resolve) => setTimeout(resolve, 500).unref())]);
  return () => latest?.uplinkGranted ?? true;
}
