import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A pair of connected pseudo-terminals made by socat, as two serial devices a test can open. */
export class PtyPair {
  private proc: ChildProcess | undefined;
  readonly a: string;
  readonly b: string;

  constructor(dir = mkdtempSync(join(tmpdir(), 'canopy-pty-'))) {
    this.a = join(dir, 'a');
    this.b = join(dir, 'b');
  }

  /** Starts socat and waits until both device links exist. */
  async start(): Promise<void> {
    this.proc = spawn('socat', [`pty,raw,echo=0,link=${this.a}`, `pty,raw,echo=0,link=${this.b}`], { stdio: 'ignore' });
    const deadline = Date.now() + 5000;
    while (!(existsSync(this.a) && existsSync(this.b))) {
      if (Date.now() > deadline) throw new Error('socat did not create the pseudo-terminals within 5 s');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Ends socat (the devices disappear, as an unplugged USB radio does). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
    const deadline = Date.now() + 2000;
    while ((existsSync(this.a) || existsSync(this.b)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }
}
