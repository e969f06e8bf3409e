/**
 * The auth matrix over real MQTT connections: every role × {connect, publish, subscribe} on every
 * topic class. The expectations are written out here from the issue ("a viewer cannot publish, a
 * neighbour reaches only its own store topics, nobody but admin reaches command topics"), not
 * derived from ACL_MATRIX, so a change to the table that breaks a rule fails this test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { ROLES, type Role } from '../../../controller/mesh/acl.ts';
import { connect, end, nextMessage, publishOutcome, subscribeGranted, tryConnect } from '../../../harness/rigs/mqtt.ts';
import { credentials, startMesh, USERNAMES } from '../../../harness/rigs/mesh.ts';

type Column = 'drone' | 'status' | 'command' | 'response' | 'storeOwn' | 'storeOther' | 'relay' | 'weather' | 'discovery' | 'foreign' | 'sys';

/** One concrete topic per class (store split into the user's own and somebody else's). */
function sample(column: Column, role: Role): string {
  switch (column) {
    case 'drone':
      return 'canopy/drones/d1';
    case 'status':
      return 'canopy/power';
    case 'command':
      return 'canopy/drones/d1/set';
    case 'response':
      return 'canopy/bridge/response/health_check';
    case 'storeOwn':
      return `canopy/store/${USERNAMES[role]}/chunks/c1`;
    case 'storeOther':
      return 'canopy/store/bob/chunks/c1';
    case 'relay':
      return 'canopy/relay/bulk/backup/b1';
    case 'weather':
      return 'canopy/weather/forecast';
    case 'discovery':
      return 'homeassistant/status';
    case 'foreign':
      return 'elsewhere/thing';
    case 'sys':
      return '$SYS/canopy/x';
  }
}

const COLUMNS: Column[] = ['drone', 'status', 'command', 'response', 'storeOwn', 'storeOther', 'relay', 'weather', 'discovery', 'foreign', 'sys'];

// weather: a forecast for the power budget comes from an admin or Home Assistant; the dashboard's viewers and the phone may read it.
//                               drone status command response storeOwn storeOther relay weather discovery foreign sys
const EXPECTED: Record<Role, string> = {
  admin: /*                   */ 'rw    rw     rw      rw       rw       rw         rw    rw      rw        rw      r',
  viewer: /*                  */ 'r     r      -       -        -        -          -     r       -         -       -',
  phone: /*                   */ 'r     r      -       -        rw       rw         w     r       -         -       -',
  neighbour: /*               */ '-     -      -       -        rw       -          -     -       -         -       -',
  'drone-bridge': /*          */ 'rw    r      -       -        -        -          -     -       -         -       -',
  // Home Assistant: the sensors' state, its own birth/will under the discovery prefix, and a forecast it passes on.
  homeassistant: /*           */ 'r     r      -       -        -        -          -     rw      rw        -       -',
};

function expected(role: Role, column: Column): { read: boolean; write: boolean } {
  const cell = EXPECTED[role].split(/\s+/)[COLUMNS.indexOf(column)]!;
  return { read: cell.includes('r'), write: cell.includes('w') };
}

test('connect: every role with its password accepted (0), with a wrong one refused (4); anonymous refused (5)', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  for (const role of ROLES) {
    const ok = await tryConnect(url, credentials(role));
    assert.ok(ok.ok, `${role} connects`);
    await end(ok.client);
    assert.deepEqual(await tryConnect(url, { username: USERNAMES[role], password: 'wrong' }), { ok: false, returnCode: 4 }, `${role} with a wrong password`);
  }
  assert.deepEqual(await tryConnect(url), { ok: false, returnCode: 5 });
});

test('publish: allowed ones are acknowledged and delivered; refused ones close the connection and reach nobody', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const seen: string[] = [];
  await mesh.subscribe('#', (topic, payload) => seen.push(`${topic} ${payload}`));
  await mesh.subscribe('$SYS/canopy/#', (topic, payload) => seen.push(`${topic} ${payload}`));
  for (const role of ROLES) {
    for (const column of COLUMNS) {
      const topic = sample(column, role);
      const client = await connect(url, credentials(role));
      const outcome = await publishOutcome(client, topic, role);
      await end(client);
      const want = expected(role, column).write && column !== 'sys' ? 'acked' : 'closed';
      assert.equal(outcome, want, `${role} publishing to ${column} (${topic})`);
    }
  }
  // Every acknowledged publish was delivered, no refused one was (the in-process subscriber sees all).
  const delivered = new Set(seen);
  for (const role of ROLES) {
    for (const column of COLUMNS) {
      const allowed = expected(role, column).write && column !== 'sys';
      assert.equal(delivered.has(`${sample(column, role)} ${role}`), allowed, `${role} → ${column} delivered`);
    }
  }
});

test('subscribe: granted exactly where the role may read; granted ones receive, wildcards carry only readable topics', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const clients = new Map<Role, MqttClient>();
  t.after(() => Promise.all([...clients.values()].map(end)));
  for (const role of ROLES) {
    const client = await connect(url, credentials(role));
    clients.set(role, client);
    for (const column of COLUMNS) {
      const topic = sample(column, role);
      const granted = await subscribeGranted(client, topic);
      assert.equal(granted, expected(role, column).read ? 1 : 128, `${role} subscribing to ${column} (${topic})`);
    }
  }

  // Wildcards: `canopy/#` reaches something readable for every role, so it is granted; `$SYS/#` only for admin.
  const wildcard = new Map<Role, MqttClient>();
  t.after(() => Promise.all([...wildcard.values()].map(end)));
  for (const role of ROLES) {
    const client = await connect(url, credentials(role));
    wildcard.set(role, client);
    assert.equal(await subscribeGranted(client, 'canopy/#'), 1, `${role} canopy/#`);
    assert.equal(await subscribeGranted(client, '#'), 1, `${role} #`);
    assert.equal(await subscribeGranted(client, '$SYS/#'), role === 'admin' ? 1 : 128, `${role} $SYS/#`);
  }

  // The controller publishes one message on every sample topic, then a sentinel each role can read.
  const sentinel = (role: Role) => (role === 'neighbour' ? `canopy/store/${USERNAMES[role]}/sentinel` : 'canopy/drones/sentinel');
  for (const [role, c] of clients) await subscribeGranted(c, sentinel(role));
  const received = new Map<MqttClient, string[]>();
  for (const c of [...clients.values(), ...wildcard.values()]) {
    const got: string[] = [];
    received.set(c, got);
    c.on('message', (topic) => got.push(topic));
  }
  const arrivals = [...clients, ...wildcard].map(([role, c]) => nextMessage(c, (topic) => topic === sentinel(role), 5000));
  const published = new Set<string>();
  for (const role of ROLES) {
    for (const column of COLUMNS) {
      const topic = sample(column, role);
      if (published.has(topic)) continue;
      published.add(topic);
      await mesh.publish(topic, 'x', { qos: 1 });
    }
  }
  await mesh.publish('canopy/drones/sentinel', 'end', { qos: 1 });
  await mesh.publish(`canopy/store/${USERNAMES.neighbour}/sentinel`, 'end', { qos: 1 });
  await Promise.all(arrivals);

  /** The column a published topic falls in from `role`'s point of view. */
  const columnOf = (topic: string, role: Role): Column =>
    COLUMNS.find((c) => sample(c, role) === topic) ?? (topic.startsWith('canopy/store/') ? 'storeOther' : assert.fail(`unclassified ${topic}`));
  const got = (c: MqttClient) => received.get(c)!.filter((topic) => published.has(topic)).sort();
  for (const role of ROLES) {
    const exact = COLUMNS.filter((c) => expected(role, c).read).map((c) => sample(c, role));
    assert.deepEqual(got(clients.get(role)!), [...new Set(exact)].sort(), `${role}, exact subscriptions`);
    const viaWildcards = [...published].filter((topic) => expected(role, columnOf(topic, role)).read);
    assert.deepEqual(got(wildcard.get(role)!), viaWildcards.sort(), `${role}, canopy/# + # + $SYS/#`);
  }
});
