/**
 * Interop: a real Mosquitto as the upstream broker, over MQTT 3.1.1 and MQTT 5 (where the id also
 * travels as the `canopy-id` user property). Needs mosquitto (Debian: mosquitto).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPublishPacket } from 'mqtt';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { decodeEnvelope, RELAY_ID_PROPERTY } from '../../../common/topics.ts';
import { Relay } from '../../../controller/relay/relay.ts';
import { connect, end, nextMessage, subscribeGranted } from '../../../harness/rigs/mqtt.ts';
import { freePort } from '../../../harness/rigs/ports.ts';
import { needCommand } from '../../helpers/tools.ts';
import { startMesh } from '../../../harness/rigs/mesh.ts';

async function startMosquitto(t: TestContext): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-mosquitto-'));
  chmodSync(dir, 0o777); // mosquitto started as root drops to its own user
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n`);
  const broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
  t.after(async () => {
    await new Promise<void>((resolve) => (broker.exitCode !== null ? resolve() : (broker.once('exit', () => resolve()), broker.kill('SIGTERM'))));
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `mqtt://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await end(await connect(url));
      return url;
    } catch (e) {
      if (i > 100) throw e;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

for (const protocolVersion of [4, 5] as const) {
  test(`relay to a real Mosquitto over MQTT ${protocolVersion === 4 ? '3.1.1' : '5'}: items arrive with their ids, bridge/state is retained`, async (t) => {
    if (!needCommand(t, 'mosquitto', 'mosquitto')) return;
    const url = await startMosquitto(t);
    const clock = new ManualClock();
    const { mesh } = await startMesh({ clock });
    t.after(() => mesh.stop());
    const dir = mkdtempSync(join(tmpdir(), 'canopy-relay-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const relay = new Relay({ mesh, path: join(dir, 'outbox.db'), origin: 'site', clock, upstream: { url, protocolVersion, topicPrefix: 'far/site' } });

    const far = await connect(url, { protocolVersion: 5 });
    t.after(() => end(far));
    await subscribeGranted(far, 'far/site/#');
    const packets: IPublishPacket[] = [];
    far.on('message', (_topic, _payload, packet) => packets.push(packet));
    const arrived = nextMessage(far, (topic) => topic === 'far/site/backup/2', 5000);
    await relay.start();
    t.after(() => relay.stop());
    await relay.submit('bulk', 'backup/1', new TextEncoder().encode('one'));
    await relay.submit('bulk', 'backup/2', new TextEncoder().encode('two'));
    await arrived;

    const items = packets.filter((p) => p.topic.startsWith('far/site/backup/'));
    assert.deepEqual(
      items.map((p) => [p.topic, decodeEnvelope(p.payload as Buffer)?.id, Buffer.from(decodeEnvelope(p.payload as Buffer)!.body).toString()]),
      [
        ['far/site/backup/1', 'site:1', 'one'],
        ['far/site/backup/2', 'site:2', 'two'],
      ],
    );
    const property = items.map((p) => p.properties?.userProperties?.[RELAY_ID_PROPERTY]);
    assert.deepEqual(property, protocolVersion === 5 ? ['site:1', 'site:2'] : [undefined, undefined]);
    if (protocolVersion === 5) assert.ok(items.every((p) => (p.properties?.messageExpiryInterval ?? 0) > 0), 'bulk TTL as Message Expiry Interval');

    const late = await connect(url);
    t.after(() => end(late));
    const state = nextMessage(late, (topic) => topic === 'far/site/bridge/state', 5000);
    await subscribeGranted(late, 'far/site/bridge/state');
    assert.equal((await state).payload.toString(), 'online');
  });
}
