import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './tools.ts';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export const canopyBin = join(repoRoot, 'bin', 'canopy.js');

/** Runs `canopy ARGS` to completion; a non-zero exit is a result, not an exception. */
export async function canopy(...args: string[]): Promise<CliResult> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [canopyBin, ...args], { cwd: repoRoot, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout: string; stderr: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Starts `canopy ARGS` in the background; the test ends it (by its pid) in `after`. */
export function spawnCanopy(t: { after(fn: () => Promise<void> | void): void }, ...args: string[]): ChildProcess & { output: () => string } {
  const child = spawn(process.execPath, [canopyBin, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  );
  return Object.assign(child, { output: () => out });
}
