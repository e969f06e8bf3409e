/**
 * `canopy restore MANIFEST DIR`: every file of a backup, from the phone, the upstream store
 * (--upstream URL) or any k of the neighbours' shares, whichever answers; checked and opened with
 * the passphrase (CANOPY_PASSPHRASE, --passphrase-file or a prompt on a terminal). MANIFEST is the file `canopy backup`
 * wrote or the manifest's address. Files land in DIR/<name of what was backed up>/…; a file there
 * with other content is replaced only with --overwrite (else nothing is written: exit 73).
 * Exit code 1 when any file could not be restored (each is named).
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import { progressBar } from '../progress.ts';
import { connectOwner, intFlag, OWNER_OPTIONS, ownerContext, passphrase, readSecret } from '../store/command-line.ts';
import { StoreClient } from '../store/protocol.ts';
import { restore, type Source } from '../store/restore.ts';

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...OWNER_OPTIONS,
      upstream: { type: 'string' },
      'upstream-base': { type: 'string' },
      'upstream-username': { type: 'string' },
      'no-mesh': { type: 'boolean', default: false },
      overwrite: { type: 'boolean', default: false },
    },
  });
  const [manifest, dir] = positionals;
  if (!manifest || !dir) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy restore MANIFEST DIR: give the manifest (file or address) and the directory to restore into');
  const ctx = ownerContext(values);
  const { config, owner } = ctx;
  const secret = await passphrase(values['passphrase-file'], ctx.simulated);
  const timeoutMs = intFlag(values.timeout, 'timeout', 5000);
  const clients: StoreClient[] = [];
  try {
    const sources: Source[] = [];
    let mesh: StoreClient | undefined;
    if (!values['no-mesh']) {
      mesh = await connectOwner(values, ctx, timeoutMs);
      clients.push(mesh);
      sources.push({ client: mesh, agent: owner, label: 'phone' });
    }
    if (values.upstream) {
      const up = await StoreClient.connect({
        url: values.upstream,
        baseTopic: values['upstream-base'] ?? config.mesh.baseTopic,
        username: values['upstream-username'],
        password: readSecret('CANOPY_UPSTREAM_PASSWORD', undefined, 'upstream password', false),
        timeoutMs,
      });
      clients.push(up);
      sources.push({ client: up, agent: owner, label: 'upstream' });
    }
    if (sources.length === 0) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'nothing to restore from: drop --no-mesh or give --upstream URL');
    const bar = progressBar('restore');
    const r = await restore({
      manifest,
      dir,
      passphrase: secret,
      sources,
      shares: mesh,
      neighbours: ctx.neighbours,
      timeoutMs,
      overwrite: values.overwrite,
      progress: bar,
      warn: (m) => process.stderr.write(`warning: ${m}\n`),
    });
    const from = Object.entries(r.fetched).map(([k, v]) => `${v} from ${k}`).join(', ');
    console.log(`restored ${r.files} files, ${(r.bytes / 1e6).toFixed(1)} MB into ${r.roots.join(', ') || dir}${from ? ` (chunks: ${from})` : ''}${r.unchanged ? `; ${r.unchanged} of them were there already, unchanged` : ''}`);
    if (r.unreachable.length > 0) console.log(`did not answer: ${r.unreachable.join(', ')}`);
    for (const f of r.failed) console.log(`not restored: ${f.path}: ${f.reason}`);
    return r.failed.length === 0 ? 0 : 1;
  } finally {
    for (const c of clients) await c.close();
  }
}
