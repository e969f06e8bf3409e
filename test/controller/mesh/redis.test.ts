/**
 * Scale-out: two mesh brokers on one real redis-server share subscriptions and retained messages.
 * Needs redis-server (Debian: redis-server) and the npm packages mqemitter-redis and
 * aedes-persistence-redis.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { connect as netConnect } from 'node:net';
import { createRequire } from 'node:module';
import { isCanopyError } from '../../../common/errors.ts';
import { Mesh } from '../../../controller/mesh/mesh.ts';
import { connect, end, nextMessage, subscribeGranted } from '../../../harness/rigs/mqtt.ts';
import { freePort } from '../../../harness/rigs/ports.ts';
import { needCommand, requireAll } from '../../helpers/tools.ts';
import { credentials, testUsers } from '../../../harness/rigs/mesh.ts';

function needPackages(t: TestContext, names: string[]): boolean {
  const require = createRequire(import.meta.url);
  const missing = names.filter((n) => {
    try {
      require.resolve(n);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length === 0) return true;
  const msg = `needs the npm packages ${missing.join(', ')}`;
  if (requireAll) throw new Error(`${msg} (CANOPY_REQUIRE_ALL=1 makes this a failure)`);
  t.skip(msg);
  return false;
}

/** Starts redis-server on a free loopback port; the caller stops it after its clients are closed. */
async function startRedis(): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const redis: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const stop = () => new Promise<void>((resolve) => (redis.exitCode !== null ? resolve() : (redis.once('exit', () => resolve()), redis.kill('SIGTERM'))));
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = netConnect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) return { port, stop };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await stop();
  throw new Error('redis-server did not start');
}

test('two brokers on one Redis: a message published on one reaches a subscriber on the other, retained state too', async (t) => {
  if (!needCommand(t, 'redis-server', 'redis-server') || !needPackages(t, ['mqemitter-redis', 'aedes-persistence-redis'])) return;
  const redis = await startRedis();
  const users = await testUsers();
  const meshes = [0, 1].map((i) => new Mesh({ users, tcp: { host: '127.0.0.1', port: 0 }, ws: false, redis: { host: '127.0.0.1', port: redis.port }, broker: { id: `broker-${i}` } }));
  // One hook, in this order: the brokers' Redis clients quit while Redis is still there to answer.
  t.after(async () => {
    for (const m of meshes) await m.stop();
    await redis.stop();
  });
  for (const m of meshes) await m.start();
  const [a, b] = meshes.map((m) => `mqtt://127.0.0.1:${m.addresses().tcp}`);

  const viewer = await connect(a!, credentials('viewer'));
  const admin = await connect(b!, credentials('admin'));
  t.after(() => Promise.all([end(viewer), end(admin)]));
  await subscribeGranted(viewer, 'canopy/drones/+');
  const crossed = nextMessage(viewer, (topic) => topic === 'canopy/drones/d9', 5000);
  admin.publish('canopy/drones/d9', '{"id":"d9"}', { qos: 1, retain: true });
  assert.equal((await crossed).payload.toString(), '{"id":"d9"}');

  // The retained message lives in Redis: a new client of the first broker gets it on subscribe.
  const late = await connect(a!, credentials('viewer'));
  t.after(() => end(late));
  const retained = nextMessage(late, (topic) => topic === 'canopy/drones/d9', 5000);
  await subscribeGranted(late, 'canopy/drones/d9');
  assert.equal((await retained).payload.toString(), '{"id":"d9"}');
});

test('mesh.redis with its optional package missing is one clear error naming the package and how to install it', async () => {
  const { loadOptional } = await import('../../../controller/mesh/redis.ts');
  await assert.rejects(loadOptional('canopy-no-such-package'), (e) => isCanopyError(e, 'CANOPY_ERR_UNAVAILABLE') && /optional npm package "canopy-no-such-package".*npm install mqemitter-redis aedes-persistence-redis/.test(e.message));
  assert.equal(typeof (await loadOptional('mqemitter-redis')), 'function', 'installed here, it loads');
});
