import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestContext } from 'node:test';
import { hasCommand } from '../../harness/rigs/processes.ts';

/** Under CANOPY_REQUIRE_ALL=1 (set by .ci/run) a missing tool is a failure, not a skip. */
export const requireAll = process.env.CANOPY_REQUIRE_ALL === '1';

export { hasCommand };

/**
 * Returns true when `cmd` is on PATH. Otherwise skips the test and names the Debian package to
 * install, or throws when CANOPY_REQUIRE_ALL=1.
 */
export function needCommand(t: TestContext, cmd: string, debianPackage = cmd): boolean {
  if (hasCommand(cmd)) return true;
  const msg = `needs ${cmd}: install it with "sudo apt-get install ${debianPackage}"`;
  if (requireAll) throw new Error(`${msg} (CANOPY_REQUIRE_ALL=1 makes this a failure)`);
  t.skip(msg);
  return false;
}

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/**
 * ../shared/reference beside the checkout: captures from real devices recorded by others, which
 * may not be copied into the project. The suite's own inputs are the fixtures in test/fixtures
 * (helpers/fixtures.ts); these captures are extra checks where they are present.
 */
export const referenceDir = join(repoRoot, '..', 'shared', 'reference');

/**
 * Path of a reference capture, or undefined after skipping the test: an extra check, so a clone
 * without ../shared/reference skips it, under CANOPY_REQUIRE_ALL=1 too (the in-repo fixtures
 * cover the same behaviour).
 */
export function needReference(t: TestContext, rel: string): string | undefined {
  const p = join(referenceDir, rel);
  if (existsSync(p)) return p;
  t.skip(`extra check: reference capture ${rel} is not beside the checkout (../shared/reference); the in-repo fixtures cover this`);
  return undefined;
}
