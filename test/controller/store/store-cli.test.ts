import { test } from 'node:test';
import { eventually } from '../../helpers/events.ts';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canopy, spawnCanopy } from '../../helpers/cli.ts';
import { password, startMesh } from '../../../harness/rigs/mesh.ts';
import { ChunkStore } from '../../../controller/store/chunk-store.ts';
import { makeTree, PREFIX, storeRig, treeHashes } from './rig.ts';


test('canopy phone, backup and restore end to end; a wrong passphrase writes nothing; scrub and usage', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-store-cli-'));
  const { mesh, url } = await startMesh();
  t.after(async () => {
    await mesh.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  process.env.CANOPY_PASSWORD = password('phone');
  process.env.CANOPY_PASSPHRASE = 'a long and private passphrase';
  t.after(() => {
    delete process.env.CANOPY_PASSWORD;
    delete process.env.CANOPY_PASSPHRASE;
  });
  const store = join(dir, 'store');
  const agent = spawnCanopy(t, 'phone', '--store', store, '--broker', url, '--quota-cold', '10M');
  await eventually(() => agent.output().includes('serving'), 30_000, 'the phone agent up');

  const src = join(dir, 'src', 'home');
  makeTree(src);
  const manifest = join(dir, 'home.manifest');
  // Sealed on two worker threads: they load through bin/canopy.js (seal-worker.js) and stop at the end.
  const b = await canopy('backup', src, '--broker', url, '--no-uplink', '--scrypt-log-n', '4', '--manifest', manifest, '--seal-workers', '2');
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /backed up 5 files, \d\.\d MB in \d+ chunks; new: \d+ chunks/);
  assert.match(b.stdout, /manifest [0-9a-f]{64} written to/);
  assert.match(b.stderr, /backup home 100 %/);
  assert.match(b.stderr, /warning: no neighbours: no erasure shares are made/);

  const out = join(dir, 'out');
  const r = await canopy('restore', manifest, out, '--broker', url);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /restored 5 files, \d\.\d MB into .* \(chunks: \d+ from phone\)/);
  assert.deepEqual(treeHashes(out), treeHashes(join(dir, 'src')));

  process.env.CANOPY_PASSPHRASE = 'not the passphrase';
  const wrong = await canopy('restore', manifest, join(dir, 'out2'), '--broker', url);
  assert.equal(wrong.code, 77, 'EX_NOPERM');
  assert.match(wrong.stderr, /canopy restore: wrong passphrase.*\[CANOPY_ERR_STORE_PASSPHRASE\]/);
  assert.equal(existsSync(join(dir, 'out2')), false);

  const scrub = await canopy('phone', 'scrub', '--store', store);
  assert.equal(scrub.code, 0, scrub.stderr);
  assert.match(scrub.stdout, /checked \d+ chunks, \d+ bytes: all intact/);
  const usage = await canopy('phone', 'usage', '--store', store, '--json');
  const u = JSON.parse(usage.stdout) as Record<string, { items: number }>;
  assert.ok(u.own!.items > 5);

  const badWorkers = await canopy('backup', src, '--broker', url, '--scrypt-log-n', '4', '--seal-workers=-1');
  assert.equal(badWorkers.code, 64, 'EX_USAGE');
  assert.match(badWorkers.stderr, /seal workers: -1; need an integer from 0 to 64.*\[CANOPY_ERR_BAD_ARGUMENT\]/);

  const missing = await canopy('backup', join(dir, 'nope'), '--broker', url, '--scrypt-log-n', '4');
  assert.equal(missing.code, 66, 'EX_NOINPUT');
  assert.match(missing.stderr, /no such file or directory \[CANOPY_ERR_NOT_FOUND\]/);

  // A file changed since the backup is not overwritten unless asked.
  process.env.CANOPY_PASSPHRASE = 'a long and private passphrase';
  const edited = join(out, 'home', 'notes.txt');
  writeFileSync(edited, 'my own edit\n');
  const refused = await canopy('restore', manifest, out, '--broker', url);
  assert.equal(refused.code, 73, refused.stderr);
  assert.match(refused.stderr, new RegExp(`^canopy restore: ${edited}: already there with other content than the backup's; nothing was restored \\(--overwrite replaces it, or restore into another directory\\) \\[CANOPY_ERR_STORE_EXISTS\\]$`, 'm'));
  assert.equal(readFileSync(edited, 'utf8'), 'my own edit\n');
  const overwritten = await canopy('restore', manifest, out, '--broker', url, '--overwrite');
  assert.equal(overwritten.code, 0, overwritten.stderr);
  assert.match(overwritten.stdout, /restored 5 files, .* into .*out\/home .*; 4 of them were there already, unchanged/);
  assert.deepEqual(treeHashes(out), treeHashes(join(dir, 'src')));
});

test('backup and restore name the user whose login the broker refused, and where its password came from', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  process.env.CANOPY_PASSPHRASE = 'whatever';
  process.env.CANOPY_PASSWORD = 'not the password';
  t.after(() => {
    delete process.env.CANOPY_PASSWORD;
    delete process.env.CANOPY_PASSPHRASE;
  });
  const b = await canopy('backup', '.', '--broker', url);
  assert.equal(b.code, 77, b.stderr);
  assert.match(b.stderr, /^canopy backup: cannot connect to mqtt:\/\/[^:]+:\d+: the broker refused user "phone" .*its password came from CANOPY_PASSWORD .*\[CANOPY_ERR_DENIED\]$/m);
  delete process.env.CANOPY_PASSWORD;
  const r = await canopy('restore', 'x.manifest', 'out', '--broker', url, '--username', 'alice');
  assert.equal(r.code, 77, r.stderr);
  assert.match(r.stderr, /^canopy restore: cannot connect to .*: the broker refused user "alice" .*no password was given: set CANOPY_PASSWORD or --password-file FILE/m);
  assert.doesNotMatch(b.stderr + r.stderr, /\n\s+at /);
});

test('backup --help and restore --help list every option they take', async () => {
  const options: Record<string, string[]> = {
    backup: ['config', 'broker', 'base', 'owner', 'username', 'password-file', 'data', 'neighbour', 'passphrase-file', 'timeout', 'k', 'n', 'manifest', 'no-uplink', 'scrypt-log-n', 'repair', 'seal-workers'],
    restore: ['config', 'broker', 'base', 'owner', 'username', 'password-file', 'data', 'neighbour', 'passphrase-file', 'timeout', 'upstream', 'upstream-base', 'upstream-username', 'no-mesh', 'overwrite'],
  };
  for (const [command, flags] of Object.entries(options)) {
    const help = await canopy(command, '--help');
    assert.equal(help.code, 0);
    for (const f of flags) assert.ok(help.stdout.includes(`--${f}`), `canopy ${command} --help names --${f}`);
  }
  assert.match((await canopy('restore', '--help')).stdout, /DIR\/<name of what was backed up>/);
});

test('canopy phone --ingest keeps what the relay carries up, and canopy restore --upstream --no-mesh restores from it alone', async (t) => {
  const rig = await storeRig(t, { neighbours: 0, uplink: true });
  // The rig's upstream agent is in-process; this one is the CLI's, on its own store.
  await rig.upstreamAgent!.stop();
  const upStore = join(rig.dir, 'cli-upstream');
  const ingest = spawnCanopy(t, 'phone', '--store', upStore, '--broker', rig.upstream!.url, '--name', 'phone', '--ingest', PREFIX);
  await eventually(() => ingest.output().includes('serving'), 30_000, 'the upstream agent up');
  process.env.CANOPY_PASSWORD = password('phone');
  process.env.CANOPY_PASSPHRASE = 'upstream only';
  t.after(() => {
    delete process.env.CANOPY_PASSWORD;
    delete process.env.CANOPY_PASSPHRASE;
  });
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const manifest = join(rig.dir, 'home.manifest');
  const b = await canopy('backup', src, '--broker', rig.url, '--scrypt-log-n', '4', '--manifest', manifest);
  assert.equal(b.code, 0, b.stderr);
  const queued = Number(/uplink: (\d+) queued/.exec(b.stdout)?.[1]);
  assert.ok(queued > 5, b.stdout);
  await rig.upstream!.waitForDistinct(queued);
  // The relay delivered everything; wait until the CLI agent has committed it (its SQLite file, read beside it).
  await eventually(() => {
    const store = new ChunkStore({ dir: upStore });
    try {
      return store.usage().own.items >= queued;
    } finally {
      store.close();
    }
  }, 10_000, 'the upstream store keeping every relayed blob');
  const out = join(rig.dir, 'out');
  const r = await canopy('restore', manifest, out, '--no-mesh', '--upstream', rig.upstream!.url, '--timeout', '2000');
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /\(chunks: \d+ from upstream\)/);
  assert.deepEqual(treeHashes(out), treeHashes(join(rig.dir, 'src')));
});
