/**
 * `npm run build`: the release in dist/, what a Pi runs (bin/canopy.js picks it where the sources
 * or the development tools are absent; CANOPY_RUN=build picks it in a checkout):
 *   1. the program's TypeScript compiled to JavaScript (tsconfig.build.json),
 *   2. the files it reads beside its modules (the shipped scenarios),
 *   3. the dashboard's browser app bundled once (controller/dashboard/assets.ts),
 *   4. dist/package.json with the version, so `canopy --version` and the dashboard find it.
 * Each step prints what it did; a failing step stops the build with its reason.
 * `--out DIR` builds elsewhere (the release test stages a build away from the checkout's dist/).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { writeDashboardBundle } from '../controller/dashboard/assets.ts';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const { values } = parseArgs({ options: { out: { type: 'string' } } });
const dist = values.out ? resolve(values.out) : join(root, 'dist');
const started = performance.now();
const step = (msg: string) => console.log(`build: ${msg} (${((performance.now() - started) / 1000).toFixed(1)} s)`);

/** Bytes and files under a directory. */
function size(dir: string): { bytes: number; files: number } {
  let bytes = 0;
  let files = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) {
      const inner = size(p);
      bytes += inner.bytes;
      files += inner.files;
    } else {
      bytes += s.size;
      files++;
    }
  }
  return { bytes, files };
}

rmSync(dist, { recursive: true, force: true });
const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', dist], { stdio: 'inherit', cwd: root });
if (tsc.status !== 0) {
  console.error('build: the TypeScript compiler failed (see above); nothing was built');
  rmSync(dist, { recursive: true, force: true });
  process.exit(tsc.status ?? 1);
}
step(`compiled the TypeScript to ${dist} (${size(dist).files} files)`);

cpSync(join(root, 'sim', 'scenarios'), join(dist, 'sim', 'scenarios'), { recursive: true, filter: (p) => statSync(p).isDirectory() || p.endsWith('.yaml') });
step('copied the shipped scenarios');

const bundled = await writeDashboardBundle(join(dist, 'dashboard', 'web'));
step(`bundled the dashboard (${bundled.join(', ')})`);

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; description: string };
writeFileSync(join(dist, 'package.json'), `${JSON.stringify({ name: pkg.name, version: pkg.version, description: `${pkg.description} (the release build; see ../package.json)`, type: 'module', private: true }, null, 2)}\n`);
const total = size(dist);
step(`done: ${dist} holds ${total.files} files, ${(total.bytes / 1e6).toFixed(1)} MB`);
