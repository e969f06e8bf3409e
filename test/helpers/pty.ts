import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A pair of connected pseudo-terminals made by socat, as two serial devices a test can open.
 * stop() then start() recreates the devices at the same paths (an unplugged radio plugged back in).
 */
export class PtyPair {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'canopy-pty-'));
  readonly a = join(this.dir, 'a');
  readonly b = join(this.dir, 'b');

  /** Starts socat and resolves once it reports its data transfer loop (both links exist then). */
  async start(ms = 5000): Promise<void> {
    const proc = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const fail = (why: string) => {
        clearTimeout(timer);
        proc.kill('SIGTERM');
        reject(new Error(`socat ${why}: ${log.trim()}`));
      };
      const exited = (code: number | null) => fail(`exited with ${code}`);
      const timer = setTimeout(() => fail(`did not start within ${ms} ms`), ms);
      proc.once('error', (err) => fail(err.message));
      proc.once('exit', exited);
      proc.stderr!.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (!log.includes('starting data transfer loop')) return;
        clearTimeout(timer);
        proc.off('exit', exited);
        resolve();
      });
    });
  }

  /** Ends socat (the devices disappear, as an unplugged USB radio does). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    if (existsSync(this.a) || existsSync(this.b)) throw new Error('socat exited but left its pty links behind');
  }

  /** stop(), then removes the temporary directory. */
  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
