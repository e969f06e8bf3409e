import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { backup } from '../../../controller/store/backup.ts';
import { audit, AuditSchedule } from '../../../controller/store/audit.ts';
import { AUDIT_ROUNDS } from '../../../controller/store/audit-proof.ts';
import { Ledger } from '../../../controller/store/ledger.ts';
import { openManifest } from '../../../controller/store/manifest.ts';
import { password } from '../../../harness/rigs/mesh.ts';
import { LyingHolder, tamper, type Lie, type Tampering } from '../../../harness/rigs/audit-tamper.ts';
import { makeTree, NEIGHBOURS, OWNER, storeRig, TEST_LOG_N } from './rig.ts';

const PASS = 'audit me';
const DAY = 86_400_000;

test('an audit catches every share a neighbour deleted, altered by one byte, swapped or never had, while its traffic stays under 1 % of the share bytes; the failed shares are repaired elsewhere', async (t) => {
  const rig = await storeRig(t, { neighbours: 6 });
  const ledger = new Ledger(join(rig.dir, 'owner-data'));
  t.after(() => ledger.close());
  const src = join(rig.dir, 'src', 'home');
  makeTree(src);
  const targets = { client: rig.client, owner: OWNER, neighbours: NEIGHBOURS, k: 3, n: 6, timeoutMs: 1500, onReceipt: (r: unknown) => ledger.keepReceipt(r) };
  const b = await backup({ ...targets, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N });
  const { body } = await openManifest(b.manifest, PASS);
  assert.ok(body.chunks.every((c) => c.shares.length === 6 && c.shares.every((s) => s.audit !== undefined)), 'every share is armed with answers when it is made');
  for (const nb of NEIGHBOURS) assert.equal(ledger.receipts(nb).length, body.chunks.filter((c) => c.shares.some((s) => s.holder === nb)).length, `${nb} signed a receipt per share it took`);

  let clock = 1_000 * DAY;
  const round = (manifest: Uint8Array) => audit({ ...targets, manifest, passphrase: PASS, ledger, now: () => clock });
  const clean = await round(b.manifest);
  assert.equal(clean.audited, body.chunks.length * 6);
  assert.equal(clean.passed, clean.audited);
  assert.deepEqual(clean.failed, []);
  assert.ok(clean.auditBytes / clean.shareBytes <= 0.01, `audit traffic ${clean.auditBytes} B for ${clean.shareBytes} B of shares`);
  assert.equal(clean.manifest, undefined, 'nothing to change');

  // The tampering: real deletions and one-byte changes in two stores, and two neighbours replaced by liars.
  const sharesOf = (nb: string) => body.chunks.flatMap((c) => c.shares.filter((s) => s.holder === nb));
  const tampered = new Set<string>();
  const real: [string, Tampering][] = [['alice', 'delete'], ['bob', 'flip-byte']];
  for (const [nb, how] of real) {
    // Every other share of theirs: the rest stay intact and must pass.
    for (const s of sharesOf(nb).filter((_, i) => i % 2 === 0)) {
      tamper(rig.neighbours.get(nb)!.store, s.addr, how);
      tampered.add(s.addr);
    }
  }
  const liars: [string, Lie][] = [['dave', 'swapped'], ['erin', 'altered'], ['frank', 'absent']];
  for (const [nb, lie] of liars) {
    const store = rig.neighbours.get(nb)!.store;
    await rig.stopNeighbour(nb);
    const liar = await LyingHolder.start({ url: rig.url, name: nb, password: password(nb), store, lie });
    t.after(() => liar.stop());
    for (const s of sharesOf(nb)) tampered.add(s.addr);
  }

  clock += DAY;
  const caught = await round(b.manifest);
  assert.deepEqual(new Set(caught.failed.map((f) => f.addr)), tampered, 'every tampered share is caught, and only those');
  assert.equal(caught.passed, caught.audited - tampered.size);
  assert.ok(caught.failed.filter((f) => f.holder === 'bob').every((f) => f.why === 'missing'), 'a damaged share is not answered');
  assert.ok(caught.failed.filter((f) => f.holder === 'dave').every((f) => f.why === 'wrong answer'), 'a swapped share answers wrong');

  // The failed shares were re-created byte for byte on neighbours that answered right.
  const r = caught.repair!;
  assert.equal(r.recreated, tampered.size);
  const after = await openManifest(caught.manifest!, PASS);
  for (const [i, c] of after.body.chunks.entries()) {
    const failedHere = caught.failed.filter((f) => f.chunk === c.id);
    for (const f of failedHere) {
      const now = c.shares.find((s) => s.index === f.index)!;
      assert.notEqual(now.holder, f.holder, `chunk ${i} share ${f.index} left on ${f.holder}, which failed its audit`);
      assert.equal(now.addr, f.addr);
    }
  }
  // The next round finds them all intact where they are now.
  clock += DAY;
  const next = await round(caught.manifest!);
  assert.deepEqual(next.failed, []);
  assert.equal(next.passed, next.audited);

  // The ledger: passes and failures, proven holding in byte-days, and the room that follows.
  const carol = ledger.row('carol');
  const alice = ledger.row('alice');
  assert.equal(carol.auditsFailed, 0);
  assert.ok(carol.auditsPassed > 0 && carol.heldForUsByteDays > 0, JSON.stringify(carol));
  assert.equal(alice.auditsFailed, sharesOf('alice').filter((_, i) => i % 2 === 0).length);
  for (const [nb] of liars) assert.equal(ledger.row(nb).auditsFailed, sharesOf(nb).length);
  assert.ok(ledger.room('carol') > ledger.room('alice') && ledger.room('alice') > ledger.room('frank'), 'room follows what a neighbour proved it holds and its failures');
});

test('challenges are used once: after AUDIT_ROUNDS rounds a share is armed again from the phone\'s copy, under the grant', async (t) => {
  const rig = await storeRig(t, { neighbours: 3 });
  const ledger = new Ledger(join(rig.dir, 'owner-data'));
  t.after(() => ledger.close());
  const src = join(rig.dir, 'src', 'small');
  makeTree(src);
  const targets = { client: rig.client, owner: OWNER, neighbours: NEIGHBOURS.slice(0, 3), k: 2, n: 3, timeoutMs: 1500 };
  const b = await backup({ ...targets, path: src, passphrase: PASS, kdfLogN: TEST_LOG_N });
  let manifest = b.manifest;
  for (let i = 0; i < AUDIT_ROUNDS; i++) {
    const r = await audit({ ...targets, manifest, passphrase: PASS, ledger });
    assert.equal(r.failed.length, 0);
    assert.equal(r.unarmed, 0);
  }
  const shares = b.chunks * 3;
  const withheld = await audit({ ...targets, manifest, passphrase: PASS, ledger, grant: () => false });
  assert.equal(withheld.unarmed, shares);
  assert.equal(withheld.audited, 0, 'no answer is left to check against');
  assert.ok(withheld.deferred);
  const armed = await audit({ ...targets, manifest, passphrase: PASS, ledger });
  assert.equal(armed.armed, shares);
  manifest = armed.manifest!;
  const { body } = await openManifest(manifest, PASS);
  assert.ok(body.chunks.every((c) => c.shares.every((s) => s.audit!.from === AUDIT_ROUNDS)), 'the new answers start where the used ones end');
  const fresh = await audit({ ...targets, manifest, passphrase: PASS, ledger });
  assert.equal(fresh.passed, shares);
});

test('scheduled audits wait for the power grant', async () => {
  let granted = false;
  const timers: { fn: () => void; ms: number }[] = [];
  let rounds = 0;
  const schedule = new AuditSchedule({
    round: async () => {
      rounds++;
      return { audited: 0, passed: 0, failed: [], unanswered: [], unarmed: 0, armed: 0, auditBytes: 0, shareBytes: 0, deferred: false };
    },
    periodMs: DAY,
    retryMs: 60_000,
    grant: () => granted,
    setTimer: (fn, ms) => (timers.push({ fn, ms }), { cancel: () => {} }),
  });
  schedule.start();
  assert.equal(timers.at(-1)!.ms, 0, 'the first round is due at once');
  assert.equal(await schedule.tick(), false);
  assert.equal(rounds, 0, 'no round without the grant');
  assert.equal(timers.at(-1)!.ms, 60_000, 'it looks again in a minute');
  granted = true;
  assert.equal(await schedule.tick(), true);
  assert.equal(rounds, 1);
  assert.equal(timers.at(-1)!.ms, DAY, 'the next round is a period later');
  schedule.stop();
});
