/**
 * The release build (`npm run build`) runs on its own: staged away from the checkout with the
 * production dependencies only (the lockfile's non-dev packages, so tsx, esbuild, TypeScript and
 * playwright-core are absent), the compiled `canopy` answers --version and --help, flies the
 * simulated site with the dashboard answering, and stores a backup through its seal workers; a
 * bench suite the copy lacks is refused in one line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './helpers/tools.ts';
import { freePort } from '../harness/rigs/ports.ts';
import { eventually } from './helpers/events.ts';

const DEV_TOOLS = ['tsx', 'esbuild', 'typescript', 'playwright-core'];

/** node_modules with the lockfile's production packages only, each a link into the checkout's. */
function productionModules(dir: string): string[] {
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const linked: string[] = [];
  for (const [path, entry] of Object.entries(lock.packages)) {
    // Top-level packages only: nested ones come along inside their parent's directory.
    const m = /^node_modules\/((?:@[^/]+\/)?[^/]+)$/.exec(path);
    if (!m || entry.dev || !existsSync(join(repoRoot, path))) continue;
    const target = join(dir, m[1]!);
    mkdirSync(join(target, '..'), { recursive: true });
    symlinkSync(join(repoRoot, path), target);
    linked.push(m[1]!);
  }
  return linked;
}

test('the release build runs with production dependencies only: --help, the simulated site, the dashboard, a backup', async (t) => {
  const stage = mkdtempSync(join(tmpdir(), 'canopy-release-'));
  t.after(() => rmSync(stage, { recursive: true, force: true }));
  const build = spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'scripts', 'build.ts'), '--out', join(stage, 'dist')], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(build.status, 0, build.stdout + build.stderr);
  assert.match(build.stdout, /build: bundled the dashboard \(index\.html, app\.js, app\.css\)/);
  mkdirSync(join(stage, 'bin'));
  copyFileSync(join(repoRoot, 'bin', 'canopy.js'), join(stage, 'bin', 'canopy.js'));
  copyFileSync(join(repoRoot, 'package.json'), join(stage, 'package.json'));
  mkdirSync(join(stage, 'hardware', 'raspberry-pi'), { recursive: true });
  copyFileSync(join(repoRoot, 'hardware', 'raspberry-pi', 'canopy.service'), join(stage, 'hardware', 'raspberry-pi', 'canopy.service'));
  const linked = productionModules(join(stage, 'node_modules'));
  for (const tool of DEV_TOOLS) assert.ok(!linked.includes(tool), `${tool} is a development dependency`);
  assert.ok(linked.includes('aedes') && linked.includes('better-sqlite3'), 'the production packages are there');
  // The build is JavaScript: no module in it imports a .ts file.
  const js = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? js(join(dir, e.name)) : e.name.endsWith('.js') ? [join(dir, e.name)] : []));
  const modules = js(join(stage, 'dist'));
  assert.ok(modules.length > 100, `${modules.length} modules`);
  for (const m of modules) assert.doesNotMatch(readFileSync(m, 'utf8'), /\bfrom\s*["'][^"']+\.ts["']|import\(["'][^"']+\.ts["']\)/, m);

  const canopy = join(stage, 'bin', 'canopy.js');
  const run = async (...args: string[]) => {
    try {
      const r = await promisify(execFile)(process.execPath, [canopy, ...args], { cwd: stage, timeout: 120_000 });
      return { code: 0, ...r };
    } catch (e) {
      const err = e as { code?: number; stdout: string; stderr: string };
      if (typeof err.code !== 'number') throw e;
      return { code: err.code, stdout: err.stdout, stderr: err.stderr };
    }
  };
  const version = await run('--version');
  assert.equal(version.stdout.trim(), (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
  assert.match((await run('--help')).stdout, /^ +start +run the ground station/m);
  assert.match((await run('sim', 'list')).stdout, /clear-summer-day/, 'the shipped scenarios are in the build');

  // The bench suites ship with the build: an installed copy measures itself.
  const bench = await run('bench', 'install', '--json');
  assert.equal(bench.code, 0, bench.stderr);
  const figures = JSON.parse(bench.stdout) as Record<string, number>;
  assert.ok(figures.start_ready_s! > 0 && figures.help_s! > 0, bench.stdout);
  assert.equal(figures.help_s_sources, undefined, 'no sources in the copy to compare with');
  assert.match(bench.stderr, new RegExp(`measuring ${stage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

  // A copy without one of the bench suites refuses it in one line, no stack trace.
  rmSync(join(stage, 'dist', 'harness', 'bench', 'soak.js'));
  const missing = await run('bench', 'soak', '--quick');
  assert.equal(missing.code, 69, missing.stderr);
  assert.equal(missing.stderr.trim().split('\n').length, 1, missing.stderr);
  assert.match(missing.stderr, /the bench suite "soak" is not in this copy of Canopy/);

  const data = join(stage, 'data');
  const [dashboardPort, mqttPort, wsPort] = [await freePort(), await freePort(), await freePort()];
  const child = spawn(process.execPath, [canopy, 'start', '--data', data, '--dashboard-port', String(dashboardPort), '--mqtt-port', String(mqttPort), '--ws-port', String(wsPort), '--gcs', 'udpout://127.0.0.1:9', '--speed', '20'], { cwd: stage, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.after(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  });
  await eventually(() => /dashboard on http:/.test(out) && /password "/.test(out), 60_000, `the compiled station up (${out})`);
  const base = `http://127.0.0.1:${dashboardPort}`;
  const page = await fetch(`${base}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script type="module" src="\/app\.js">/);
  const app = await fetch(`${base}/app.js`);
  assert.equal(app.status, 200);
  assert.ok((await app.arrayBuffer()).byteLength > 100_000, 'the bundled app (uPlot and mqtt.js inside)');
  // The drones' telemetry reaches /metrics once the stream requests are answered.
  let metrics = '';
  for (let i = 0; i < 600 && !/canopy_drone_soc_percent\{drone="d1"\}/.test(metrics); i++) {
    metrics = await (await fetch(`${base}/metrics`)).text();
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(metrics, /canopy_drone_soc_percent\{drone="d1"\}/);

  // A backup from a second terminal, as the start line says: the compiled seal workers seal it.
  const src = join(stage, 'files');
  mkdirSync(src);
  writeFileSync(join(src, 'log.txt'), 'north pad: wind 9 m/s\n'.repeat(20_000));
  const backup = await run('backup', src, '--data', data, '--manifest', join(stage, 'files.canopy-manifest'));
  assert.equal(backup.code, 0, backup.stderr);
  assert.match(backup.stdout, /shares: \d+ on 6 neighbours \(3-of-6\)/);

  child.kill('SIGTERM');
  assert.equal(await exited, 0, out);
  assert.doesNotMatch(out, /internal error|ERR_MODULE_NOT_FOUND|Cannot find (module|package)/);
});

test('bin/canopy.js refuses an unknown CANOPY_RUN, and a copy with neither sources nor build says what to run', async (t) => {
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin', 'canopy.js'), '--version'], { encoding: 'utf8', env: { ...process.env, CANOPY_RUN: 'fast' } });
  assert.equal(r.status, 64);
  assert.match(r.stderr, /CANOPY_RUN=fast: use "build" or "sources"/);
  const bare = mkdtempSync(join(tmpdir(), 'canopy-bare-'));
  t.after(() => rmSync(bare, { recursive: true, force: true }));
  mkdirSync(join(bare, 'bin'));
  copyFileSync(join(repoRoot, 'bin', 'canopy.js'), join(bare, 'bin', 'canopy.js'));
  writeFileSync(join(bare, 'package.json'), '{"type":"module"}\n');
  const none = spawnSync(process.execPath, [join(bare, 'bin', 'canopy.js'), '--version'], { encoding: 'utf8' });
  assert.equal(none.status, 69);
  assert.equal(none.stderr.trim().split('\n').length, 1, none.stderr);
  assert.match(none.stderr, /no build in dist\/: run "npm run build"/);
});
