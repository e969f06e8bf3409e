/**
 * `canopy bench`'s suites by name (their descriptions: controller/commands/bench.ts). Each suite
 * is its own module here, loaded only when asked for; a copy of Canopy that leaves one out (or
 * lost it) gets a clear refusal, not a stack trace.
 */
import { CanopyError } from '../../common/errors.ts';
import type { BenchSuite, SuiteName } from '../../controller/commands/bench.ts';

const SUITES: Record<SuiteName, () => Promise<{ suite: BenchSuite }>> = {
  bridge: () => import('./bridge.ts'),
  relay: () => import('./relay.ts'),
  sim: () => import('./sim.ts'),
  fleet: () => import('./fleet.ts'),
  store: () => import('./store.ts'),
  fuzz: () => import('./fuzz.ts'),
  mesh: () => import('./mesh.ts'),
  install: () => import('./install.ts'),
  soak: () => import('./soak.ts'),
};

export async function benchSuite(name: SuiteName): Promise<BenchSuite> {
  try {
    return (await SUITES[name]()).suite;
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' || !String((e as Error).message).includes(`/bench/${name}.`)) throw e;
    throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `the bench suite "${name}" is not in this copy of Canopy (${String((e as Error).message).match(/'([^']+)'/)?.[1] ?? `harness/bench/${name}`} is missing); run it from a checkout, or reinstall`, { cause: e });
  }
}
