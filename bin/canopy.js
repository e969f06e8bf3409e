#!/usr/bin/env node
// Entry point of the `canopy` command. It runs harness/program.ts: the controller's command line
// composed with the simulator's harness.
// - In a checkout with the development tools (npm ci), it runs the TypeScript sources through
//   tsx: what you edit is what runs, with no build step.
// - Otherwise it runs the release build in dist/ (`npm run build`; what install.sh installs):
//   plain JavaScript, with no tsx, esbuild or TypeScript at run time.
// CANOPY_RUN=build runs the build in a checkout too (the tests and benches of the build do).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const sources = new URL('../harness/program.ts', import.meta.url);
const build = new URL('../dist/harness/program.js', import.meta.url);
const mode = process.env.CANOPY_RUN ?? '';
if (mode !== '' && mode !== 'build' && mode !== 'sources') {
  console.error(`canopy: CANOPY_RUN=${mode}: use "build" or "sources" (or leave it unset)`);
  process.exit(64);
}

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

let program;
if (mode !== 'build' && existsSync(sources) && hasTsx()) {
  const { register } = await import('tsx/esm/api');
  register();
  program = sources;
} else if (mode !== 'sources' && existsSync(build)) {
  program = build;
} else {
  console.error(
    mode === 'build' || !existsSync(sources)
      ? 'canopy: no build in dist/: run "npm run build" first'
      : 'canopy: the development tools are not installed: run "npm ci" (or "npm run build" and CANOPY_RUN=build)',
  );
  process.exit(69); // EX_UNAVAILABLE
}
const { run } = await import(program.href);
process.exitCode = await run(process.argv.slice(2));
