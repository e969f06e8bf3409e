/**
 * `canopy backup PATH`: content-defined chunks, sealed, to the phone, the uplink relay and k-of-n
 * shares on the neighbours; writes the sealed manifest to a local file (a restore needs it, or its
 * address, and the passphrase). Chunks of earlier backups get shares on neighbours added since.
 * `canopy backup --repair MANIFEST` re-creates the shares of neighbours that went away and spreads
 * crowded ones onto new neighbours, while the power budget grants it (the retained `<base>/power`);
 * a repair the budget defers is CANOPY_ERR_DEFERRED (exit 75: try again).
 * The passphrase comes from CANOPY_PASSPHRASE, --passphrase-file or, on a terminal, a prompt (on
 * the simulated site, by default, its demo passphrase).
 */
import { basename, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { readNamedFile, writeNamedFile } from '../named-files.ts';
import { decodeJson, type PowerState } from '../../common/topics.ts';
import { progressBar } from '../progress.ts';
import { backup } from '../store/backup.ts';
import { connectOwner, intFlag, OWNER_OPTIONS, ownerContext, passphrase } from '../store/command-line.ts';
import { DEFAULT_KDF } from '../store/crypto.ts';
import { repair, type RepairResult } from '../store/repair.ts';
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
  const ctx = ownerContext(values);
  const { owner, store } = ctx;
  // Worker threads that seal chunks (seal-pool.ts); 0 seals in the main thread.
  const sealers = values['seal-workers'] === undefined ? undefined : intFlag(values['seal-workers'], 'seal-workers', 0);
  const secret = await passphrase(values['passphrase-file'], ctx.simulated);
  const timeoutMs = intFlag(values.timeout, 'timeout', 10_000);
  const client = await connectOwner(values, ctx, timeoutMs);
  const targets = {
    client,
    owner,
    neighbours: ctx.neighbours,
    k: intFlag(values.k, 'k', store.k),
    n: intFlag(values.n, 'n', store.n),
    uplink: values['no-uplink'] ? false : ('auto' as const),
  };
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  try {
    if (values.repair) {
      const power = await followPower(client);
      const grant = () => power()?.uplinkGranted ?? true;
      const r = await repair({ ...targets, manifest: readNamedFile(values.repair, '--repair'), passphrase: secret, grant, timeoutMs: Math.min(timeoutMs, 3000), warn, progress: progressBar('repair') });
      console.log(`checked ${r.chunks} chunks: ${r.healthy} with every share${r.gone.length ? `; neighbours gone: ${r.gone.join(', ')}` : ''}`);
      console.log(`shares lost ${r.lostShares}, re-created ${r.recreated}${r.moved ? `, ${r.moved} spread onto neighbours that held none of their chunk` : ''}${r.deferred ? `, ${r.deferred} chunks deferred (the power budget does not grant it now)` : ''}`);
      for (const id of r.unrecoverable) console.log(`unrecoverable: chunk ${id} (no phone copy and fewer than k shares)`);
      if (r.manifest) {
        const out = values.manifest ?? values.repair;
        writeNamedFile(out, r.manifest, `the repaired manifest ${r.manifestAddr}`);
        console.log(`manifest ${r.manifestAddr} written to ${out}`);
      }
      if (r.unrecoverable.length > 0) return 1;
      if (r.deferred > 0) throw deferred(r, power(), client.tree.power);
      return 0;
    }
    const bar = progressBar(`backup ${basename(resolve(path!))}`);
    const r = await backup({ ...targets, path: path!, passphrase: secret, kdfLogN: intFlag(values['scrypt-log-n'], 'scrypt-log-n', DEFAULT_KDF.logN), progress: bar, warn, ...(sealers !== undefined && { sealers }) }).catch((e: unknown) => {
      // The simulated phone's repository is the demo's: another passphrase does not open it.
      if (ctx.simulated && secret !== ctx.simulated.passphrase && isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE')) {
        throw new CanopyError(e.code, `${e.message}; the simulated site's phone holds backups sealed with its demo passphrase (in ${ctx.simulated.file}): unset CANOPY_PASSPHRASE and leave out --passphrase-file to use it`);
      }
      throw e;
    });
    const out = values.manifest ?? `${basename(resolve(path!))}-${new Date().toISOString().replace(/[:.]/g, '').slice(0, 15)}.canopy-manifest`;
    writeNamedFile(out, r.manifest, `the manifest ${r.manifestAddr} (stored on the phone too: restore by its address)`);
    const mb = (b: number) => (b / 1e6).toFixed(1);
    console.log(`backed up ${r.files} files, ${mb(r.bytes)} MB in ${r.chunks} chunks; new: ${r.newChunks} chunks, ${mb(r.newBytes)} MB (dedup ${r.newBytes === 0 ? '∞' : (r.bytes / r.newBytes).toFixed(2)}×)`);
    console.log(`phone: ${mb(r.sentBytes)} MB sealed; uplink: ${r.uplinked} queued; shares: ${r.shares} on ${targets.neighbours.length} neighbours (${targets.k}-of-${targets.n})${r.spreadShares ? `, ${r.spreadShares} of them for chunks of earlier backups (neighbours added since)` : ''}`);
    console.log(`manifest ${r.manifestAddr} written to ${out}`);
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * The power budget's word on extra work: the retained `<base>/power` PowerState (its
 * uplinkGranted), followed live. A mesh without a power budget has none: undefined, which grants it.
 */
async function followPower(client: StoreClient): Promise<() => PowerState | undefined> {
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
  return () => latest;
}

/**
 * A repair the budget deferred: what it waits for. The budget grants extra work when the sun
 * leaves power to spare for the dish (or the station battery is nearly full); it publishes no time
 * for that, so the line says what it waits for and where to watch it.
 */
function deferred(r: RepairResult, power: PowerState | undefined, topic: string): CanopyError {
  const now = power ? `now: sun ${Math.round(power.solarW)} W, load ${Math.round(power.loadW)} W${power.batteryPct === undefined ? '' : `, station battery ${Math.round(power.batteryPct)} %`}` : 'now: not granted';
  const did = r.recreated + r.moved > 0 ? `placed ${r.recreated + r.moved} shares and deferred` : 're-created nothing and deferred';
  return new CanopyError(
    'CANOPY_ERR_DEFERRED',
    `repair ${did} ${r.deferred} chunks: it waits for the power budget to grant extra work (spare power for the dish, as ${topic}'s uplinkGranted and the dashboard's Power card show; ${now}); run it again then`,
  );
}
