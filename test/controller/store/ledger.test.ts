import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { addressOf } from '../../../controller/store/chunk-store.ts';
import { DEFAULT_QUOTA_POLICY, Ledger, roomFor } from '../../../controller/store/ledger.ts';
import { StoreClient } from '../../../controller/store/protocol.ts';
import { AGENT_KEY_FILE, loadOrCreateAgentKey, signReceipt, verifyReceipt } from '../../../controller/store/receipts.ts';
import { credentials, password } from '../../../harness/rigs/mesh.ts';
import { connect, end, subscribeGranted } from '../../../harness/rigs/mqtt.ts';
import { publishLedger } from '../../../controller/store/audit.ts';
import { MetricsCollector } from '../../../controller/dashboard/metrics.ts';
import { OWNER, storeRig } from './rig.ts';

const DAY = 86_400_000;

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-audit-ledger-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The signature with its first byte inverted: always another signature (setting it to a fixed value is a no-op 1 time in 256). */
const flipFirstByte = (sig: string) => {
  const b = Buffer.from(sig, 'base64');
  b[0] = b[0]! ^ 0xff;
  return b.toString('base64');
};

test('a receipt verifies as signed; a tampered one, or one signed by another key than the holder used before, is refused', (t) => {
  const dir = tempDir(t);
  const key = loadOrCreateAgentKey(join(dir, 'carol-store'));
  assert.equal(statSync(join(dir, 'carol-store', AGENT_KEY_FILE)).mode & 0o777, 0o600);
  assert.equal(loadOrCreateAgentKey(join(dir, 'carol-store')).publicKey, key.publicKey, 'the key is kept');
  const r = signReceipt(key, { holder: 'carol', owner: 'phone', addr: 'ab'.repeat(32), size: 1000, at: 5 });
  assert.deepEqual(verifyReceipt(r), r);
  for (const bad of [{ ...r, size: 999 }, { ...r, owner: 'mallory' }, { ...r, at: 6 }, { ...r, sig: flipFirstByte(r.sig) }, { ...r, v: 2 }, null]) {
    assert.throws(() => verifyReceipt(bad), (e: Error & { code?: string }) => e.code === 'CANOPY_ERR_STORE_CORRUPT' && /refused/.test(e.message));
  }
  const ledger = new Ledger(join(dir, 'owner'));
  t.after(() => ledger.close());
  ledger.keepReceipt(r);
  assert.throws(() => ledger.keepReceipt({ ...r, size: 1 }), /does not verify/);
  // Another key signing as carol: well formed, but not carol's key.
  const other = signReceipt(loadOrCreateAgentKey(join(dir, 'impostor')), { holder: 'carol', owner: 'phone', addr: 'cd'.repeat(32), size: 1, at: 7 });
  assert.throws(() => ledger.keepReceipt(other), /another key/);
  assert.deepEqual(ledger.receipts('carol'), [r], 'only the good receipt is kept');
});

test('byte-days accrue between records; the quota rule gives room for what a neighbour holds and takes it for failed audits', (t) => {
  const ledger = new Ledger(tempDir(t));
  t.after(() => ledger.close());
  ledger.holding('bob', 'byUs', 1000, 0);
  ledger.holding('bob', 'byUs', 3000, 2 * DAY);
  ledger.holding('bob', 'byUs', 0, 3 * DAY);
  assert.equal(ledger.row('bob').heldByUsByteDays, 1000 * 2 + 3000 * 1);
  ledger.audited('bob', 10, 0, 5000, 3 * DAY);
  ledger.audited('bob', 10, 0, 5000, 5 * DAY);
  assert.equal(ledger.row('bob').heldForUsByteDays, 5000 * 2);

  const base = DEFAULT_QUOTA_POLICY.baseBytes;
  assert.equal(roomFor({ heldForUsBytes: 0, auditsPassed: 0, auditsFailed: 0 }), base, 'a newcomer, or one holding nothing: the base');
  assert.equal(roomFor({ heldForUsBytes: 10e6, auditsPassed: 0, auditsFailed: 0 }), base + 10e6, 'each byte held for us buys a byte of room');
  assert.equal(roomFor({ heldForUsBytes: 0, auditsPassed: 3, auditsFailed: 1 }), Math.floor(base * (4 / 8)), 'a failure weighs as four passes');
  assert.equal(roomFor({ heldForUsBytes: 1e12, auditsPassed: 0, auditsFailed: 0 }, { ...DEFAULT_QUOTA_POLICY, capBytes: 5e9 }), 5e9);
  assert.equal(ledger.room('bob'), base + 5000);
  assert.equal(ledger.room('nobody'), base);
});

test("the phone holds a neighbour's shares only within the room the ledger gives it, and counts the hot bytes it serves it", async (t) => {
  const dir = tempDir(t);
  const ledger = new Ledger(dir, { ...DEFAULT_QUOTA_POLICY, baseBytes: 10_000 });
  t.after(() => ledger.close());
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { reciprocity: ledger } });
  const alice = await StoreClient.connect({ url: rig.url, username: 'alice', password: password('alice'), asNeighbour: 'alice', timeoutMs: 3000 });
  t.after(() => alice.close());
  const put = (size: number) => {
    const body = randomBytes(size);
    return alice.request(OWNER, { op: 'put', addr: addressOf(body), cls: 'cold', tag: 'share' }, body);
  };
  const first = await put(6000);
  assert.equal(first.data.stored, true);
  // Its receipt is the phone's signature on what it took.
  assert.equal(verifyReceipt(first.data.receipt).holder, OWNER);
  assert.equal(first.data.receipt!.owner, 'alice');
  await assert.rejects(put(6000), (e: Error & { code?: string }) => e.code === 'CANOPY_ERR_STORE_QUOTA' && /6000 of its 10000 bytes/.test(e.message));
  // Alice proves she holds 20 kB for the phone: her room grows.
  ledger.audited('alice', 4, 0, 20_000, Date.now());
  assert.equal((await put(6000)).data.stored, true);
  // And a failed audit takes room away again.
  ledger.audited('alice', 0, 10, 20_000, Date.now());
  await assert.rejects(put(6000), /CANOPY_ERR_STORE_QUOTA|room/);

  const hot = randomBytes(4096);
  await rig.client.request(OWNER, { op: 'put', addr: addressOf(hot), cls: 'hot', tag: 'episode' }, hot);
  await alice.request(OWNER, { op: 'get', addr: addressOf(hot) });
  await alice.request(OWNER, { op: 'get', addr: addressOf(hot) });
  assert.equal(ledger.row('alice').hotServedBytes, 2 * 4096);

  // The ledger on the mesh: retained for the store's readers, in /metrics; not a neighbour's or a viewer's to read.
  await publishLedger(rig.client, ledger, OWNER);
  const metrics = new MetricsCollector(rig.mesh);
  await metrics.start();
  t.after(() => metrics.stop());
  const line = 'canopy_ledger_hot_served_bytes_total{owner="phone",neighbour="alice"} 8192';
  for (let i = 0; i < 200 && !metrics.render().includes(line); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(metrics.render().includes(line), metrics.render().split('\n').filter((l) => l.includes('ledger')).join('\n'));
  assert.match(metrics.render(), /canopy_ledger_audits_failed_total\{owner="phone",neighbour="alice"\} 10/);
  for (const role of ['neighbour', 'viewer'] as const) {
    const c = await connect(rig.url, credentials(role));
    t.after(() => end(c));
    assert.equal(await subscribeGranted(c, rig.mesh.topics.ledger(OWNER)), 128, `a ${role} may not read the ledger`);
  }
});
