#!/usr/bin/env node
// The README's test command: type-check, then run every test/**/*.test.ts with node's test runner.
// Extra arguments are passed on as file filters: `npm test -- framer` runs files whose path contains "framer".
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const filters = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

console.log('type-check: tsc --noEmit');
// The project, then the dashboard's browser code (its own tsconfig: DOM, no Node).
for (const project of [root, join(root, 'dashboard', 'web')]) {
  const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', project], { stdio: 'inherit', cwd: root });
  if (tsc.status !== 0) {
    console.error(`type-check failed (${relative(root, project) || '.'})`);
    process.exit(tsc.status ?? 1);
  }
}

const files = findTests(join(root, 'test')).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const concurrency = process.env.CANOPY_TEST_CONCURRENCY ?? '2';
const run = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files], { stdio: 'inherit', cwd: root, env: process.env });
process.exit(run.status ?? 1);
