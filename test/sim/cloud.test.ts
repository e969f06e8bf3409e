import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeEnvelope } from '../../common/topics.ts';
import { connect, end, publishOutcome } from '../../harness/rigs/mqtt.ts';
import { SIM_CLOUD_KEEP } from '../../harness/simulated-site.ts';
import { Upstream } from '../../sim/cloud.ts';

const PREFIX = 'up/site';

async function publishItems(up: Upstream, ids: string[]): Promise<void> {
  const client = await connect(up.url);
  try {
    for (const id of ids) assert.equal(await publishOutcome(client, `${PREFIX}/backups/phone`, Buffer.from(encodeEnvelope(id, Buffer.from(`body of ${id}`)))), 'acked');
  } finally {
    await end(client);
  }
}

test('the cloud of a long run keeps only the newest `keep` items, and still counts and deduplicates them all', async (t) => {
  const up = await Upstream.start(PREFIX, { keep: 3 });
  t.after(() => up.stop());
  await publishItems(up, ['site:1', 'site:2', 'site:3', 'site:4', 'site:5', 'site:2']);
  await up.waitForDistinct(5);
  assert.deepEqual(up.received.map((r) => [r.id, r.body.toString()]), [['site:4', 'body of site:4'], ['site:5', 'body of site:5'], ['site:2', 'body of site:2']]);
  assert.deepEqual(up.dedup.counts, { fresh: 5, duplicates: 1 });
});

test('by default the cloud keeps every item (the tests and benches read them all)', async (t) => {
  const up = await Upstream.start(PREFIX);
  t.after(() => up.stop());
  const ids = Array.from({ length: SIM_CLOUD_KEEP + 5 }, (_, i) => `site:${i + 1}`);
  await publishItems(up, ids);
  await up.waitForDistinct(ids.length);
  assert.deepEqual(up.received.map((r) => r.id), ids);
});
