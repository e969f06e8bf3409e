/**
 * Durations as people write them in canopy.yaml and scenarios: "90s", "15m", "2h30m", "7d", or a
 * number of seconds. A leaf module: the controller's configuration and the simulator's scenarios
 * both read them, and it imports neither.
 */
import { z } from 'zod';
import { CanopyError } from './errors.ts';

const DURATION = /^(?:(\d+(?:\.\d+)?)d)?(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$/;

/** "2h30m" → ms. Numbers are seconds. */
export function parseDuration(v: string | number): number {
  if (typeof v === 'number') return v * 1000;
  const m = DURATION.exec(v.trim());
  if (!m || v.trim() === '') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `"${v}" is not a duration (write e.g. 90s, 15m, 2h30m, 7d)`);
  const [, d, h, min, s] = m.map((x) => (x === undefined ? 0 : Number(x)));
  return (((d! * 24 + h!) * 60 + min!) * 60 + s!) * 1000;
}

/** A duration field: "90s", "15m", "2h30m", "7d", or a number of seconds; in ms. */
export const duration = z.union([z.string(), z.number().nonnegative()]).transform((v, ctx) => {
  try {
    return parseDuration(v);
  } catch (e) {
    ctx.addIssue({ code: 'custom', message: (e as Error).message });
    return z.NEVER;
  }
});
