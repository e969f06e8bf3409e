import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backup } from '../../../controller/store/backup.ts';
import { restore } from '../../../controller/store/restore.ts';
import { repair } from '../../../controller/store/repair.ts';
import { openManifest } from '../../../controller/store/manifest.ts';
import { makeTree, NEIGHBOURS, OWNER, storeRig, TEST_LOG_N, treeHashes } from './rig.ts';

const PASS = 'repair me';

test('when a neighbour disappears, its shares are re-created on the others once the power budget grants it; the phone can then be lost too', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  // 3-of-5 over the first five neighbours; frank is the spare.
  const five = NEIGHBOURS.slice(0, 5);
  const targets = { client: rig.client, owner: OWNER, k: 3, n: 5, timeoutMs: 800 };
  const b = await backup({ ...targets, neighbours: five, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N });
  const before = await openManifest(b.manifest, PASS);

  await rig.stopNeighbour('bob');
  await rig.stopNeighbour('dave');
  let granted = false;
  const withheld = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: b.manifest, passphrase: PASS, grant: () => granted });
  assert.deepEqual(withheld.gone.sort(), ['bob', 'dave']);
  assert.equal(withheld.deferred, b.chunks, 'no grant: every short chunk is left for later');
  assert.equal(withheld.recreated, 0);
  assert.equal(withheld.manifest, undefined);

  granted = true;
  const r = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: b.manifest, passphrase: PASS, grant: () => granted });
  assert.equal(r.lostShares, b.chunks * 2);
  assert.equal(r.recreated, b.chunks * 2);
  assert.equal(r.deferred, 0);
  assert.deepEqual(r.unrecoverable, []);
  const after = await openManifest(r.manifest!, PASS);
  for (const [i, c] of after.body.chunks.entries()) {
    assert.deepEqual(c.shares.map((s) => s.index), [0, 1, 2, 3, 4]);
    assert.ok(!c.shares.some((s) => s.holder === 'bob' || s.holder === 'dave'), `chunk ${i} still counts on a gone neighbour`);
    assert.deepEqual(c.shares.map((s) => s.addr), before.body.chunks[i]!.shares.map((s) => s.addr), 'the same shares, byte for byte, elsewhere');
  }
  assert.ok(rig.neighbours.get('frank')!.store.usage().cold.items > 0, 'the spare neighbour took shares');

  // A further neighbour goes; repaired again, then restored without the phone from the shares alone.
  await rig.stopNeighbour('alice');
  const again = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: r.manifest!, passphrase: PASS });
  assert.deepEqual(again.gone, ['alice']);
  // Four neighbours are left for five shares, so alice held one or two shares of every chunk.
  assert.ok(again.lostShares >= b.chunks && again.lostShares <= 2 * b.chunks, `${again.lostShares} shares lost`);
  assert.equal(again.recreated, again.lostShares);
  const manifestFile = join(rig.dir, 'repaired.manifest');
  writeFileSync(manifestFile, again.manifest!);
  const out = join(rig.dir, 'out');
  const res = await restore({ manifest: manifestFile, dir: out, passphrase: PASS, sources: [], shares: rig.client, timeoutMs: 800 });
  assert.deepEqual(res.failed, []);
  assert.equal(res.fetched.shares, b.chunks);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));
});
