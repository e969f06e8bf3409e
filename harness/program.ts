/**
 * The `canopy` program: the controller's command line (controller/cli.ts) composed with the
 * simulator's harness. controller/ imports neither sim/ nor harness/; this is where the two
 * meet. bin/canopy.js runs it from the sources (development) or from the build (dist/).
 */
import { main, type Harness } from '../controller/cli.ts';

export const harness: Harness = {
  simCommand: () => import('./sim-command.ts'),
  simulatedStation: async (c, o) => (await import('./simulated-start.ts')).simulatedStation(c, o),
  benchSuite: async (name) => (await import('./bench/index.ts')).benchSuite(name),
};

/** Runs `canopy ARGV…`; resolves to the exit code. */
export function run(argv: string[]): Promise<number> {
  return main(argv, harness);
}
