/**
 * The phone's hot cache over HTTP (hot-http.ts): the phone agent of the store rig with `http` on
 * 127.0.0.1, items written through the store protocol's hot-write (or straight into its cache while
 * a request waits), read back with fetch: ranges byte-exact against the plaintext, 416, HEAD,
 * If-Range, Basic auth and grants (401, 403), nothing but /hot/<item> (404), incomplete items, the
 * ledger's bytes served.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashPassword, UserDirectory } from '../../../controller/mesh/users.ts';
import { issueGrant, type HotHttpServer } from '../../../controller/store/hot-http.ts';
import { Ledger } from '../../../controller/store/ledger.ts';
import { StoreClient } from '../../../controller/store/protocol.ts';
import { password, startMesh, testUsers } from '../../../harness/rigs/mesh.ts';
import { canopy, spawnCanopy } from '../../helpers/cli.ts';
import { eventually } from '../../helpers/events.ts';
import { isCanopyError } from '../../../common/errors.ts';
import { NEIGHBOURS, OWNER, storeRig, type Rig } from './rig.ts';

const PART = 1000;

interface Got {
  status: number;
  headers: Headers;
  body: Buffer;
}

function basic(username: string, pw = password(username)): Record<string, string> {
  return { Authorization: `Basic ${Buffer.from(`${username}:${pw}`).toString('base64')}` };
}

async function get(http: HotHttpServer, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  const { port } = http.address;
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

async function cdnRig(t: TestContext, waitMs = 2000): Promise<{ rig: Rig; http: HotHttpServer; ledger: Ledger }> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-hot-http-'));
  const ledger = new Ledger(dir);
  t.after(() => {
    ledger.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // The rig's mesh users: one per role, and its neighbours.
  const users = new UserDirectory(await testUsers(NEIGHBOURS.filter((n) => n !== 'alice').map((username) => ({ username, role: 'neighbour' as const }))));
  const rig = await storeRig(t, { neighbours: 0, phoneAgent: { hotPartBytes: PART, reciprocity: ledger, http: { users, port: 0, host: '127.0.0.1', waitMs } } });
  return { rig, http: rig.phone.http!, ledger };
}

async function hotWrite(rig: Rig, item: string, offset: number, body: Uint8Array, extra: { total?: number; mime?: string } = {}): Promise<void> {
  await rig.client.request(OWNER, { op: 'hot-write', item, offset, ...extra }, body);
}

test('hot http: 206 ranges byte-exact (bounded, suffix, open, across parts, several → the first), 200, HEAD, If-Range, 416 past the end', async (t) => {
  const { rig, http } = await cdnRig(t);
  const content = randomBytes(4 * PART + 321);
  const total = content.length;
  await hotWrite(rig, 'ep1.webm', 0, content, { total, mime: 'video/webm' });
  const admin = basic('admin');

  const whole = await get(http, '/hot/ep1.webm', admin);
  assert.equal(whole.status, 200);
  assert.deepEqual(whole.body, content);
  assert.equal(whole.headers.get('content-type'), 'video/webm');
  assert.equal(whole.headers.get('accept-ranges'), 'bytes');
  assert.equal(whole.headers.get('content-length'), String(total));
  const etag = whole.headers.get('etag');
  assert.match(etag ?? '', /^"[0-9a-z]+"$/);

  // [header, first byte, last byte] (RFC 9110 §14.1.2).
  const cases: [string, number, number][] = [
    ['bytes=0-0', 0, 0],
    ['bytes=10-99', 10, 99],
    ['bytes=990-2010', 990, 2010], // three parts
    [`bytes=${total - 1}-${total - 1}`, total - 1, total - 1],
    ['bytes=-100', total - 100, total - 1], // suffix
    [`bytes=-${total + 50}`, 0, total - 1], // suffix longer than the item: all of it
    ['bytes=3500-', 3500, total - 1], // open
    [`bytes=4000-${total + 1000}`, 4000, total - 1], // past the end: up to the end
    ['bytes=200-299, 0-9', 200, 299], // several: the first
    ['bytes=100-199,150-400', 100, 400], // overlapping: merged
  ];
  for (const [range, first, last] of cases) {
    const r = await get(http, '/hot/ep1.webm', { ...admin, Range: range });
    assert.equal(r.status, 206, range);
    assert.equal(r.headers.get('content-range'), `bytes ${first}-${last}/${total}`, range);
    assert.equal(r.headers.get('content-length'), String(last - first + 1), range);
    assert.deepEqual(r.body, content.subarray(first, last + 1), range);
  }

  const past = await get(http, '/hot/ep1.webm', { ...admin, Range: `bytes=${total}-` });
  assert.equal(past.status, 416);
  assert.equal(past.headers.get('content-range'), `bytes */${total}`);

  const head = await get(http, '/hot/ep1.webm', { ...admin, Range: 'bytes=5-14' }, 'HEAD');
  assert.deepEqual([head.status, head.headers.get('content-range'), head.headers.get('content-length'), head.body.length], [206, `bytes 5-14/${total}`, '10', 0]);
  const headAll = await get(http, '/hot/ep1.webm', admin, 'HEAD');
  assert.deepEqual([headAll.status, headAll.headers.get('content-length'), headAll.body.length], [200, String(total), 0]);

  // If-Range (RFC 9110 §13.1.5): the range for the same item, the whole item otherwise.
  const same = await get(http, '/hot/ep1.webm', { ...admin, Range: 'bytes=0-9', 'If-Range': etag! });
  assert.deepEqual([same.status, same.body], [206, content.subarray(0, 10)]);
  const other = await get(http, '/hot/ep1.webm', { ...admin, Range: 'bytes=0-9', 'If-Range': '"other"' });
  assert.deepEqual([other.status, other.body], [200, content]);
  // A Range that does not parse is ignored (RFC 9110 §14.2).
  const bad = await get(http, '/hot/ep1.webm', { ...admin, Range: 'bytes=abc' });
  assert.deepEqual([bad.status, bad.body.length], [200, total]);
  const post = await get(http, '/hot/ep1.webm', admin, 'POST');
  assert.deepEqual([post.status, post.headers.get('allow')], [405, 'GET, HEAD']);
});

test('hot http: 401 without or with wrong credentials, 403 for a role or grant that does not reach the item, 404 for anything but a known item', async (t) => {
  const { rig, http } = await cdnRig(t);
  const content = randomBytes(2 * PART);
  await hotWrite(rig, 'ep1.webm', 0, content, { total: content.length });
  await hotWrite(rig, 'ep2.webm', 0, content.subarray(0, 10), { total: 10 });

  for (const [what, headers] of [
    ['no credentials', {}],
    ['wrong password', basic('alice', 'nope')],
    ['unknown user', basic('mallory', 'mallory-pw')],
    ['not Basic', { Authorization: 'Digest username="alice"' }],
  ] as [string, Record<string, string>][]) {
    const r = await get(http, '/hot/ep1.webm', headers);
    assert.equal(r.status, 401, what);
    assert.match(r.headers.get('www-authenticate') ?? '', /^Basic realm="canopy hot cache"/, what);
    assert.ok(!r.body.includes(content.subarray(0, 16)), what);
  }
  // Even an unknown item asks for credentials first: the cache's contents are not told to strangers.
  assert.equal((await get(http, '/hot/nothing-here')).status, 401);

  // Roles: the owner's side and the neighbours read; others are known but not allowed.
  for (const user of ['admin', 'phone', 'viewer', 'alice']) assert.equal((await get(http, '/hot/ep1.webm', basic(user))).status, 200, user);
  for (const user of ['homeassistant', 'drone-bridge']) {
    const r = await get(http, '/hot/ep1.webm', basic(user));
    assert.equal(r.status, 403, user);
    // Not allowed any item: not even told which exist.
    assert.equal((await get(http, '/hot/nothing-here', basic(user))).status, 403, user);
  }

  // Grants: for one item, until their expiry, signed by this phone.
  const hot = rig.phone.hot;
  const grant = issueGrant(hot, { item: 'ep1.webm', expiresAt: Date.now() + 60_000 });
  const ok = await get(http, `/hot/ep1.webm?grant=${grant}`, { Range: 'bytes=0-99' });
  assert.deepEqual([ok.status, ok.body], [206, content.subarray(0, 100)]);
  assert.equal((await get(http, '/hot/ep1.webm', { Authorization: `Bearer ${grant}` })).status, 200);
  assert.equal((await get(http, `/hot/ep2.webm?grant=${grant}`)).status, 403, 'a grant for another item');
  assert.equal((await get(http, `/hot/nothing-here?grant=${grant}`)).status, 403, 'a grant for another item, unknown');
  const expired = issueGrant(hot, { item: 'ep1.webm', expiresAt: Date.now() - 1 });
  assert.equal((await get(http, `/hot/ep1.webm?grant=${expired}`)).status, 403, 'an expired grant');
  const [payload] = grant.split('.');
  const forged = `${Buffer.from(JSON.stringify({ i: 'ep2.webm', e: Date.now() + 60_000 })).toString('base64url')}.${grant.split('.')[1]}`;
  for (const token of [forged, `${payload}.AAAA`, 'junk', `${grant}.x`]) assert.equal((await get(http, `/hot/ep1.webm?grant=${token}`)).status, 401, token);

  // Nothing but /hot/<known item>: no other path, no way out of the item's name.
  for (const path of ['/hot/nothing-here', '/', '/hot/', '/hot-key', '/hot/../hot-key', '/hot/%2e%2e%2fhot-key', '/hot/..%2Fhot-key', '/hot/ep1.webm/x', '/hot/EP1.WEBM', '/hot/%00', '/hot/%zz', '/hot-items.sqlite']) {
    const r = await get(http, path, basic('admin'));
    assert.equal(r.status, 404, path);
    assert.ok(!r.body.includes(content.subarray(0, 16)), path);
  }
});

test('hot http: wrong passwords back off as the broker\'s logins do (LoginLimiter): past three, the address waits, the right password too, but not a login already checked', async (t) => {
  const { rig, http } = await cdnRig(t);
  await hotWrite(rig, 'ep1.webm', 0, randomBytes(10), { total: 10 });
  assert.equal((await get(http, '/hot/ep1.webm', basic('viewer'))).status, 200);
  for (let i = 0; i < 4; i++) assert.equal((await get(http, '/hot/ep1.webm', basic('alice', `guess-${i}`))).status, 401);
  const refused = await get(http, '/hot/ep1.webm', basic('alice'));
  assert.equal(refused.status, 401);
  assert.match(refused.body.toString(), /4 failed logins from .*; next try in 1 s/);
  // A login remembered from before the guesses is not checked again, so not refused: a player's next range goes on.
  assert.equal((await get(http, '/hot/ep1.webm', basic('viewer'))).status, 200);
  await new Promise((r) => setTimeout(r, 1100));
  assert.equal((await get(http, '/hot/ep1.webm', basic('alice'))).status, 200, 'after the back-off');
});

test('hot http: an incomplete item serves its present bytes, waits for a part still coming, 503 with Retry-After when it does not come; /* while the total is unknown', async (t) => {
  const { rig, http } = await cdnRig(t, 600);
  const hot = rig.phone.hot;
  const content = randomBytes(5 * PART + 77);
  const total = content.length;
  const part = (i: number) => content.subarray(i * PART, Math.min(total, (i + 1) * PART));
  const admin = basic('admin');
  await hotWrite(rig, 'ep.webm', 0, Buffer.concat([part(0), part(1)]), { total });
  await hotWrite(rig, 'ep.webm', 3 * PART, part(3));

  // From the start: up to the first missing byte, with the total told.
  const open = await get(http, '/hot/ep.webm', { ...admin, Range: 'bytes=0-' });
  assert.equal(open.status, 206);
  assert.equal(open.headers.get('content-range'), `bytes 0-${2 * PART - 1}/${total}`);
  assert.deepEqual(open.body, content.subarray(0, 2 * PART));
  const island = await get(http, '/hot/ep.webm', { ...admin, Range: `bytes=${3 * PART + 5}-` });
  assert.equal(island.headers.get('content-range'), `bytes ${3 * PART + 5}-${4 * PART - 1}/${total}`);
  assert.deepEqual(island.body, content.subarray(3 * PART + 5, 4 * PART));

  // A range in a missing part waits for it: the part arrives while the request waits.
  const waiting = get(http, '/hot/ep.webm', { ...admin, Range: `bytes=${2 * PART + 10}-${2 * PART + 19}` });
  await new Promise((r) => setTimeout(r, 100));
  hot.write({ item: 'ep.webm', offset: 2 * PART }, part(2));
  const arrived = await waiting;
  assert.deepEqual([arrived.status, arrived.body], [206, content.subarray(2 * PART + 10, 2 * PART + 20)]);

  // One that does not come in time: 503, and when to ask again.
  const started = Date.now();
  const late = await get(http, '/hot/ep.webm', { ...admin, Range: `bytes=${4 * PART}-` });
  assert.equal(late.status, 503);
  assert.ok(Number(late.headers.get('retry-after')) >= 1);
  assert.ok(Date.now() - started >= 500, 'it waited first');

  // A GET of the whole item streams what is there and waits for the rest as it comes.
  const whole = get(http, '/hot/ep.webm', admin);
  await new Promise((r) => setTimeout(r, 100));
  hot.write({ item: 'ep.webm', offset: 4 * PART }, Buffer.concat([part(4), part(5)]));
  const all = await whole;
  assert.deepEqual([all.status, all.headers.get('content-length'), all.body], [200, String(total), content]);

  // The whole of an item whose rest never comes: the connection is cut, never a complete-looking body.
  await hotWrite(rig, 'stuck.webm', 0, part(0), { total });
  const { port } = http.address;
  const res = await fetch(`http://127.0.0.1:${port}/hot/stuck.webm`, { headers: admin });
  assert.equal(res.status, 200);
  await assert.rejects(res.arrayBuffer());

  // The total not known yet: what is there, with /*; a suffix range cannot be served yet.
  await hotWrite(rig, 'live.webm', 0, Buffer.concat([part(0), part(1)]));
  const live = await get(http, '/hot/live.webm', { ...admin, Range: 'bytes=500-' });
  assert.equal(live.status, 206);
  assert.equal(live.headers.get('content-range'), `bytes 500-${2 * PART - 1}/*`);
  assert.deepEqual(live.body, content.subarray(500, 2 * PART));
  const suffix = await get(http, '/hot/live.webm', { ...admin, Range: 'bytes=-10' });
  assert.equal(suffix.status, 503);
  const unknownWhole = await get(http, '/hot/live.webm', admin, 'HEAD');
  assert.deepEqual([unknownWhole.status, unknownWhole.headers.get('content-length')], [200, null]);
  // The whole, while the last part (and the total with it) comes.
  const liveWhole = get(http, '/hot/live.webm', admin);
  await new Promise((r) => setTimeout(r, 100));
  hot.write({ item: 'live.webm', offset: 2 * PART, total: 2 * PART + 300 }, content.subarray(2 * PART, 2 * PART + 300));
  const lw = await liveWhole;
  assert.deepEqual([lw.status, lw.body], [200, content.subarray(0, 2 * PART + 300)]);
});

test('hot http: the ledger counts the bytes each neighbour was served (by login or by a grant issued to it), not the owner\'s', async (t) => {
  const { rig, http, ledger } = await cdnRig(t);
  const content = randomBytes(3 * PART + 5);
  await hotWrite(rig, 'ep1.webm', 0, content, { total: content.length });
  assert.equal(ledger.row('alice').hotServedBytes, 0);

  assert.equal((await get(http, '/hot/ep1.webm', { ...basic('alice'), Range: 'bytes=100-1599' })).body.length, 1500);
  assert.equal(ledger.row('alice').hotServedBytes, 1500);
  assert.equal((await get(http, '/hot/ep1.webm', basic('alice'))).body.length, content.length);
  assert.equal(ledger.row('alice').hotServedBytes, 1500 + content.length);
  // HEAD sends no body: nothing counted.
  await get(http, '/hot/ep1.webm', basic('alice'), 'HEAD');
  assert.equal(ledger.row('alice').hotServedBytes, 1500 + content.length);

  // A grant issued to alice: counted to her.
  const toAlice = issueGrant(rig.phone.hot, { item: 'ep1.webm', expiresAt: Date.now() + 60_000, user: 'alice' });
  await get(http, `/hot/ep1.webm?grant=${toAlice}`, { Range: 'bytes=0-9' });
  assert.equal(ledger.row('alice').hotServedBytes, 1510 + content.length);

  // The owner's side and a viewer are no neighbours.
  await get(http, '/hot/ep1.webm', basic('viewer'));
  await get(http, '/hot/ep1.webm', basic('admin'));
  const anonymous = issueGrant(rig.phone.hot, { item: 'ep1.webm', expiresAt: Date.now() + 60_000 });
  await get(http, `/hot/ep1.webm?grant=${anonymous}`);
  assert.deepEqual(
    ledger.rows().map((r) => [r.neighbour, r.hotServedBytes]),
    [['alice', 1510 + content.length]],
  );
  assert.equal(http.counts.bytes, 1510 + 4 * content.length);
});

test('hot-grant over the store protocol: the owner names the neighbour, a neighbour gets grants for itself only; the URL plays and the ledger counts', async (t) => {
  const { rig, http, ledger } = await cdnRig(t);
  const content = randomBytes(2 * PART + 10);
  await hotWrite(rig, 'ep1.webm', 0, content, { total: content.length });

  const forAlice = (await rig.client.request(OWNER, { op: 'hot-grant', item: 'ep1.webm', user: 'alice', ttlMs: 60_000 })).data;
  assert.equal(forAlice.url, http.url('ep1.webm', forAlice.token));
  assert.ok(forAlice.expiresAt > Date.now() && forAlice.expiresAt <= Date.now() + 60_000);
  const res = await fetch(forAlice.url!);
  assert.equal(res.status, 200);
  assert.deepEqual(Buffer.from(await res.arrayBuffer()), content);
  assert.equal(ledger.row('alice').hotServedBytes, content.length);

  const bob = await StoreClient.connect({ url: rig.url, username: 'bob', password: password('bob'), asNeighbour: 'bob', timeoutMs: 3000 });
  t.after(() => bob.close());
  const own = (await bob.request(OWNER, { op: 'hot-grant', item: 'ep1.webm' })).data;
  assert.equal((await get(http, new URL(own.url!).pathname + new URL(own.url!).search, { Range: 'bytes=0-99' })).status, 206);
  assert.equal(ledger.row('bob').hotServedBytes, 100, "bob's grant is bob's");
  await assert.rejects(bob.request(OWNER, { op: 'hot-grant', item: 'ep1.webm', user: 'alice' }), (e) => isCanopyError(e, 'CANOPY_ERR_DENIED'));
  await assert.rejects(bob.request(OWNER, { op: 'hot-grant', item: 'nothing' }), (e) => isCanopyError(e, 'CANOPY_ERR_STORE_NOT_FOUND'));
  for (const ttlMs of [0, -5, 1.5, 8 * 86_400_000]) {
    await assert.rejects(rig.client.request(OWNER, { op: 'hot-grant', item: 'ep1.webm', ttlMs }), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'), String(ttlMs));
  }
  // A short one expires.
  const brief = (await rig.client.request(OWNER, { op: 'hot-grant', item: 'ep1.webm', ttlMs: 1 })).data;
  await new Promise((r) => setTimeout(r, 5));
  assert.equal((await fetch(brief.url!)).status, 403);
});

test('canopy phone --http: the site\'s users.json (a changed password takes effect), canopy phone grant --for, the ledger in the data directory', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-hot-cli-'));
  const users = await testUsers();
  const { mesh, url } = await startMesh({ users });
  t.after(async () => {
    await mesh.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const usersFile = join(dir, 'users.json');
  writeFileSync(usersFile, JSON.stringify(users), { mode: 0o600 });
  const data = join(dir, 'data');
  const store = join(dir, 'store');

  const badPort = await canopy('phone', '--store', store, '--http', 'eighty');
  assert.equal(badPort.code, 64, badPort.stderr);
  assert.match(badPort.stderr, /--http must be a port number/);

  const noUsers = await canopy('phone', '--store', store, '--broker', url, '--http', '0', '--users', join(dir, 'none.json'));
  assert.equal(noUsers.code, 78, noUsers.stderr);
  assert.match(noUsers.stderr, /--http needs the mesh's users: .*none\.json: ENOENT; give --users FILE .*\[CANOPY_ERR_CONFIG\]/);

  process.env.CANOPY_PASSWORD = password('phone');
  t.after(() => delete process.env.CANOPY_PASSWORD);
  const agent = spawnCanopy(t, 'phone', '--store', store, '--broker', url, '--http', '0', '--http-host', '127.0.0.1', '--users', usersFile, '--data', data);
  await eventually(() => /hot cache on http:\/\/127\.0\.0\.1:\d+\/hot\//.test(agent.output()), 30_000, 'the agent serving HTTP');
  const base = /hot cache on (http:\/\/127\.0\.0\.1:\d+)\/hot\//.exec(agent.output())![1]!;

  const client = await StoreClient.connect({ url, username: 'phone', password: password('phone') });
  t.after(() => client.close());
  const content = randomBytes(3000);
  await client.request(OWNER, { op: 'hot-write', item: 'ep1.webm', offset: 0, total: content.length, mime: 'video/webm' }, content);

  const asAlice = await fetch(`${base}/hot/ep1.webm`, { headers: { ...basic('alice'), Range: 'bytes=0-999' } });
  assert.equal(asAlice.status, 206);
  assert.deepEqual(Buffer.from(await asAlice.arrayBuffer()), content.subarray(0, 1000));

  // A grant for alice, printed as the item's URL.
  const grant = await canopy('phone', 'grant', 'ep1.webm', '--store', store, '--for', 'alice', '--ttl', '10m', '--url', `${base}/`);
  assert.equal(grant.code, 0, grant.stderr);
  const granted = grant.stdout.trim();
  assert.match(granted, new RegExp(`^${base}/hot/ep1\\.webm\\?grant=[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$`));
  const viaGrant = await fetch(granted);
  assert.equal(viaGrant.status, 200);
  assert.deepEqual(Buffer.from(await viaGrant.arrayBuffer()), content);
  const unknown = await canopy('phone', 'grant', 'nothing', '--store', store);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /no hot item "nothing".*\[CANOPY_ERR_STORE_NOT_FOUND\]/);

  // The ledger in the data directory counted alice's bytes, by login and by her grant.
  await eventually(() => {
    const ledger = new Ledger(data);
    try {
      return ledger.row('alice').hotServedBytes === 1000 + content.length;
    } finally {
      ledger.close();
    }
  }, 5000, "alice's bytes in the ledger");

  // users.json changes (canopy user passwd): the old password no longer opens it.
  const changed = await Promise.all(users.map(async (u) => (u.username === 'alice' ? { ...u, passwordHash: await hashPassword('new-pw', { logN: 4, r: 8, p: 1 }) } : u)));
  writeFileSync(usersFile, JSON.stringify(changed), { mode: 0o600 });
  // The file is read again at the next login check after it changed (its mtime or size).
  const old = await fetch(`${base}/hot/ep1.webm`, { headers: basic('alice') });
  assert.equal(old.status, 401);
  assert.equal((await fetch(`${base}/hot/ep1.webm`, { headers: basic('alice', 'new-pw') })).status, 200);
  // A file that does not parse (half written) leaves the users as they were.
  writeFileSync(usersFile, '[{"username": "alice"', { mode: 0o600 });
  assert.equal((await fetch(`${base}/hot/ep1.webm`, { headers: basic('viewer') })).status, 200);
  assert.match(agent.output(), /mesh users not read again: the ones before stay/);
});
