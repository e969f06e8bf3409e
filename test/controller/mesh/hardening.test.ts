/**
 * The mesh broker against clients nobody here wrote: backlogs released at once, crowds, oversized
 * packets, login floods and client-id takeovers (issue 15).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection, type Socket } from 'node:net';
import type { AedesPublishPacket } from 'aedes';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { Mesh } from '../../../controller/mesh/mesh.ts';
import { connect, end, nextMessage, publishOutcome, subscribeGranted, tryConnect } from '../../../harness/rigs/mqtt.ts';
import { password, startMesh } from '../../../harness/rigs/mesh.ts';

test('a backlog released at once is delivered on fresh stacks: no delivery completes into the next one', { timeout: 60_000 }, async () => {
  const mesh = new Mesh({ tcp: false, ws: false });
  await mesh.start();
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Infinity;
  try {
    let got = 0;
    let deepest = 0;
    await mesh.subscribe('t/#', () => {
      got++;
      deepest = Math.max(deepest, new Error().stack!.split('\n').length);
    });
    // A slow subscriber (a client whose socket is full) holds mqemitter's concurrency, so the
    // publishes queue; then it goes (the client disconnects) and its callbacks are all released.
    const held: (() => void)[] = [];
    const slow = (_p: AedesPublishPacket, cb: () => void) => held.push(cb);
    await new Promise<void>((r) => mesh.broker.subscribe('t/#', slow, r));
    const n = 20_000;
    for (let i = 0; i < n; i++) mesh.broker.publish({ cmd: 'publish', topic: 't/x', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }, () => {});
    await new Promise((r) => setImmediate(r));
    assert.ok(held.length > 0, 'the slow subscriber holds deliveries');
    await new Promise<void>((r) => mesh.broker.unsubscribe('t/#', slow, r));
    for (const cb of held.splice(0)) cb();
    for (let i = 0; i < 200 && got < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(got, n, 'every message delivered');
    assert.ok(deepest < 100, `handler stack depth stays flat (deepest ${deepest} frames)`);
  } finally {
    Error.stackTraceLimit = limit;
    await mesh.stop();
  }
});

/** A raw TCP connection: what it was sent before the broker closed it. */
function raw(port: number, from = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ host: '127.0.0.1', port, localAddress: from }, () => resolve(s));
    s.once('error', reject);
  });
}

function closed(s: Socket, ms = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    if (s.destroyed) return resolve(true);
    const t = setTimeout(() => resolve(false), ms);
    s.once('close', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

test('a CONNECT declaring 256 MB is closed at its header, before its bytes are buffered', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const s = await raw(Number(new URL(url).port));
  s.on('error', () => {});
  // CONNECT (type 1), remaining length 268,435,455 (0xff 0xff 0xff 0x7f, the largest MQTT allows).
  s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
  s.write(Buffer.alloc(64 * 1024));
  assert.equal(await closed(s), true, 'the broker closed the connection');
  assert.equal(mesh.refusals.packets, 1);
  // A first packet that is not CONNECT is closed too, and a healthy client still gets in.
  const p = await raw(Number(new URL(url).port));
  p.on('error', () => {});
  p.write(Buffer.from([0x30, 0x05, 0x00, 0x01, 0x74, 0x68, 0x69]));
  assert.equal(await closed(p), true);
  const ok = await tryConnect(url, { username: 'viewer', password: password('viewer') });
  assert.equal(ok.ok, true);
  if (ok.ok) await end(ok.client);
});

test('a logged-in client is held to maxPacketBytes: a larger PUBLISH closes it, a smaller one passes', async (t) => {
  const { mesh, url } = await startMesh({ limits: { maxPacketBytes: 64 * 1024 } });
  t.after(() => mesh.stop());
  const admin = await connect(url, { username: 'admin', password: password('admin') });
  assert.equal(await publishOutcome(admin, 'canopy/test/small', Buffer.alloc(60 * 1024)), 'acked');
  assert.equal(await publishOutcome(admin, 'canopy/test/big', Buffer.alloc(70 * 1024)), 'closed');
  assert.equal(mesh.refusals.packets, 1);
  admin.end(true);
});

test('connections are capped in total and per address; a closed one frees its place', async (t) => {
  const { mesh, url } = await startMesh({ limits: { maxConnections: 4, maxConnectionsPerAddress: 2 } });
  t.after(() => mesh.stop());
  const login = { username: 'viewer', password: password('viewer') };
  const a1 = await connect(url, login);
  const a2 = await connect(url, login);
  await assert.rejects(tryConnect(url, login), /closed before CONNACK/, 'a third from 127.0.0.1');
  const b1 = await tryConnect(url, login, '127.0.0.2');
  const b2 = await tryConnect(url, login, '127.0.0.2');
  assert.ok(b1.ok && b2.ok, 'another address has its own places');
  await assert.rejects(tryConnect(url, login, '127.0.0.3'), /closed before CONNACK/, 'the fifth in all');
  assert.equal(mesh.refusals.connections, 2);
  await end(a1);
  for (let i = 0; i < 50 && mesh.connections > 3; i++) await new Promise((r) => setTimeout(r, 10));
  const again = await tryConnect(url, login);
  assert.equal(again.ok, true, 'a place freed by a close');
  for (const o of [again, b1, b2]) if (o.ok) o.client.end(true);
  a2.end(true);
});

test('connections not logged in yet are capped per address: silent sockets cannot take the places of logins', async (t) => {
  const { mesh, url } = await startMesh({ limits: { maxPendingPerAddress: 3 } });
  t.after(() => mesh.stop());
  const port = Number(new URL(url).port);
  const login = { username: 'viewer', password: password('viewer') };
  const member = await tryConnect(url, login, '127.0.0.2');
  assert.equal(member.ok, true);
  const silent = [await raw(port, '127.0.0.2'), await raw(port, '127.0.0.2'), await raw(port, '127.0.0.2')];
  for (const s of silent) s.on('error', () => {});
  const fourth = await raw(port, '127.0.0.2');
  fourth.on('error', () => {});
  assert.equal(await closed(fourth), true, 'a fourth silent socket from the address is closed at accept');
  assert.equal(mesh.refusals.connections, 1);
  await assert.rejects(tryConnect(url, login, '127.0.0.2'), /closed before CONNACK/, 'so is a login while three are pending');
  const elsewhere = await tryConnect(url, login, '127.0.0.3');
  assert.equal(elsewhere.ok, true, 'another address is not held up');
  silent[0]!.destroy();
  for (let i = 0; i < 50 && mesh.connections > 4; i++) await new Promise((r) => setTimeout(r, 10));
  const after = await tryConnect(url, login, '127.0.0.2');
  assert.equal(after.ok, true, 'a pending place freed by a close; the logged-in member never held one');
  for (const o of [elsewhere, after]) if (o.ok) o.client.end(true);
  for (const s of silent) s.destroy();
  if (member.ok) member.client.end(true);
});

test('a login flood from one address is bounded and backs off; a valid login from elsewhere goes through during it', async (t) => {
  const clock = new ManualClock();
  const { mesh, url } = await startMesh({ clock });
  t.after(() => mesh.stop());
  const before = await connect(url, { username: 'viewer', password: password('viewer') });
  before.end(true);
  const usual = '127.0.0.1';
  const flood = Array.from({ length: 200 }, () => tryConnect(url, { username: 'viewer', password: 'wrong' }, '127.0.0.2').catch(() => ({ ok: false as const, returnCode: -1 })));
  const valid = await tryConnect(url, { username: 'admin', password: password('admin') });
  assert.equal(valid.ok, true, 'the admin logs in while the flood runs');
  if (valid.ok) valid.client.end(true);
  const outcomes = await Promise.all(flood);
  assert.equal(outcomes.filter((o) => o.ok).length, 0);
  const refusedUnchecked = mesh.refusals.loginsBusy + mesh.refusals.loginsBackingOff + mesh.refusals.connections;
  assert.ok(refusedUnchecked >= 190, `most of the flood refused without a password check (${refusedUnchecked} of 200)`);
  // The address is backing off: it gets no connection at all, even for the right password, until its time is up.
  const backingOff = mesh.refusals.loginsBackingOff;
  await assert.rejects(tryConnect(url, { username: 'viewer', password: password('viewer') }, '127.0.0.2'), /closed before CONNACK/);
  assert.equal(mesh.refusals.loginsBackingOff, backingOff + 1);
  // So is the flooded username from a new address, but not from one it logged in from before.
  const stranger = await tryConnect(url, { username: 'viewer', password: password('viewer') }, '127.0.0.3');
  assert.deepEqual(stranger.ok ? 'accepted' : stranger.returnCode, 5);
  const own = await tryConnect(url, { username: 'viewer', password: password('viewer') }, usual);
  assert.equal(own.ok, true, 'the user from its usual address');
  if (own.ok) own.client.end(true);
  clock.advance(5 * 60_000 + 1000);
  const later = await tryConnect(url, { username: 'viewer', password: password('viewer') }, '127.0.0.2');
  assert.equal(later.ok, true, 'the back-off ends');
  if (later.ok) later.client.end(true);
});

test('a client id belongs to its user: another user taking it is refused (2), the owner takes over its own session', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const first = await connect(url, { username: 'admin', password: password('admin'), clientId: 'dashboard-1' });
  const thief = await tryConnect(url, { username: 'viewer', password: password('viewer'), clientId: 'dashboard-1' });
  assert.deepEqual(thief.ok ? 'accepted' : thief.returnCode, 2);
  assert.equal(first.connected, true, 'the owner is not kicked');
  const again = await connect(url, { username: 'admin', password: password('admin'), clientId: 'dashboard-1' });
  assert.equal(again.connected, true, 'the owner may take over its own session');
  // A phone agent's id names its user: reserved even before the agent first connects.
  const squatter = await tryConnect(url, { username: 'viewer', password: password('viewer'), clientId: 'canopy-store-alice' });
  assert.deepEqual(squatter.ok ? 'accepted' : squatter.returnCode, 2);
  const agent = await connect(url, { username: 'alice', password: password('alice'), clientId: 'canopy-store-alice' });
  assert.equal(agent.connected, true);
  assert.equal(mesh.refusals.clientIds, 2);
  for (const c of [first, again, agent]) c.end(true);
});

test('a crowd of subscribed clients leaving at once: the station keeps running and drone state still flows', async (t) => {
  const n = 1000;
  const { mesh, url } = await startMesh({ anonymousRole: 'viewer', limits: { maxConnections: n + 10, maxConnectionsPerAddress: n + 10 } });
  t.after(() => mesh.stop());
  const crowd = await Promise.all(Array.from({ length: n }, () => connect(url)));
  await Promise.all(crowd.map((c) => subscribeGranted(c, 'canopy/#', 0)));
  // Drone state flowing fast while everyone leaves at once.
  let seq = 0;
  const flow = setInterval(() => {
    for (let i = 0; i < 20; i++) void mesh.publish('canopy/drones/d1', JSON.stringify({ seq: seq++ }), { retain: true });
  }, 5);
  for (const c of crowd) c.stream.destroy();
  for (let i = 0; i < 500 && mesh.connections > 0; i++) await new Promise((r) => setTimeout(r, 10));
  clearInterval(flow);
  assert.equal(mesh.connections, 0);
  const watcher = await connect(url);
  await subscribeGranted(watcher, 'canopy/drones/+', 0);
  const next = nextMessage(watcher, (topic) => topic === 'canopy/drones/d1');
  await mesh.publish('canopy/drones/d1', JSON.stringify({ seq: -1 }), { retain: true });
  assert.ok(await next);
  await end(watcher);
});
