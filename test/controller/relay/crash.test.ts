/**
 * Crash test (issue #5): ≥ 2,000 items through the relay while the controller process is killed
 * with SIGKILL at random moments ≥ 20 times: every item acknowledged to the publisher reaches the
 * upstream broker, byte for byte, and none twice after deduplication by id.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCrashTrial } from '../../../harness/rigs/crash-trial.ts';

test('2,000 acknowledged items survive 20 SIGKILLs of the controller: none lost, none corrupted, none twice after dedup', { timeout: 120_000 }, async (t) => {
  const result = await runCrashTrial({ items: 2000, kills: 20, seed: 20260621, link: { bytesPerSec: 1_000_000, latencyMs: 100 }, progress: (msg) => t.diagnostic(msg) });
  t.diagnostic(`${result.seconds.toFixed(1)} s, ${result.duplicatesDropped} resent copies dropped by the receiver`);
  assert.equal(result.kills, 20);
  assert.equal(result.acked, 2000);
  assert.equal(result.lost, 0);
  assert.equal(result.corrupted, 0);
  assert.equal(result.twiceAfterDedup, 0);
});
