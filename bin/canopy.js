#!/usr/bin/env node
// Entry point of the `canopy` command: loads the TypeScript sources through tsx (no build step,
// so a Pi runs exactly what is in the repository). The program composes the controller's command
// line with the simulator's harness; neither imports the other.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../controller/cli.ts');
/** @type {import('../controller/cli.ts').Harness} */
const harness = {
  simCommand: () => import('../harness/sim-command.ts'),
  simulatedStation: async (c, o) => (await import('../harness/simulated-start.ts')).simulatedStation(c, o),
};
process.exitCode = await main(process.argv.slice(2), harness);
