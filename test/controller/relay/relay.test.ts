import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ManualClock, SystemClock, type Clock } from '../../../firmware-bridge/clock.ts';
import type { Mesh } from '../../../controller/mesh/mesh.ts';
import { decodeJson, encodeEnvelope, type UplinkStatus } from '../../../common/topics.ts';
import { Relay, type RelayOptions } from '../../../controller/relay/relay.ts';
import { publishWireBytes } from '../../../controller/relay/uplink.ts';
import { connect, end, nextMessage, publishOutcome, subscribeGranted } from '../../../harness/rigs/mqtt.ts';
import { credentials, startMesh } from '../../../harness/rigs/mesh.ts';
import { Upstream } from '../../../sim/cloud.ts';

const PREFIX = 'up/site';
const T0 = Date.UTC(2026, 5, 21, 12, 0, 0);

interface Rig {
  mesh: Mesh;
  meshUrl: string;
  upstream: Upstream;
  relay: Relay;
  path: string;
  clock: Clock;
  newRelay: (over?: Partial<RelayOptions>) => Relay;
}

async function rig(t: TestContext, over: Partial<RelayOptions> = {}, clock: Clock = new ManualClock(T0)): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-relay-'));
  const path = join(dir, 'outbox.db');
  const upstream = await Upstream.start(PREFIX);
  const { mesh, url } = await startMesh({ clock });
  const relays: Relay[] = [];
  const newRelay = (more: Partial<RelayOptions> = {}) => {
    const relay = new Relay({
      mesh,
      path,
      origin: 'site',
      upstream: { url: upstream.url, topicPrefix: PREFIX, backoffMs: { initial: 20, max: 200 } },
      clock,
      ...over,
      ...more,
    });
    relays.push(relay);
    return relay;
  };
  t.after(async () => {
    for (const r of relays) await r.stop();
    await mesh.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const relay = newRelay();
  await relay.start();
  return { mesh, meshUrl: url, upstream, relay, path, clock, newRelay };
}

function stateReached(relay: Relay, state: string): Promise<void> {
  if (relay.currentState === state) return Promise.resolve();
  return new Promise((resolve) => {
    const on = (s: string) => {
      if (s !== state) return;
      relay.off('state', on);
      resolve();
    };
    relay.on('state', on);
  });
}

function queuedRows(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT id FROM outbox ORDER BY seq').all() as { id: string }[]).map((r) => r.id);
  } finally {
    db.close();
  }
}

test('a QoS 1 publish is in the SQLite file when its PUBACK arrives; it goes upstream with its id when the window opens, then leaves the outbox', async (t) => {
  const clock = new ManualClock(T0);
  const { meshUrl, upstream, relay, path } = await rig(t, { plan: [{ start: T0 + 1000, end: T0 + 60_000 }] }, clock);
  const phone = await connect(meshUrl, credentials('phone'));
  t.after(() => end(phone));
  assert.equal(await publishOutcome(phone, 'canopy/relay/hot/photos/p1', 'jpeg bytes'), 'acked');
  assert.deepEqual(queuedRows(path), ['site:1'], 'committed before the PUBACK (read through a separate connection)');
  assert.equal(relay.currentState, 'off', 'no window yet');

  await clock.advanceAsync(1000);
  await upstream.waitForDistinct(1);
  assert.deepEqual(upstream.received.map((r) => [r.id, r.topic, r.body.toString()]), [['site:1', `${PREFIX}/photos/p1`, 'jpeg bytes']]);
  while (queuedRows(path).length > 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(relay.status().delivered.hot, { items: 1, bytes: 10 });
});

test('a commit that fails withholds the PUBACK: the publisher sees its connection closed and keeps the item', async (t) => {
  const { meshUrl, path, relay } = await rig(t, { plan: [] });
  // Another connection makes every insert fail, as a full disk would.
  const db = new Database(path);
  db.exec("CREATE TRIGGER full BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'disk full'); END");
  const phone = await connect(meshUrl, credentials('phone'));
  assert.equal(await publishOutcome(phone, 'canopy/relay/hot/x', 'item'), 'closed');
  db.exec('DROP TRIGGER full');
  db.close();
  const again = await connect(meshUrl, credentials('phone'));
  t.after(() => end(again));
  assert.equal(await publishOutcome(again, 'canopy/relay/hot/x', 'item'), 'acked');
  assert.equal(relay.status().queued.hot.items, 1);
});

test('control goes before hot before bulk, whatever the arrival order', async (t) => {
  const clock = new ManualClock(T0);
  const { meshUrl, upstream } = await rig(t, { plan: [{ start: T0 + 1000, end: T0 + 60_000 }] }, clock);
  const phone = await connect(meshUrl, credentials('phone'));
  t.after(() => end(phone));
  const order = ['bulk', 'hot', 'control', 'bulk', 'control', 'hot', 'bulk'];
  for (const [i, cls] of order.entries()) assert.equal(await publishOutcome(phone, `canopy/relay/${cls}/n${i}`, cls), 'acked');
  await clock.advanceAsync(1000);
  await upstream.waitForDistinct(order.length);
  assert.deepEqual(
    upstream.received.map((r) => r.topic.slice(PREFIX.length + 1)),
    ['n2', 'n4', 'n1', 'n5', 'n0', 'n3', 'n6'],
  );
});

test('a publisher envelope keeps its id: a retry while queued adds nothing, a retry after delivery is a duplicate the receiver drops', async (t) => {
  const clock = new ManualClock(T0);
  const { meshUrl, upstream, relay } = await rig(t, { plan: [{ start: T0 + 1000, end: T0 + 60_000 }] }, clock);
  const phone = await connect(meshUrl, credentials('phone'));
  t.after(() => end(phone));
  const item = Buffer.from(encodeEnvelope('phone:41', new TextEncoder().encode('chunk')));
  await publishOutcome(phone, 'canopy/relay/bulk/backup/c', item);
  await publishOutcome(phone, 'canopy/relay/bulk/backup/c', item);
  assert.equal(relay.status().queued.bulk.items, 1);
  await clock.advanceAsync(1000);
  await upstream.waitForDistinct(1);
  await stateReached(relay, 'up');
  await publishOutcome(phone, 'canopy/relay/bulk/backup/c', item);
  while (upstream.received.length < 2) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(upstream.received.map((r) => r.id), ['phone:41', 'phone:41']);
  assert.deepEqual(upstream.dedup.counts, { fresh: 1, duplicates: 1 });
  assert.equal(upstream.received[0]!.body.toString(), 'chunk');
});

test('a topic outside the three classes is refused: no PUBACK, connection closed', async (t) => {
  const { meshUrl, relay } = await rig(t);
  const phone = await connect(meshUrl, credentials('phone'));
  assert.equal(await publishOutcome(phone, 'canopy/relay/urgent/x', 'y'), 'closed');
  assert.equal(relay.status().queued.control.items + relay.status().queued.hot.items + relay.status().queued.bulk.items, 0);
});

test("a window's byte budget: what fits goes, the dish goes off early, the rest waits for the next window", async (t) => {
  const clock = new ManualClock(T0);
  const one = publishWireBytes(`${PREFIX}/d/0`, 3 + 'site:1'.length + 100);
  const plan = [
    { start: T0 + 1000, end: T0 + 10_000, budgetBytes: 3 * one },
    { start: T0 + 20_000, end: T0 + 30_000 },
  ];
  const { upstream, relay } = await rig(t, { plan, dish: { watts: 50, idleOffMs: 1000 } }, clock);
  for (let i = 0; i < 5; i++) await relay.submit('bulk', `d/${i}`, new Uint8Array(100));
  await clock.advanceAsync(1000);
  await upstream.waitForDistinct(3);
  await stateReached(relay, 'off');
  assert.ok(clock.now() < T0 + 10_000, 'switched off before the window ended');
  assert.equal(upstream.distinct, 3);
  assert.equal(relay.status().queued.bulk.items, 2);
  await clock.advanceAsync(20_000 - (clock.now() - T0));
  await upstream.waitForDistinct(5);
  assert.deepEqual(upstream.received.map((r) => r.id), ['site:1', 'site:2', 'site:3', 'site:4', 'site:5']);
});

test('the power grant gates the dish; it is asked again while the window is open', async (t) => {
  const clock = new ManualClock(T0);
  let sunny = false;
  const asked: number[] = [];
  const { upstream, relay } = await rig(
    t,
    {
      plan: [{ start: T0, end: T0 + 3600_000 }],
      dish: { watts: 75 },
      grantPollMs: 10_000,
      grant: ({ now, dishWatts }) => {
        asked.push(dishWatts);
        return sunny && now >= T0;
      },
    },
    clock,
  );
  await relay.submit('hot', 'x', new Uint8Array(10));
  await clock.advanceAsync(9_999);
  assert.equal(relay.currentState, 'off');
  assert.ok(asked.length > 0 && asked.every((w) => w === 75));
  sunny = true;
  await clock.advanceAsync(1);
  await upstream.waitForDistinct(1);
});

test('dish energy: powered from switch-on (boot included) to switch-off after idling; Wh per GB from that', async (t) => {
  const clock = new ManualClock(T0);
  const switched: boolean[] = [];
  const { upstream, relay } = await rig(
    t,
    { plan: [{ start: T0, end: T0 + 3600_000 }], dish: { watts: 60, bootMs: 2000, idleOffMs: 5000, power: (on) => switched.push(on) } },
    clock,
  );
  assert.equal(relay.currentState, 'off', 'nothing to send, dish stays off');
  await relay.submit('bulk', 'x', new Uint8Array(1000));
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(relay.currentState, 'booting');
  await clock.advanceAsync(1999);
  assert.equal(relay.currentState, 'booting');
  await clock.advanceAsync(1);
  await upstream.waitForDistinct(1);
  await stateReached(relay, 'up');
  await clock.advanceAsync(5000);
  await stateReached(relay, 'off');
  assert.deepEqual(switched, [true, false]);
  const energy = relay.energy();
  assert.equal(energy.poweredMs, 7000);
  assert.equal(energy.deliveredBytes, 1000);
  assert.ok(Math.abs(energy.wh - (60 * 7000) / 3.6e6) < 1e-12);
  assert.ok(Math.abs(energy.whPerGb! - energy.wh / 1e-6) < 1e-6);
});

test('bulkWake: a trickle of bulk waits for a full burst or for maxHoldMs; hot wakes the dish at once', async (t) => {
  const clock = new ManualClock(T0);
  const { upstream, relay } = await rig(t, { dish: { watts: 50, idleOffMs: 1000 }, bulkWake: { bytes: 1000, maxHoldMs: 60_000 } }, clock);
  const settle = () => new Promise((resolve) => setImmediate(resolve));
  await relay.submit('bulk', 'b', new Uint8Array(600));
  await settle();
  assert.equal(relay.currentState, 'off', '600 of 1000 bytes');
  await relay.submit('bulk', 'b', new Uint8Array(400));
  await upstream.waitForDistinct(2);
  await clock.advanceAsync(1000);
  await stateReached(relay, 'off');

  await relay.submit('bulk', 'b', new Uint8Array(10));
  await clock.advanceAsync(59_999);
  assert.equal(relay.currentState, 'off');
  await clock.advanceAsync(1);
  await upstream.waitForDistinct(3);
  await clock.advanceAsync(1000);
  await stateReached(relay, 'off');

  await relay.submit('hot', 'h', new Uint8Array(10));
  await upstream.waitForDistinct(4);
});

test('expired items are dropped and counted, in the retained uplink status too', async (t) => {
  const clock = new ManualClock(T0);
  const { mesh, meshUrl, relay } = await rig(t, { plan: [], classes: { control: { ttlMs: 1000 } }, expirySweepMs: 500 }, clock);
  await relay.submit('control', 'cmd', new Uint8Array(5));
  const expired = new Promise((resolve) => relay.once('expired', resolve));
  await clock.advanceAsync(1500);
  assert.deepEqual(await expired, { control: 1, hot: 0, bulk: 0 });
  assert.deepEqual(relay.status().expired, { control: 1, hot: 0, bulk: 0 });
  await clock.advanceAsync(1000); // let the status throttle publish
  const viewer = await connect(meshUrl, credentials('viewer'));
  t.after(() => end(viewer));
  const status = nextMessage(viewer, (topic) => topic === mesh.topics.uplink);
  await subscribeGranted(viewer, mesh.topics.uplink);
  const s = decodeJson<UplinkStatus>((await status).payload);
  assert.deepEqual(s.expired, { control: 1, hot: 0, bulk: 0 });
  assert.deepEqual(s.queued.control, { items: 0, bytes: 0 });
  assert.equal(s.state, 'off');
});

test('an upstream outage in the middle: everything accepted arrives once the link is back', async (t) => {
  const { meshUrl, upstream, relay } = await rig(t, {}, new SystemClock());
  const phone = await connect(meshUrl, credentials('phone'));
  t.after(() => end(phone));
  for (let i = 0; i < 50; i++) await publishOutcome(phone, `canopy/relay/bulk/o/${i}`, `v${i}`);
  await upstream.waitForDistinct(50);
  await upstream.outage();
  await stateReached(relay, 'connecting');
  for (let i = 50; i < 100; i++) assert.equal(await publishOutcome(phone, `canopy/relay/bulk/o/${i}`, `v${i}`), 'acked');
  await upstream.restore();
  await upstream.waitForDistinct(100);
  const bodies = new Map(upstream.received.map((r) => [r.id, r.body.toString()]));
  for (let i = 0; i < 100; i++) assert.equal(bodies.get(`site:${i + 1}`), `v${i}`);
});

test('bad class options and plans fail start() naming the field', async (t) => {
  const { newRelay } = await rig(t);
  await assert.rejects(newRelay({ classes: { bulk: { share: 2 } } }).start(), /relay\.classes\.bulk\.share must be between 0 and 1/);
  await assert.rejects(newRelay({ classes: { hot: { ttlMs: 0 } } }).start(), /relay\.classes\.hot\.ttlMs/);
  await assert.rejects(newRelay({ plan: [{ start: 10, end: 5 }] }).start(), /contact window 0/);
});

test('a restart on the same file resumes: items queued by the old process go out from the new one', async (t) => {
  const clock = new ManualClock(T0);
  const { upstream, relay, newRelay } = await rig(t, { plan: [{ start: T0 + 1000, end: T0 + 60_000 }] }, clock);
  for (let i = 0; i < 10; i++) await relay.submit(i % 2 ? 'hot' : 'bulk', `r/${i}`, new TextEncoder().encode(`${i}`));
  await relay.stop();
  const second = newRelay();
  await second.start();
  assert.equal(second.status().queued.hot.items + second.status().queued.bulk.items, 10);
  await clock.advanceAsync(1000);
  await upstream.waitForDistinct(10);
  assert.equal(await second.submit('hot', 'r/next', new Uint8Array(1)), 'site:11');
});
