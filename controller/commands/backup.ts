/**
 * `canopy backup PATH`: content-defined chunks, sealed, to the phone, the uplink relay and k-of-n
 * shares on the neighbours; writes the sealed manifest to a local file (a restore needs it, or its
 * address, and the passphrase). Chunks of earlier backups get shares on neighbours added since.
 * `canopy backup --repair MANIFEST` re-creates the shares of neighbours that went away and spreads
 * crowded ones onto new neighbours, while the power budget grants it (the retained `<base>/power`);
 * a repair the budget defers is CANOPY_ERR_DEFERRED (exit 75: try again).
 * `canopy backup --audit MANIFEST [--every 1d]` challenges every share on its holder without
 * downloading it (audit.ts, docs/audits.md), repairs the ones that fail and keeps the reciprocity
 * ledger (`<data dir>/ledger.sqlite`, published retained on `<base>/store/<owner>/ledger`); with
 * --every it keeps running, a round every period while the power budget grants it. Every run keeps
 * the neighbours' signed receipts in the ledger.
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
import { audit, AuditSchedule, publishLedger, type AuditOptions, type AuditResult } from '../store/audit.ts';
import { Ledger } from '../store/ledger.ts';
import { dataDir } from '../config.ts';
import { parseDuration } from '../../common/duration.ts';
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
      audit: { type: 'string' },
      every: { type: 'string' },
    },
  });
  const path = positionals[0];
  if (!path && !values.repair && !values.audit) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'give what to back up: canopy backup PATH (or canopy backup --repair MANIFEST, or --audit MANIFEST)');
  if (values.every !== undefined && !values.audit) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', '--every goes with --audit MANIFEST: canopy backup --audit MANIFEST --every 1d');
  const everyMs = values.every === undefined ? undefined : parseDuration(values.every);
  if (everyMs !== undefined && everyMs < 60_000) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--every ${values.every}: audit at most once a minute`);
  const ctx = ownerContext(values);
  const { owner, store } = ctx;
  // Worker threads that seal chunks (seal-pool.ts); 0 seals in the main thread.
  const sealers = values['seal-workers'] === undefined ? undefined : intFlag(values['seal-workers'], 'seal-workers', 0);
  const secret = await passphrase(values['passphrase-file'], ctx.simulated);
  const timeoutMs = intFlag(values.timeout, 'timeout', 10_000);
  const ledger = new Ledger(dataDir(ctx.config));
  const client = await connectOwner(values, ctx, timeoutMs).catch((e: unknown) => {
    ledger.close();
    throw e;
  });
  const warn = (m: string) => process.stderr.write(`warning: ${m}\n`);
  const targets = {
    client,
    owner,
    neighbours: ctx.neighbours,
    k: intFlag(values.k, 'k', store.k),
    n: intFlag(values.n, 'n', store.n),
    uplink: values['no-uplink'] ? false : ('auto' as const),
    // A receipt that does not verify refuses its holder: the share goes to the next neighbour.
    onReceipt: (r: unknown) => void ledger.keepReceipt(r),
    auditFrom: (addr: string) => ledger.cursor(addr),
  };
  try {
    if (values.audit) return await runAudits(values.audit, values.manifest, everyMs, { ...targets, passphrase: secret, ledger, timeoutMs: Math.min(timeoutMs, 3000), warn });
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
    ledger.close();
  }
}

/** One audit round, or one every `everyMs` under the power grant; exit 1 when a share failed, 75 when work waits for the grant. */
async function runAudits(file: string, out: string | undefined, everyMs: number | undefined, opts: Omit<AuditOptions, 'manifest'>): Promise<number> {
  const power = await followPower(opts.client);
  const grant = () => power()?.uplinkGranted ?? true;
  let manifest: Uint8Array = readNamedFile(file, '--audit');
  const round = async (): Promise<AuditResult> => {
    const r = await audit({ ...opts, manifest, grant });
    const failed = r.failed.length ? `; FAILED ${r.failed.length}: ${[...new Set(r.failed.map((f) => f.holder))].map((h) => `${h} (${r.failed.filter((f) => f.holder === h).length})`).join(', ')}` : '';
    console.log(`audited ${r.audited} shares: ${r.passed} answered right${failed}${r.unanswered.length ? `; no answer from ${r.unanswered.join(', ')}` : ''}; traffic ${r.auditBytes} B for ${r.shareBytes} B of shares (${((100 * r.auditBytes) / Math.max(1, r.shareBytes)).toFixed(2)} %)`);
    if (r.repair) console.log(`repair: ${r.repair.recreated} shares re-created elsewhere${r.repair.deferred ? `, ${r.repair.deferred} chunks deferred` : ''}`);
    if (r.unarmed) console.log(`${r.unarmed} shares had no challenge left: ${r.armed} armed again${r.armed < r.unarmed ? ' (the rest wait for the power budget)' : ''}`);
    if (r.manifest) {
      manifest = r.manifest;
      writeNamedFile(out ?? file, r.manifest, `the audited manifest ${r.manifestAddr}`);
      console.log(`manifest ${r.manifestAddr} written to ${out ?? file}`);
    }
    await publishLedger(opts.client, opts.ledger, opts.owner);
    return r;
  };
  if (everyMs === undefined) {
    const r = await round();
    if (r.failed.length > 0) return 1;
    if (r.deferred) throw new CanopyError('CANOPY_ERR_DEFERRED', `audit: repair or re-arming waits for the power budget to grant extra work (${opts.client.tree.power}'s uplinkGranted); run it again then`);
    return 0;
  }
  const schedule = new AuditSchedule({ round, periodMs: everyMs, grant, onError: (e) => process.stderr.write(`warning: audit round failed: ${(e as Error).message}\n`) });
  console.log(`auditing ${file} every ${everyMs / 60_000} min while the power budget grants it (Ctrl-C ends)`);
  schedule.start();
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  schedule.stop();
  return 0;
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
