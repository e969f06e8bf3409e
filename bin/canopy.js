#!/usr/bin/env node
// Entry point of the `canopy` command: loads the TypeScript sources through tsx (no build step,
// so a Pi runs exactly what is in the repository).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../controller/cli.ts');
process.exitCode = await main(process.argv.slice(2));
