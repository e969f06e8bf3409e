/**
 * `canopy bench <suite> [--json]`: runs a benchmark suite (harness/bench/<suite>.ts) and prints its
 * named figures (a table, or one JSON object with --json). Progress goes to stderr so --json
 * output stays clean.
 */
import { parseArgs } from 'node:util';
import { CanopyError } from '../../common/errors.ts';
import type { Harness } from '../cli.ts';

export type Figures = Record<string, number | boolean | string>;

export interface BenchSuite {
  description: string;
  run(progress: (msg: string) => void, options: BenchOptions): Promise<Figures>;
}

export interface BenchOptions {
  quick: boolean;
  /** Simulated days, for the suites that fly days (fleet); undefined: the suite's own (30, or 2 with --quick). */
  days?: number;
}

/** The suites that take --days. */
const DAY_SUITES: readonly string[] = ['fleet'];

/**
 * The suites and what each measures. Their code ships with the program in harness/bench/ (they
 * fly the simulator), so `canopy bench` works from an installed copy; the harness loads them.
 */
export const BENCH_SUITES = {
  bridge: 'the firmware-bridge against node-mavlink: ingest, recovery, memory at 25 drones on the build',
  relay: 'the store-and-forward relay: throughput, crash recovery, against mosquitto\'s bridge',
  sim: 'the simulator: speed, determinism, the firmware scenarios',
  fleet: 'the fleet and power plans over simulated days: coverage, battery, separation, forecast',
  store: 'the backup store: sealing, erasure coding, restore, repair',
  fuzz: 'the frame parser under corrupted and random input',
  mesh: 'the MQTT mesh under a crowd of clients',
  install: 'the production install: its size, cold start and --help time',
  soak: 'the default simulated site for 24 simulated hours: memory over a day',
} as const;

export type SuiteName = keyof typeof BENCH_SUITES;

/** The suites by name, for help texts and their tests. */
export const SUITE_NAMES = Object.keys(BENCH_SUITES) as SuiteName[];

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

export async function run(args: string[], harness?: Harness): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, quick: { type: 'boolean', default: false }, days: { type: 'string' } },
  });
  const name = positionals[0];
  if (!name || !SUITE_NAMES.includes(name as SuiteName)) {
    throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${name ? `unknown suite "${name}"` : 'no suite named'}; suites: ${SUITE_NAMES.join(', ')}`);
  }
  let days: number | undefined;
  if (values.days !== undefined) {
    days = Number(values.days);
    if (!Number.isInteger(days) || days < 1 || days > 366) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--days must be a whole number of days from 1 to 366, not "${values.days}"`);
    if (!DAY_SUITES.includes(name)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--days is for the suites that fly days (${DAY_SUITES.join(', ')}), not "${name}"`);
  }
  if (!harness) throw new CanopyError('CANOPY_ERR_UNAVAILABLE', 'the bench suites come with the simulator, which this program was started without (run bin/canopy.js)');
  const suite = await harness.benchSuite(name as SuiteName);
  const progress = (msg: string) => process.stderr.write(`[bench ${name}] ${msg}\n`);
  progress(suite.description);
  const figures = await suite.run(progress, { quick: values.quick ?? false, ...(days !== undefined ? { days } : {}) });
  console.log(values.json ? JSON.stringify(figures) : formatFigures(figures));
  return 0;
}
