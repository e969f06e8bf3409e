import { test } from 'node:test';
import { eventually } from '../../helpers/events.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, appendFileSync, writeFileSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { isCanopyError } from '../../../common/errors.ts';
import { backup, type BackupOptions } from '../../../controller/store/backup.ts';
import { restore, type RestoreOptions } from '../../../controller/store/restore.ts';
import { openManifest, sealManifest } from '../../../controller/store/manifest.ts';
import { makeTree, NEIGHBOURS, OWNER, storeRig, TEST_LOG_N, treeHashes, type Rig } from './rig.ts';

const PASS = 'correct horse battery staple';

function backupOpts(rig: Rig, path: string, over: Partial<BackupOptions> = {}): BackupOptions {
  return { client: rig.client, owner: OWNER, neighbours: [...rig.neighbours.keys()], k: 3, n: 6, path, passphrase: PASS, kdfLogN: TEST_LOG_N, ...over };
}

function restoreOpts(rig: Rig, manifest: string, dir: string, over: Partial<RestoreOptions> = {}): RestoreOptions {
  return { manifest, dir, passphrase: PASS, sources: [{ client: rig.client, agent: OWNER, label: 'phone' }], shares: rig.client, timeoutMs: 1500, ...over };
}


test('backup goes to the phone, the uplink and 3-of-6 shares; restore from the phone, from upstream alone and from any 3 neighbours is byte-identical; nothing readable reaches the neighbours or upstream', async (t) => {
  const rig = await storeRig(t, { uplink: true });
  const src = join(rig.dir, 'src', 'home');
  const markers = makeTree(src);
  const fractions: number[] = [];
  const r = await backup(backupOpts(rig, src, { progress: (f) => fractions.push(f) }));
  assert.equal(r.files, 5);
  assert.ok(r.chunks >= 8, `${r.chunks} chunks`);
  assert.equal(r.newChunks, r.chunks);
  assert.equal(r.shares, r.chunks * 6, 'six shares per chunk, one per neighbour');
  assert.equal(r.uplinked, r.chunks + 1, 'every chunk and the manifest queued for the uplink');
  assert.deepEqual(r.warnings, []);
  assert.equal(fractions.at(-1), 1);
  const manifestFile = join(rig.dir, 'home.manifest');
  writeFileSync(manifestFile, r.manifest);

  // Each share of a chunk is on a different neighbour.
  const { body } = await openManifest(r.manifest, PASS);
  for (const c of body.chunks) assert.equal(new Set(c.shares.map((s) => s.holder)).size, 6);

  const expected = treeHashes(join(rig.dir, 'src'));
  // 1. From the phone.
  const out1 = join(rig.dir, 'out1');
  const r1 = await restore(restoreOpts(rig, manifestFile, out1));
  assert.deepEqual(r1.failed, []);
  assert.deepEqual(treeHashes(out1), expected);
  assert.ok(statSync(join(out1, 'home', 'empty-dir')).isDirectory());
  assert.equal(r1.fetched.phone, r.chunks);

  // 2. From upstream alone, by manifest address, once the relay has carried everything up.
  await rig.upstream!.waitForDistinct(r.uplinked);
  await eventually(() => rig.upstreamAgent!.counts.ingested >= r.uplinked, 10_000, 'the upstream store keeping every relayed blob');
  const out2 = join(rig.dir, 'out2');
  const r2 = await restore(restoreOpts(rig, r.manifestAddr, out2, { sources: [{ client: rig.upstreamClient!, agent: OWNER, label: 'upstream' }], shares: undefined }));
  assert.deepEqual(treeHashes(out2), expected);
  assert.equal(r2.fetched.upstream, r.chunks);

  // 3. The phone is gone (no sources) and three of six neighbours too: any three shares suffice.
  for (const n of ['alice', 'carol', 'erin']) await rig.stopNeighbour(n);
  const out3 = join(rig.dir, 'out3');
  const r3 = await restore(restoreOpts(rig, manifestFile, out3, { sources: [] }));
  assert.deepEqual(r3.failed, []);
  assert.deepEqual(treeHashes(out3), expected);
  assert.equal(r3.fetched.shares, r.chunks);

  // Privacy: no marker (file contents or names) in anything a neighbour or the upstream broker received.
  assert.ok(rig.seenByOthers.length > r.chunks * 6);
  for (const payload of rig.seenByOthers) for (const m of [...markers, 'home', 'private note']) assert.ok(!payload.includes(m), `"${m}" leaked in a ${payload.length}-byte payload`);
  for (const item of rig.upstream!.received) for (const m of markers) assert.ok(!item.body.includes(m) && !item.topic.includes(m));
});

test('a second backup of a slightly changed tree sends only the changed chunks, and restores to the new tree', async (t) => {
  const rig = await storeRig(t, { neighbours: 3 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const first = await backup(backupOpts(rig, src, { n: 3, k: 2 }));
  appendFileSync(join(src, 'docs', 'report.txt'), 'one more line at the end\n');
  writeFileSync(join(src, 'new.txt'), 'a new small file\n');
  const second = await backup(backupOpts(rig, src, { n: 3, k: 2 }));
  assert.ok(second.newChunks <= 2, `${second.newChunks} new chunks of ${second.chunks}`);
  assert.ok(second.newBytes < second.bytes / 4, `${second.newBytes} new of ${second.bytes} bytes`);
  assert.equal(second.files, first.files + 1);
  const out = join(rig.dir, 'out');
  await restore(restoreOpts(rig, second.manifestAddr, out));
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));
});

test('a wrong passphrase: restore names it and writes nothing; backup refuses to add to a repository it does not open', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const r = await backup(backupOpts(rig, src));
  const out = join(rig.dir, 'out');
  await assert.rejects(restore(restoreOpts(rig, r.manifestAddr, out, { passphrase: 'incorrect horse' })), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE') && /wrong passphrase/.test(e.message));
  assert.equal(existsSync(out), false, 'no output directory, no files');
  await assert.rejects(backup(backupOpts(rig, src, { passphrase: 'incorrect horse' })), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_PASSPHRASE'));
  const stored = (await rig.client.request(OWNER, { op: 'usage' })).data.usage.own.items;
  assert.equal(stored, r.chunks + 1, 'the refused backup sent nothing');
});

test('a tampered chunk is named with its file and the rest restores; with shares it is rebuilt from the neighbours', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const r = await backup(backupOpts(rig, src));
  const { body } = await openManifest(r.manifest, PASS);
  const photo = body.files.find((f) => f.path.endsWith('photo.bin'))!;
  const victim = body.chunks[photo.chunks[0]!]!;
  const db = new Database(join(rig.dir, 'phone', 'index.sqlite'));
  db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(randomBytes(victim.sealed), victim.addr);
  db.close();

  // Phone only: the photo is not written, everything else is, and the chunk and file are named.
  const out = join(rig.dir, 'out');
  const warnings: string[] = [];
  const r1 = await restore(restoreOpts(rig, r.manifestAddr, out, { shares: undefined, warn: (w) => warnings.push(w) }));
  assert.deepEqual(r1.failed.map((f) => f.path), [photo.path]);
  assert.match(r1.failed[0]!.reason, new RegExp(`chunk ${victim.id}.*phone: damaged`));
  assert.ok(r1.problems.some((p) => p.includes(victim.id) && p.includes('damaged on the phone')));
  const expected = treeHashes(join(rig.dir, 'src'));
  const got = treeHashes(out);
  assert.equal(got['home/docs/deep/photo.bin'], undefined);
  assert.equal(readdirSync(join(out, 'home', 'docs', 'deep')).some((f) => f.includes('partial')), false, 'no partial file left');
  assert.deepEqual(got, Object.fromEntries(Object.entries(expected).filter(([k]) => !k.endsWith('photo.bin'))));

  // With the neighbours' shares the damaged chunk is rebuilt and every file restores.
  const out2 = join(rig.dir, 'out2');
  mkdirSync(out2);
  const r2 = await restore(restoreOpts(rig, r.manifestAddr, out2));
  assert.deepEqual(r2.failed, []);
  assert.equal(r2.fetched.shares, 1);
  assert.deepEqual(treeHashes(out2), expected);
});

test('erasure parameters and a missing source path are clear errors', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  await assert.rejects(backup(backupOpts(rig, join(rig.dir, 'nope'))), (e) => isCanopyError(e, 'CANOPY_ERR_NOT_FOUND') && /no such file/.test(e.message));
  await assert.rejects(backup(backupOpts(rig, rig.dir, { k: 4, n: 3 })), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /4-of-3/.test(e.message));
  assert.ok(NEIGHBOURS.length >= 6);
});

test('a manifest whose paths leave the restore directory is refused before anything is written', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const r = await backup(backupOpts(rig, src));
  const { header, body, keys } = await openManifest(r.manifest, PASS);
  body.files[0]!.path = '../escaped.txt';
  const evil = join(rig.dir, 'evil.manifest');
  writeFileSync(evil, sealManifest(header, body, keys));
  const out = join(rig.dir, 'out');
  await assert.rejects(restore(restoreOpts(rig, evil, out)), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_MANIFEST') && /leaves the restore directory/.test(e.message));
  assert.equal(existsSync(out), false);
  assert.equal(existsSync(join(rig.dir, 'escaped.txt')), false);
});

test('a phone that has gone away is asked once, then the restore goes on from the shares alone', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const r = await backup(backupOpts(rig, src));
  writeFileSync(join(rig.dir, 'm'), r.manifest);
  await rig.phone.stop();
  await rig.stopNeighbour('bob');
  const warnings: string[] = [];
  const out = join(rig.dir, 'out');
  const res = await restore(restoreOpts(rig, join(rig.dir, 'm'), out, { timeoutMs: 400, warn: (w) => warnings.push(w) }));
  assert.deepEqual(res.failed, []);
  // bob's silence may not have timed out yet: five other shares answer first.
  assert.ok(res.unreachable.includes('phone'), res.unreachable.join());
  assert.equal(warnings.filter((w) => w.includes('the phone does not answer')).length, 1);
  assert.equal(res.fetched.shares, r.chunks);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));
});

test('a chunk that repeats in the tree (copies of a file) is fetched once by a restore', async (t) => {
  const rig = await storeRig(t, { uplink: false });
  const src = join(rig.dir, 'copysrc', 'copies');
  mkdirSync(src, { recursive: true });
  const content = randomBytes(600 * 1024);
  for (const name of ['a.bin', 'b.bin', 'c.bin']) writeFileSync(join(src, name), content);
  const r = await backup(backupOpts(rig, src, { neighbours: [] }));
  const { body } = await openManifest(r.manifest, PASS);
  const refs = body.files.reduce((s, f) => s + f.chunks.length, 0);
  assert.equal(refs, 3 * body.chunks.length, 'three files, one set of chunks');
  const manifestFile = join(rig.dir, 'copies.manifest');
  writeFileSync(manifestFile, r.manifest);
  const out = join(rig.dir, 'copies-out');
  const res = await restore(restoreOpts(rig, manifestFile, out));
  assert.deepEqual(res.failed, []);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'copysrc')));
  assert.equal(res.fetched.phone, body.chunks.length, `${res.fetched.phone} fetches for ${body.chunks.length} distinct chunks`);
});

test('neighbours added after the first backup get their shares at the next backup, though no chunk is new; the phone can then go and three of the first neighbours too', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const first3 = NEIGHBOURS.slice(0, 3);
  const first = await backup(backupOpts(rig, src, { neighbours: first3 }));
  for (const c of (await openManifest(first.manifest, PASS)).body.chunks) assert.equal(new Set(c.shares.map((s) => s.holder)).size, 3, 'six shares on three neighbours');
  for (const late of NEIGHBOURS.slice(3)) assert.equal(rig.neighbours.get(late)!.store.usage().cold.items, 0);

  const second = await backup(backupOpts(rig, src, { neighbours: NEIGHBOURS }));
  assert.equal(second.newChunks, 0);
  assert.equal(second.spreadShares, first.chunks * 3, 'three of the six shares of every chunk moved to the new neighbours');
  assert.equal(second.shares, second.spreadShares);
  const { body } = await openManifest(second.manifest, PASS);
  for (const c of body.chunks) {
    assert.deepEqual(c.shares.map((s) => s.index), [0, 1, 2, 3, 4, 5]);
    assert.equal(new Set(c.shares.map((s) => s.holder)).size, 6, 'one share per neighbour');
  }
  for (const late of NEIGHBOURS.slice(3)) assert.ok(rig.neighbours.get(late)!.store.usage().cold.items >= first.chunks, `${late} holds shares`);
  const third = await backup(backupOpts(rig, src, { neighbours: NEIGHBOURS }));
  assert.equal(third.shares, 0, 'spread once: nothing more to place');

  // Without the phone and the first three neighbours, the late ones' shares restore everything.
  for (const n of first3) await rig.stopNeighbour(n);
  const out = join(rig.dir, 'out');
  const r = await restore(restoreOpts(rig, writeManifest(rig, second.manifest), out, { sources: [] }));
  assert.deepEqual(r.failed, []);
  assert.equal(r.fetched.shares, first.chunks);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));
});

test('a first backup with no neighbours gets all its shares once neighbours are there', async (t) => {
  const rig = await storeRig(t, { neighbours: 3 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const alone = await backup(backupOpts(rig, src, { neighbours: [], k: 2, n: 3 }));
  assert.equal(alone.shares, 0);
  const later = await backup(backupOpts(rig, src, { k: 2, n: 3 }));
  assert.equal(later.newChunks, 0);
  assert.equal(later.spreadShares, alone.chunks * 3);
  for (const c of (await openManifest(later.manifest, PASS)).body.chunks) assert.equal(new Set(c.shares.map((s) => s.holder)).size, 3);
});

test('restore refuses to overwrite a file that differs from the backup (nothing written), leaves identical ones, and replaces it with overwrite', async (t) => {
  const rig = await storeRig(t, { neighbours: 0 });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const r = await backup(backupOpts(rig, src));
  const out = join(rig.dir, 'out');
  const first = await restore(restoreOpts(rig, r.manifestAddr, out));
  assert.deepEqual(first.roots, [join(out, 'home')], 'files land in DIR/<name of what was backed up>');
  assert.equal(first.unchanged, 0);

  const changed = join(out, 'home', 'docs', 'report.txt');
  writeFileSync(changed, 'edited locally\n');
  const removed = join(out, 'home', 'notes.txt');
  rmSync(removed);
  await assert.rejects(
    restore(restoreOpts(rig, r.manifestAddr, out)),
    (e) => isCanopyError(e, 'CANOPY_ERR_STORE_EXISTS') && e.message.includes(changed) && /--overwrite/.test(e.message) && !e.message.includes('\n'),
  );
  assert.equal(readFileSync(changed, 'utf8'), 'edited locally\n', 'the local edit is kept');
  assert.equal(existsSync(removed), false, 'nothing was written');

  const again = await restore(restoreOpts(rig, r.manifestAddr, out, { overwrite: true }));
  assert.deepEqual(again.failed, []);
  assert.equal(again.unchanged, first.files - 2, 'the files already as in the backup are not fetched again');
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));

  // A directory where the backup has a file is in the way even with overwrite.
  rmSync(removed);
  mkdirSync(removed);
  await assert.rejects(restore(restoreOpts(rig, r.manifestAddr, out, { overwrite: true })), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_EXISTS') && /in the way/.test(e.message));
});

function writeManifest(rig: Rig, bytes: Uint8Array): string {
  const file = join(rig.dir, `m-${randomBytes(4).toString('hex')}.manifest`);
  writeFileSync(file, bytes);
  return file;
}
