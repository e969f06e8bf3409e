/**
 * Child processes of the benches and tests, the same from the sources and from the build: a
 * sibling module is `name.ts` under tsx and `name.js` in dist/, and only the sources need tsx's
 * loader in the child.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CanopyError } from '../../common/errors.ts';

/** The path of module `name` beside the module `here` (its import.meta.url), in its language. */
export function siblingModule(here: string, name: string): string {
  return fileURLToPath(new URL(`./${name}${here.endsWith('.ts') ? '.ts' : '.js'}`, here));
}

/** node's flags to run such a sibling: tsx's loader for TypeScript, none for the build. */
export function loaderFlags(here: string): string[] {
  return here.endsWith('.ts') ? ['--import', 'tsx'] : [];
}

/** Whether `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** The program's directory (the checkout, or /opt/canopy): the nearest one up with bin/canopy.js. */
export function programRoot(here: string = import.meta.url): string {
  let dir = dirname(fileURLToPath(here));
  while (!existsSync(join(dir, 'bin', 'canopy.js'))) {
    const up = dirname(dir);
    if (up === dir) throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `no bin/canopy.js above ${fileURLToPath(here)}`);
    dir = up;
  }
  return dir;
}

/**
 * The release build to measure: this program when it runs from dist/; from the sources, the
 * checkout's dist/ built afresh (scripts/build.ts) so the figures are those of what a Pi runs.
 * Returns the environment that makes bin/canopy.js run it.
 */
export function releaseBuild(progress: (msg: string) => void, here: string = import.meta.url): { root: string; bin: string; env: NodeJS.ProcessEnv } {
  const root = programRoot(here);
  if (here.endsWith('.ts')) {
    progress('building the release (npm run build) to measure it');
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts', 'build.ts')], { cwd: root, encoding: 'utf8' });
    if (r.status !== 0) throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `the release build failed: ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' / ')}`);
  }
  return { root, bin: join(root, 'bin', 'canopy.js'), env: { ...process.env, CANOPY_RUN: 'build' } };
}

/** Resident set size of process `pid` in MiB (Linux /proc), or undefined once it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * The node flags the Pi's service runs Canopy with (hardware/raspberry-pi/canopy.service's
 * ExecStart), so the memory benches measure the station as it runs.
 */
export function serviceNodeFlags(root: string = programRoot()): string[] {
  const unit = readFileSync(join(root, 'hardware', 'raspberry-pi', 'canopy.service'), 'utf8');
  const exec = /^ExecStart=\S+ ((?:--\S+ )*)\S*bin\/canopy\.js /m.exec(unit);
  if (!exec) throw new CanopyError('CANOPY_ERR_UNAVAILABLE', 'canopy.service: no ExecStart running bin/canopy.js');
  return exec[1]!.trim().split(/\s+/).filter(Boolean);
}
