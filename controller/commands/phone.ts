/**
 * `canopy phone --store DIR [--broker URL]`: the store agent on the owner's (or a neighbour's)
 * phone, under Termux or in the simulation; runs until SIGINT/SIGTERM.
 * `canopy phone scrub --store DIR` re-reads and re-hashes every chunk and names the damaged ones;
 * `canopy phone usage --store DIR` prints what each class holds.
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { streamLogger } from '../../firmware-bridge/log.ts';
import { progressBar } from '../progress.ts';
import { ChunkStore, type StoreClass } from '../store/chunk-store.ts';
import { CONNECTION_OPTIONS, DEFAULT_BROKER, readSecret, storeConfig } from '../store/command-line.ts';
import { PhoneAgent } from '../store/phone-agent.ts';
import { parseSize } from '../store/size.ts';

export async function run(args: string[]): Promise<number> {
  const verb = args[0] === 'scrub' || args[0] === 'usage' ? args[0] : undefined;
  const { values } = parseArgs({
    args: verb ? args.slice(1) : args,
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
    },
  });
  if (!values.store) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'give the store directory: canopy phone --store DIR');
  if (values.bodies !== 'sqlite' && values.bodies !== 'files') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--bodies must be sqlite or files, got "${values.bodies}"`);
  const { config, store: settings } = storeConfig(values.config);
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
    const name = values.name ?? values.username ?? settings.owner;
    const log = streamLogger({ level: 'info' });
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
    });
    await agent.start();
    console.log(`store agent "${name}" serving ${values.store} on ${values.broker ?? DEFAULT_BROKER}${values.ingest ? ` (keeping what the relay delivers under ${values.ingest})` : ''}`);
    await new Promise<void>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    await agent.stop();
    return 0;
  } finally {
    store.close();
  }
}
