import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canopy } from '../helpers/cli.ts';
import { SUITE_NAMES } from '../../controller/commands/bench.ts';

test('canopy --help lists every command; a command explains its own options', async () => {
  const help = await canopy('--help');
  assert.equal(help.code, 0);
  for (const name of ['start', 'bench', 'tlog']) assert.match(help.stdout, new RegExp(`^  ${name} `, 'm'));
  const bench = await canopy('bench', '--help');
  assert.equal(bench.code, 0);
  assert.match(bench.stdout, /canopy bench <suite> \[--quick\] \[--json\]/);
  for (const suite of SUITE_NAMES) assert.match(bench.stdout, new RegExp(`\\b${suite}\\b`), `bench --help names the suite ${suite}`);
});

test('an unknown command or suite is a usage error (64) with the known names', async () => {
  const cmd = await canopy('fly-away');
  assert.equal(cmd.code, 64);
  assert.match(cmd.stderr, /unknown command "fly-away"/);
  const suite = await canopy('bench', 'nope');
  assert.equal(suite.code, 64);
  assert.match(suite.stderr, /unknown suite "nope"; suites: bridge, relay/);
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
