/**
 * `canopy start`'s one status line. On a terminal it is redrawn in place (carriage return, erase
 * line: ECMA-48 EL, `ESC [ 2 K`) and every other line the process writes — logs on stderr,
 * messages on stdout — is put above it, so nothing it says scrolls away under a table. Anywhere
 * else (the journal, a pipe) each update is a plain line of its own, written less often.
 */

type Write = typeof process.stdout.write;

const ERASE_LINE = '\r\x1b[2K';

export class StatusLine {
  private shown = '';
  private restore: (() => void) | undefined;

  constructor(private readonly out: NodeJS.WriteStream = process.stdout, private readonly err: NodeJS.WriteStream = process.stderr) {}

  /** Whether updates redraw one line in place (a terminal) or append lines (the journal, a pipe). */
  get inPlace(): boolean {
    return this.out.isTTY === true;
  }

  /** Shows `line`: in place on a terminal, cut to its width; else as a line of its own. */
  update(line: string): void {
    if (!this.inPlace) {
      this.out.write(`${line}\n`);
      return;
    }
    this.intercept();
    const width = Math.max(20, (this.out.columns || 80) - 1); // 0 or none: a terminal that does not say
    this.shown = line.length > width ? `${line.slice(0, width - 1)}…` : line;
    this.original(this.out)(`${ERASE_LINE}${this.shown}`);
  }

  /** Takes the line away (at exit, so the shell prompt starts on a clean line). */
  clear(): void {
    if (this.shown) this.original(this.out)(`${ERASE_LINE}`);
    this.shown = '';
    this.restore?.();
    this.restore = undefined;
  }

  private readonly originals = new Map<NodeJS.WriteStream, Write>();

  private original(s: NodeJS.WriteStream): (text: string) => void {
    const w = this.originals.get(s) ?? s.write;
    return (text) => void w.call(s, text);
  }

  /** Wraps the terminal's streams so that whatever else is written lands above the status line. */
  private intercept(): void {
    if (this.restore) return;
    const streams = [this.out, ...(this.err.isTTY ? [this.err] : [])];
    for (const s of streams) {
      const write = s.write;
      this.originals.set(s, write);
      s.write = ((chunk: unknown, ...rest: unknown[]) => {
        if (!this.shown) return (write as (...a: unknown[]) => boolean).call(s, chunk, ...rest);
        this.original(this.out)(ERASE_LINE);
        const ok = (write as (...a: unknown[]) => boolean).call(s, chunk, ...rest);
        this.original(this.out)(this.shown);
        return ok;
      }) as Write;
    }
    this.restore = () => {
      for (const [s, write] of this.originals) s.write = write;
      this.originals.clear();
    };
  }
}
