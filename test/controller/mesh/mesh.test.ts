import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { isCanopyError } from '../../../common/errors.ts';
import { Mesh } from '../../../controller/mesh/mesh.ts';
import { decodeJson, encodeJson, type BridgeResponse, type DroneCommand, type DroneState } from '../../../common/topics.ts';
import { connect, end, nextMessage, publishOutcome, subscribeGranted, tryConnect } from '../../../harness/rigs/mqtt.ts';
import { credentials, startMesh, testUsers } from '../../../harness/rigs/mesh.ts';
import { CERT, KEY } from './fixtures.ts';

test('CONNACK: right password accepted, wrong password 4, unknown user 4, anonymous 5 (off by default)', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const ok = await tryConnect(url, credentials('viewer'));
  assert.ok(ok.ok);
  await end(ok.client);
  assert.deepEqual(await tryConnect(url, { username: 'viewer', password: 'nope' }), { ok: false, returnCode: 4 });
  assert.deepEqual(await tryConnect(url, { username: 'nobody', password: 'viewer-pw' }), { ok: false, returnCode: 4 });
  assert.deepEqual(await tryConnect(url, {}), { ok: false, returnCode: 5 });
});

test('anonymousRole lets clients in without credentials, with that role only', async (t) => {
  const { mesh, url } = await startMesh({ anonymousRole: 'viewer' });
  t.after(() => mesh.stop());
  const client = await connect(url);
  t.after(() => end(client));
  assert.equal(await subscribeGranted(client, mesh.topics.power), 1);
  assert.equal(await subscribeGranted(client, mesh.topics.store('alice', '#')), 128);
  assert.equal(await publishOutcome(client, mesh.topics.power, '{}'), 'closed');
});

test('a will the role may not publish refuses the CONNECT (5); an allowed will is published on a lost connection', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const refused = await tryConnect(url, { ...credentials('viewer'), will: { topic: mesh.topics.availability('d1'), payload: Buffer.from('offline'), qos: 1, retain: true } });
  assert.deepEqual(refused, { ok: false, returnCode: 5 });

  const watcher = await connect(url, credentials('admin'));
  t.after(() => end(watcher));
  await subscribeGranted(watcher, mesh.topics.availability('d1'));
  const bridge = await connect(url, { ...credentials('drone-bridge'), will: { topic: mesh.topics.availability('d1'), payload: Buffer.from('offline'), qos: 1, retain: true } });
  const will = nextMessage(watcher, (topic) => topic === mesh.topics.availability('d1'));
  bridge.stream.destroy(); // a lost connection, not a DISCONNECT
  assert.equal((await will).payload.toString(), 'offline');
});

test('bridge/state is retained "online" while running and "offline" on stop', async () => {
  const { mesh, url } = await startMesh();
  const client = await connect(url, credentials('viewer'));
  const state = nextMessage(client, (topic) => topic === mesh.topics.bridgeState);
  await subscribeGranted(client, mesh.topics.bridgeState);
  const first = await state;
  assert.equal(first.payload.toString(), 'online');
  await end(client);
  const published: string[] = [];
  await mesh.subscribe(mesh.topics.bridgeState, (_topic, payload) => published.push(payload.toString()));
  await mesh.stop();
  assert.deepEqual(published, ['offline']); // in-process subscriptions get no retained replay
  assert.equal(mesh.addresses().tcp, undefined);
});

test('bridge request/response: health_check, custom verbs, errors, transaction echoed', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  mesh.onRequest('echo', (data) => ({ got: data.value }));
  mesh.onRequest('fail', () => {
    throw new Error('cannot do that');
  });
  const admin = await connect(url, credentials('admin'));
  t.after(() => end(admin));
  await subscribeGranted(admin, `${mesh.topics.base}/bridge/response/#`);
  const ask = async (verb: string, payload: string) => {
    const reply = nextMessage(admin, (topic) => topic === mesh.topics.response(verb));
    admin.publish(mesh.topics.request(verb), payload, { qos: 1 });
    return decodeJson<BridgeResponse>((await reply).payload);
  };
  assert.deepEqual(await ask('health_check', '{"transaction":"t1"}'), { status: 'ok', data: { healthy: true }, transaction: 't1' });
  assert.deepEqual(await ask('echo', '{"value":42}'), { status: 'ok', data: { got: 42 } });
  assert.deepEqual(await ask('fail', '{"transaction":"t2"}'), { status: 'error', data: {}, error: 'cannot do that', transaction: 't2' });
  const unknown = await ask('nope', '{}');
  assert.equal(unknown.status, 'error');
  assert.match((unknown as { error: string }).error, /unknown request "nope"; known: health_check, echo, fail/);
  assert.match((await ask('echo', '[1]') as { error: string }).error, /must be a JSON object/);
});

test('drone /set reaches onDroneSet handlers only with a known command shape', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  const got: [string, DroneCommand][] = [];
  const done = new Promise<void>((resolve) =>
    mesh.onDroneSet((id, command) => {
      got.push([id, command]);
      if (command.command === 'rtl') resolve();
    }),
  );
  const admin = await connect(url, credentials('admin'));
  t.after(() => end(admin));
  for (const payload of ['{"command":"takeoff","altM":12}', '{"command":"takeoff"}', 'not json', '{"command":"selfdestruct"}', '{"command":"rtl"}']) {
    await publishOutcome(admin, mesh.topics.droneSet('d3'), payload);
  }
  await done;
  assert.deepEqual(got, [
    ['d3', { command: 'takeoff', altM: 12 }],
    ['d3', { command: 'rtl' }],
  ]);
});

test('drone state is retained and throttled per drone, the latest state winning', async (t) => {
  const clock = new ManualClock();
  const { mesh } = await startMesh({ clock, stateRateHz: 1 });
  t.after(() => mesh.stop());
  const seen: DroneState[] = [];
  await mesh.subscribe(mesh.topics.drone('+'), (_topic, payload) => seen.push(decodeJson<DroneState>(payload)));
  const state = (id: string, n: number): DroneState => ({ id, sysid: 1, mode: `M${n}`, updatedAt: n });
  const settled = () => new Promise((resolve) => setImmediate(resolve));
  mesh.publishDroneState(state('a', 1)); // goes out at once
  mesh.publishDroneState(state('a', 2)); // superseded
  mesh.publishDroneState(state('a', 3)); // goes out at the end of the interval
  mesh.publishDroneState(state('b', 1)); // another drone is not held back
  await settled();
  assert.deepEqual(seen.map((s) => `${s.id}${s.mode}`), ['aM1', 'bM1']);
  await clock.advanceAsync(999);
  assert.equal(seen.length, 2);
  await clock.advanceAsync(1);
  await settled();
  assert.deepEqual(seen.map((s) => `${s.id}${s.mode}`), ['aM1', 'bM1', 'aM3']);
});

test('an interceptor runs before the PUBACK; its rejection closes the connection with no PUBACK', async (t) => {
  const { mesh, url } = await startMesh();
  t.after(() => mesh.stop());
  let release!: () => void;
  const order: string[] = [];
  mesh.intercept(`${mesh.topics.base}/relay/+/#`, async (packet) => {
    if (packet.payload.toString() === 'reject') throw new Error('disk full');
    order.push('intercepted');
    await new Promise<void>((resolve) => (release = resolve));
    order.push('committed');
  });
  const phone = await connect(url, credentials('phone'));
  const acked = publishOutcome(phone, mesh.topics.relay('bulk', 'x'), 'data').then((r) => order.push(r));
  while (order.length === 0) await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(order, ['intercepted']);
  release();
  await acked;
  assert.deepEqual(order, ['intercepted', 'committed', 'acked']);
  assert.equal(await publishOutcome(phone, mesh.topics.relay('bulk', 'x'), 'reject'), 'closed');
  await end(phone);
  assert.throws(() => mesh.intercept('a/#/b', () => {}), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT'));
});

test('MQTT over WebSocket and over TLS, with the same users', async (t) => {
  const { mesh } = await startMesh({ ws: { host: '127.0.0.1', port: 0 }, tls: { host: '127.0.0.1', port: 0, certFile: CERT, keyFile: KEY } });
  t.after(() => mesh.stop());
  const { ws, tls } = mesh.addresses();
  const viaWs = await connect(`ws://127.0.0.1:${ws}/mqtt`, credentials('viewer'));
  const viaTls = await connect(`mqtts://127.0.0.1:${tls}`, { ...credentials('admin'), ca: readFileSync(CERT), servername: 'localhost' });
  t.after(() => Promise.all([end(viaWs), end(viaTls)]));
  await subscribeGranted(viaWs, mesh.topics.power);
  const got = nextMessage(viaWs, (topic) => topic === mesh.topics.power);
  await publishOutcome(viaTls, mesh.topics.power, encodeJson({ solarW: 1 }) as Buffer);
  assert.deepEqual(decodeJson((await got).payload), { solarW: 1 });
  assert.deepEqual(await tryConnect(`ws://127.0.0.1:${ws}/mqtt`, { username: 'viewer', password: 'x' }), { ok: false, returnCode: 4 });
});

test('a port in use and an unreadable certificate fail start() with coded errors', async (t) => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => blocker.close(() => resolve())));
  const port = (blocker.address() as { port: number }).port;
  const users = await testUsers();
  await assert.rejects(new Mesh({ users, tcp: { host: '127.0.0.1', port }, ws: false }).start(), (e) => isCanopyError(e, 'CANOPY_ERR_PORT_IN_USE') && /MQTT port \d+ on 127\.0\.0\.1 is in use; choose another with mesh\.mqtt\.port/.test(e.message));
  await assert.rejects(
    new Mesh({ users, tcp: { host: '127.0.0.1', port: 0 }, ws: false, tls: { port: 0, certFile: '/nonexistent.crt', keyFile: KEY } }).start(),
    (e) => isCanopyError(e, 'CANOPY_ERR_CONFIG') && e.message.includes('mesh.tls.certFile'),
  );
});

test('stop() does not wait for a socket that never sent CONNECT', async () => {
  const { mesh } = await startMesh();
  const { Socket } = await import('node:net');
  const idle = new Socket();
  await new Promise<void>((resolve) => idle.connect(mesh.addresses().tcp!, '127.0.0.1', resolve));
  await mesh.stop();
  idle.destroy();
});
