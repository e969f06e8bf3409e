/** The composition root (controller/app/application.ts): its parts, their order, a failed start, a clean stop. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../../firmware-bridge/links/memory.ts';
import type { Extension } from '../../../controller/app/extension.ts';
import { defaultConfig, parseConfig } from '../../../controller/config.ts';
import { testApplication } from '../../helpers/application.ts';
import { testUsers } from '../../../harness/rigs/mesh.ts';

const POWER = { site: { latitudeDeg: 47.4, longitudeDeg: 8.5, elevationM: 400, linkeTurbidity: 3 }, airframeMassKg: 2.5, hoverWPerKg: 180, netMassKgPerM2: 0.25, netAreaM2PerDrone: 12, netEfficiency: 0.2, mpptEfficiency: 0.97, batteryWh: 222, padChargeW: 250, spares: 1, radiosW: 2 };

/** An extension of the environment that records when it starts and stops. */
function recorder(name: string, log: string[]): Extension {
  return { name, start: async () => void log.push(`start ${name}`), stop: async () => void log.push(`stop ${name}`) };
}

test('the parts come from the environment and the configuration, in the order they must start; stop undoes it all', async () => {
  const clock = new ManualClock();
  const [ground] = createMemoryPair('radio', 'drone');
  const log: string[] = [];
  const app = testApplication({ clock, droneLinks: [{ link: ground, name: 'radio' }], users: await testUsers(), site: { origin: { latDeg: 47.4, lonDeg: 8.5 }, power: POWER }, around: [recorder('world', log)] });
  assert.deepEqual(
    app.extensions.map((e) => e.name),
    ['world', 'bridge', 'mesh', 'drone-state', 'site', 'actions', 'radios'],
  );
  const bare = testApplication({ clock, droneLinks: [], mesh: false });
  assert.deepEqual(bare.extensions.map((e) => e.name), ['bridge', 'radios'], 'no mesh: no drone state, relay, actions or dashboard');
  await app.start();
  assert.ok(app.bus.listenerCount() > 0);
  assert.ok(app.mesh!.addresses().tcp! > 0);
  await app.stop();
  assert.equal(app.bus.listenerCount(), 0, 'every listener left with its owner');
  assert.deepEqual(log, ['start world', 'stop world']);
  await app.start();
  await app.stop();
});

test('a part that fails to start stops every part started before it, last first, and the error comes out', async (t) => {
  const taken = createServer();
  await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const log: string[] = [];
  const app = testApplication({ clock: new ManualClock(), droneLinks: [], users: await testUsers(), mesh: { tcp: { host: '127.0.0.1', port }, ws: false }, around: [recorder('first', log), recorder('second', log)] });
  await assert.rejects(app.start(), /EADDRINUSE|in use/i);
  assert.deepEqual(log, ['start first', 'start second', 'stop second', 'stop first']);
  assert.equal(app.bus.listenerCount(), 0);
});

test('the validated configuration is frozen: nothing may edit it after the check', () => {
  const c = parseConfig('links: { drones: ["tcp://127.0.0.1:5760"] }', 'c.yaml', '.', {});
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.links) && Object.isFrozen(c.links.drones));
  assert.throws(() => (c.links.drones as string[]).push('tcp://127.0.0.1:5770'), TypeError);
  const withFlags = defaultConfig({ values: { links: { drones: ['tcp://127.0.0.1:5760'] }, sysid: 200 }, source: '--link, --sysid' });
  assert.deepEqual([withFlags.links.drones, withFlags.sysid, withFlags.links.gcs], [['tcp://127.0.0.1:5760'], 200, ['udpout://127.0.0.1:14550']], 'flags laid over the defaults; the rest stays');
  assert.throws(() => defaultConfig({ values: { sysid: 0 }, source: '--sysid' }), /\(defaults\) with --sysid: invalid configuration[\s\S]*sysid/);
});
