import { CanopyError } from '../../common/errors.ts';

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?)B?$/i;

/** "10G", "512MiB", "1.5 TB", 4096 → bytes (K/M/G/T are powers of 1000, Ki/Mi/Gi/Ti of 1024). */
export function parseSize(v: string | number, what = 'size'): number {
  if (typeof v === 'number') {
    if (Number.isInteger(v) && v >= 0) return v;
  } else {
    const m = SIZE.exec(v.trim());
    if (m) {
      const power = ' KMGT'.indexOf(m[2]!.toUpperCase() || ' ');
      return Math.round(Number(m[1]) * (m[3] ? 1024 : 1000) ** power);
    }
  }
  throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${what} "${v}" is not a size (write e.g. 4096, 500M, 10G, 2GiB)`);
}
