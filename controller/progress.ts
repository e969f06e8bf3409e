/** Progress output for long work a user waits on (`canopy sim run`, `canopy backup`, `canopy restore`). */

/** A progress bar on a terminal, a line per 10 % otherwise (CI logs, pipes). */
export function progressBar(label: string, stream: NodeJS.WriteStream = process.stderr): (fraction: number, detail?: string) => void {
  let lastDecile = -1;
  return (f, detail = '') => {
    const pct = Math.round(f * 100);
    if (stream.isTTY) {
      const width = 30;
      const filled = Math.round(f * width);
      stream.write(`\r${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)} % ${detail}`.padEnd(100));
      if (f >= 1) stream.write('\n');
    } else if (Math.floor(pct / 10) > lastDecile) {
      lastDecile = Math.floor(pct / 10);
      stream.write(`${label} ${pct} % ${detail}\n`);
    }
  };
}
