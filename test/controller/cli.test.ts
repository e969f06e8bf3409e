import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { canopy, canopyBin } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/tools.ts';
import { SUITE_NAMES } from '../../controller/commands/bench.ts';

test('canopy --help lists every command; a command explains its own options', async () => {
  const help = await canopy('--help');
  assert.equal(help.code, 0);
  for (const name of ['start', 'bench', 'tlog']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  const bench = await canopy('bench', '--help');
  assert.equal(bench.code, 0);
  assert.match(bench.stdout, /canopy bench <suite> \[--quick\] \[--days N\] \[--json\]/);
  for (const suite of SUITE_NAMES) assert.match(bench.stdout, new RegExp(`\\b${suite}\\b`), `bench --help names the suite ${suite}`);
});

test('an unknown command or suite is a usage error (64) with the known names', async () => {
  const cmd = await canopy('fly-away');
  assert.equal(cmd.code, 64);
  assert.match(cmd.stderr, /unknown command "fly-away"/);
  const suite = await canopy('bench', 'nope');
  assert.equal(suite.code, 64);
  assert.match(suite.stderr, /unknown suite "nope"; suites: bridge, relay/);
  const days = await canopy('bench', 'fleet', '--days', '0');
  assert.equal(days.code, 64);
  assert.match(days.stderr, /--days must be a whole number of days from 1 to 366, not "0"/);
  const notDays = await canopy('bench', 'store', '--days', '3');
  assert.equal(notDays.code, 64);
  assert.match(notDays.stderr, /--days is for the suites that fly days \(fleet\), not "store"/);
});

test('canopy bench bridge --json prints one JSON object with the named figures', async () => {
  const r = await canopy('bench', 'bridge', '--quick', '--json');
  assert.equal(r.code, 0, r.stderr);
  const figures = JSON.parse(r.stdout) as Record<string, number>;
  for (const key of ['ingest_ratio', 'recovery_vs_ideal_1e-4', 'recovery_vs_ideal_1e-3', 'recovery_vs_ideal_1e-2', 'rss_mb_25']) {
    assert.equal(typeof figures[key], 'number', key);
  }
  assert.ok(figures.ingest_ratio! > 0);
  // The framer's promise, on a seeded corrupted stream: ≥ 99 % of the ideal at every rate.
  for (const rate of ['1e-4', '1e-3', '1e-2']) assert.ok(figures[`recovery_vs_ideal_${rate}`]! >= 0.99, `${rate}: ${figures[`recovery_vs_ideal_${rate}`]}`);
  assert.ok(figures.rss_mb_25! > figures.rss_mb_baseline!, 'the 25-vehicle process holds more than the idle one');
  assert.match(r.stderr, /\[bench bridge\] recovery at byte error rate 1e-2/, 'progress goes to stderr');
});

test('a reader that goes away ends the output quietly (no EPIPE stack trace)', async () => {
  const child = spawn(process.execPath, [canopyBin, 'help', '--markdown'], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // like `| head -0`: the pipe is closed before the first write
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(stderr, '');
  assert.equal(code, 0);
});

// Every subcommand (and each of its verbs) with an option it does not have, and options without
// their value: one line naming the option and where the options are listed, exit 64, no trace.
const BAD_INVOCATIONS: string[][] = [
  ['start', '--prot', '1'],
  ['start', '--mqtt-port'],
  ['sim', 'run', '--duration', '1h'],
  ['sim', 'run', '--report'],
  ['sim', 'serve', '--bogus'],
  ['sim', 'list', '--bogus'],
  ['bench', 'bridge', '--bogus'],
  ['config', 'check', '--bogus'],
  ['config', 'print', '--bogus'],
  ['radio', 'show', '/dev/null', '--bogus'],
  ['radio', 'setup', '/dev/null', '--bogus'],
  ['doctor', '--jsn'],
  ['phone', '--bogus'],
  ['phone', 'scrub', '--bogus'],
  ['phone', 'usage', '--bogus'],
  ['backup', '.', '--bogus'],
  ['backup', '.', '--broker'],
  ['restore', 'manifest.json', 'out', '--bogus'],
  ['user', 'add', 'someone', '--bogus'],
  ['user', 'add', 'someone', '--role'],
  ['user', 'list', '--bogus'],
  ['user', 'remove', 'someone', '--bogus'],
  ['signing', 'setup', '--bogus'],
  ['tlog', 'info', 'x.tlog', '--bogus'],
  ['tlog', 'replay', 'x.tlog', '--bogus'],
];

test('every subcommand with an unknown or incomplete option: one line, exit 64, no stack trace', async () => {
  const { SUBCOMMANDS } = await import('../../controller/cli.ts');
  const covered = new Set(BAD_INVOCATIONS.map((a) => a[0]));
  for (const name of Object.keys(SUBCOMMANDS)) assert.ok(covered.has(name), `a bad invocation of "${name}" is in the list`);
  // Two at a time: each is a process of its own.
  const queue = [...BAD_INVOCATIONS];
  const wrong: string[] = [];
  const worker = async () => {
    for (let args = queue.shift(); args; args = queue.shift()) {
      const r = await canopy(...args);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      const oneLine = lines.length === 1 && new RegExp(`^canopy ${args[0]}: .*"canopy ${args[0]} --help" lists the options`).test(lines[0]!);
      if (r.code !== 64 || !oneLine || /^\s+at |ERR_PARSE_ARGS/m.test(r.stderr)) wrong.push(`canopy ${args.join(' ')}: exit ${r.code}, stderr:\n${r.stderr}`);
    }
  };
  await Promise.all([worker(), worker()]);
  assert.deepEqual(wrong, []);
});

/** The long options a source file declares to node's parseArgs (`name: { type: … }`). */
function declaredOptions(file: string): string[] {
  const src = readFileSync(join(repoRoot, file), 'utf8');
  return [...src.matchAll(/(?:^\s+|[{,] )'?([a-z][a-z0-9-]*)'?: \{ type: '(?:string|boolean)'/gm)].map((m) => m[1]!);
}

test('every option of every command is in its --help, and docs/cli.md is that help', async () => {
  const { SUBCOMMANDS, referenceMarkdown } = await import('../../controller/cli.ts');
  const { CONNECTION_OPTIONS, OWNER_OPTIONS } = await import('../../controller/store/command-line.ts');
  const shared: Record<string, string[]> = { phone: Object.keys(CONNECTION_OPTIONS), backup: Object.keys(OWNER_OPTIONS), restore: Object.keys(OWNER_OPTIONS) };
  const missing: string[] = [];
  for (const name of Object.keys(SUBCOMMANDS)) {
    const options = new Set([...declaredOptions(name === 'sim' ? 'harness/sim-command.ts' : `controller/commands/${name}.ts`), ...(shared[name] ?? [])]);
    assert.ok(options.size > 0 || name === 'config', `options of ${name} found`);
    const help = (await canopy(name, '--help')).stdout;
    for (const o of options) if (!new RegExp(`--${o}\\b`).test(help)) missing.push(`canopy ${name} --help lacks --${o}`);
  }
  assert.deepEqual(missing, []);
  assert.equal(readFileSync(join(repoRoot, 'docs', 'cli.md'), 'utf8'), referenceMarkdown(), 'docs/cli.md is current (npm run docs)');
});
