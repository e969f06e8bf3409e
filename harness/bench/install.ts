/**
 * Bench suite `install`: what a Pi gets from hardware/raspberry-pi/install.sh. From a checkout it
 * stages a real install (install.sh --root TMP: npm ci, the build, npm prune --omit=dev; npm's
 * cache first, the registry if the cache lacks a package) and measures that; from an installed
 * copy it measures itself.
 *   prod_node_modules_mb   the production node_modules on disk, MiB (as du -sm) (goal ≤ 60)
 *   prod_packages          packages in it (each directory with a package.json and a name)
 *   release_mb             the compiled program (dist/), MiB
 *   help_s                 `canopy --help` on the build, median of 5
 *   help_s_sources         the same from the sources through tsx (a checkout only), for the ratio
 *   start_ready_s          cold start of `canopy start` on the simulated site until the dashboard
 *                          answers (a fresh data directory: the admin is created too)
 *   start_rss_mb           the station's resident memory at that moment
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { freePort } from '../rigs/ports.ts';
import { programRoot, rssMb, serviceNodeFlags } from '../rigs/processes.ts';

const MIB = 1024 * 1024;

/** Disk use under `dir` in bytes, as du counts it (allocated blocks, hard links once). */
function diskBytes(dir: string, seen = new Set<string>()): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const s = lstatSync(p, { bigint: false });
    const id = `${s.dev}:${s.ino}`;
    if (seen.has(id)) continue;
    seen.add(id);
    total += s.blocks * 512;
    if (s.isDirectory()) total += diskBytes(p, seen);
  }
  return total;
}

/** Installed packages: node_modules/<name> and node_modules/@scope/<name>, nested ones too. */
function countPackages(modules: string): number {
  let n = 0;
  if (!existsSync(modules)) return 0;
  for (const name of readdirSync(modules)) {
    if (name.startsWith('.')) continue;
    const dirs = name.startsWith('@') ? readdirSync(join(modules, name)).map((s) => join(modules, name, s)) : [join(modules, name)];
    for (const d of dirs) {
      const pkg = join(d, 'package.json');
      if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name) n++;
      n += countPackages(join(d, 'node_modules'));
    }
  }
  return n;
}

function medianSeconds(runs: number, fn: () => void): number {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    fn();
    times.push((performance.now() - t) / 1000);
  }
  times.sort((a, b) => a - b);
  return Math.round(times[Math.floor(runs / 2)]! * 1000) / 1000;
}

function helpSeconds(bin: string, env: NodeJS.ProcessEnv): number {
  return medianSeconds(5, () => {
    const r = spawnSync(process.execPath, [bin, '--help'], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`canopy --help failed: ${r.stderr}`);
  });
}

/** Starts `canopy start` on a fresh data directory; resolves when the dashboard answers. */
async function coldStart(bin: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number; rssMb: number }> {
  const data = mkdtempSync(join(tmpdir(), 'canopy-bench-install-data-'));
  const [dashboard, mqtt, ws] = [await freePort(), await freePort(), await freePort()];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...serviceNodeFlags(), bin, 'start', '--data', data, '--dashboard-port', String(dashboard), '--mqtt-port', String(mqtt), '--ws-port', String(ws), '--gcs', 'udpout://127.0.0.1:9'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    while (true) {
      if (child.exitCode !== null) throw new Error(`canopy start exited (${child.exitCode}): ${stderr}`);
      const ok = await fetch(`http://127.0.0.1:${dashboard}/`).then((r) => r.ok, () => false);
      if (ok) return { seconds: Math.round(((performance.now() - t0) / 1000) * 100) / 100, rssMb: Math.round(rssMb(child.pid!) ?? NaN) };
      if (performance.now() - t0 > 120_000) throw new Error(`the dashboard did not answer within 120 s: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
    rmSync(data, { recursive: true, force: true });
  }
}

/** Runs `bash script args…`, passing its "canopy install:" lines on as they come; resolves to its exit code and the end of its stderr. */
function runInstaller(script: string, args: string[], progress: (m: string) => void): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('bash', [script, ...args], { env: { ...process.env, CANOPY_NODE: process.execPath }, stdio: ['ignore', 'pipe', 'pipe'] });
  let partial = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    const lines = (partial + d.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) if (line.startsWith('canopy install:')) progress(line);
  });
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stderr })));
}

/** Runs install.sh into a throwaway root (npm's cache first); returns the installed /opt/canopy. */
async function stageInstall(root: string, progress: (m: string) => void): Promise<string> {
  const script = join(root, 'hardware', 'raspberry-pi', 'install.sh');
  for (const flags of [['--offline'], []]) {
    const target = mkdtempSync(join(tmpdir(), 'canopy-bench-install-'));
    progress(`hardware/raspberry-pi/install.sh --root ${target} ${flags.join(' ')}`.trim());
    const r = await runInstaller(script, ['--root', target, ...flags], progress);
    if (r.code === 0) return join(target, 'opt', 'canopy');
    rmSync(target, { recursive: true, force: true });
    progress(`install.sh failed${flags.length ? " from npm's cache; again from the registry" : ''}: ${r.stderr.trim().split('\n').slice(-2).join(' / ')}`);
  }
  throw new Error('install.sh failed (see above)');
}

export const suite: BenchSuite = {
  description: 'the production install: node_modules size and packages, cold start, --help',
  async run(progress) {
    const root = programRoot();
    const fromSources = import.meta.url.endsWith('.ts');
    const app = fromSources ? await stageInstall(root, progress) : root;
    const figures: Figures = {};
    try {
      progress(`measuring ${app}`);
      figures.prod_node_modules_mb = Math.round((diskBytes(join(app, 'node_modules')) / MIB) * 10) / 10;
      figures.prod_packages = countPackages(join(app, 'node_modules'));
      figures.release_mb = Math.round((diskBytes(join(app, 'dist')) / MIB) * 10) / 10;
      const bin = join(app, 'bin', 'canopy.js');
      const env = { ...process.env, CANOPY_RUN: 'build' };
      figures.help_s = helpSeconds(bin, env);
      if (fromSources) {
        figures.help_s_sources = helpSeconds(join(root, 'bin', 'canopy.js'), { ...process.env, CANOPY_RUN: 'sources' });
        figures.help_sources_vs_build = Math.round((figures.help_s_sources / figures.help_s) * 10) / 10;
      }
      progress('cold start of canopy start on the simulated site');
      const start = await coldStart(bin, env);
      figures.start_ready_s = start.seconds;
      figures.start_rss_mb = start.rssMb;
    } finally {
      if (fromSources) rmSync(join(app, '..', '..'), { recursive: true, force: true });
    }
    return figures;
  },
};
