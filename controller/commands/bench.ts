/**
 * `canopy bench <suite> [--json]`: runs a benchmark suite from test/bench/<suite>.ts and prints its
 * named figures (a table, or one JSON object with --json). Progress goes to stderr so --json
 * output stays clean.
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';

export type Figures = Record<string, number | boolean | string>;

export interface BenchSuite {
  description: string;
  run(progress: (msg: string) => void, options: { quick: boolean }): Promise<Figures>;
}

const SUITES: Record<string, () => Promise<{ suite: BenchSuite }>> = {
  bridge: () => import('../../test/bench/bridge.ts'),
  relay: () => import('../../test/bench/relay.ts'),
  sim: () => import('../../test/bench/sim.ts'),
  fleet: () => import('../../test/bench/fleet.ts'),
  store: () => import('../../test/bench/store.ts'),
  fuzz: () => import('../../test/bench/fuzz.ts'),
  mesh: () => import('../../test/bench/mesh.ts'),
};

/** The suites by name, for help texts and their tests. */
export const SUITE_NAMES = Object.keys(SUITES);

export function formatFigures(figures: Figures): string {
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  return Object.entries(figures)
    .map(([k, v]) => `${k.padEnd(width)}  ${typeof v === 'number' ? formatNumber(v) : String(v)}`)
    .join('\n');
}

function formatNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false } },
  });
  const name = positionals[0];
  const load = name ? SUITES[name] : undefined;
  if (!load) {
    throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${name ? `unknown suite "${name}"` : 'no suite named'}; suites: ${Object.keys(SUITES).join(', ')}`);
  }
  const { suite } = await load();
  const progress = (msg: string) => process.stderr.write(`[bench ${name}] ${msg}\n`);
  progress(suite.description);
  const figures = await suite.run(progress, { quick: values.quick ?? false });
  console.log(values.json ? JSON.stringify(figures) : formatFigures(figures));
  return 0;
}
