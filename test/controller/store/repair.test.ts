import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { backup } from '../../../controller/store/backup.ts';
import { restore } from '../../../controller/store/restore.ts';
import { repair } from '../../../controller/store/repair.ts';
import { openManifest } from '../../../controller/store/manifest.ts';
import { makeTree, NEIGHBOURS, OWNER, storeRig, TEST_LOG_N, treeHashes } from './rig.ts';
import { canopy } from '../../helpers/cli.ts';
import { connect, end } from '../../../harness/rigs/mqtt.ts';
import { credentials, password } from '../../../harness/rigs/mesh.ts';

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

test('canopy backup --repair follows the power budget: the retained PowerState withholds, then grants', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const four = NEIGHBOURS.slice(0, 4);
  const b = await backup({ client: rig.client, owner: OWNER, k: 2, n: 4, neighbours: four, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N });
  const manifestFile = join(rig.dir, 'home.manifest');
  writeFileSync(manifestFile, b.manifest);
  await rig.stopNeighbour('alice');
  const admin = await connect(rig.url, credentials('admin'));
  t.after(() => end(admin));
  // The power budget's retained state, as the controller publishes it.
  const power = (uplinkGranted: boolean) => admin.publishAsync('canopy/power', JSON.stringify({ solarW: 0, loadW: 0, dishW: 0, uplinkGranted, updatedAt: 0 }), { qos: 1, retain: true });
  process.env.CANOPY_PASSWORD = password(OWNER);
  process.env.CANOPY_PASSPHRASE = PASS;
  t.after(() => {
    delete process.env.CANOPY_PASSWORD;
    delete process.env.CANOPY_PASSPHRASE;
  });
  const args = ['backup', '--repair', manifestFile, '--broker', rig.url, ...NEIGHBOURS.flatMap((n) => ['--neighbour', n]), '--timeout', '1000'];

  await power(false);
  const withheld = await canopy(...args);
  assert.equal(withheld.code, 75, `a repair that could do nothing is EX_TEMPFAIL: ${withheld.stderr}`);
  assert.match(withheld.stdout, /neighbours gone: alice/);
  assert.match(withheld.stdout, new RegExp(`shares lost ${b.chunks}, re-created 0, ${b.chunks} chunks deferred`));
  // One line that says what it waits for, and no stack trace.
  const line = withheld.stderr.split('\n').find((l) => l.startsWith('canopy backup:'));
  assert.match(line ?? '', new RegExp(`repair re-created nothing and deferred ${b.chunks} chunks: it waits for the power budget to grant extra work .*canopy/power.*; run it again then \\[CANOPY_ERR_DEFERRED\\]$`));
  assert.doesNotMatch(withheld.stderr, /\n\s+at /);

  await power(true);
  const granted = await canopy(...args);
  assert.equal(granted.code, 0, granted.stderr);
  assert.match(granted.stdout, new RegExp(`shares lost ${b.chunks}, re-created ${b.chunks}\\n`));
  assert.match(granted.stdout, /manifest [0-9a-f]{64} written to/);
  const after = await openManifest(readFileSync(manifestFile), PASS);
  assert.ok(after.body.chunks.every((c) => c.shares.length === 4 && !c.shares.some((s) => s.holder === 'alice')));
});

test('neighbours added after a backup get shares at the next repair: shares crowded on the first ones move to them', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const targets = { client: rig.client, owner: OWNER, k: 3, n: 6, timeoutMs: 800 };
  const b = await backup({ ...targets, neighbours: NEIGHBOURS.slice(0, 2), path: src, passphrase: PASS, kdfLogN: TEST_LOG_N });
  let granted = false;
  const deferred = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: b.manifest, passphrase: PASS, grant: () => granted });
  assert.equal(deferred.healthy, 0, 'three shares on each of two neighbours, with six there: not spread');
  assert.equal(deferred.deferred, b.chunks);
  granted = true;
  const r = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: b.manifest, passphrase: PASS, grant: () => granted });
  assert.deepEqual(r.gone, []);
  assert.equal(r.lostShares, 0);
  assert.equal(r.moved, b.chunks * 4, 'four of the six shares of every chunk moved');
  const after = await openManifest(r.manifest!, PASS);
  for (const c of after.body.chunks) assert.equal(new Set(c.shares.map((s) => s.holder)).size, 6);
  for (const late of NEIGHBOURS.slice(2)) assert.ok(rig.neighbours.get(late)!.store.usage().cold.items >= b.chunks, `${late} holds shares`);
  const again = await repair({ ...targets, neighbours: NEIGHBOURS, manifest: r.manifest!, passphrase: PASS });
  assert.equal(again.healthy, b.chunks);
  assert.equal(again.manifest, undefined, 'nothing moved: no new manifest');
});
