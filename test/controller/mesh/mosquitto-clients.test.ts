/**
 * Interop: Mosquitto's command-line clients against the mesh, with credentials, the way a user
 * would try it. Needs mosquitto_pub and mosquitto_sub (Debian: mosquitto-clients).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { needCommand } from '../../helpers/tools.ts';
import { startMesh } from '../../../harness/rigs/mesh.ts';

function run(cmd: string, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('mosquitto_sub and mosquitto_pub: retained state, publishing, and every refusal', async (t) => {
  if (!needCommand(t, 'mosquitto_sub', 'mosquitto-clients') || !needCommand(t, 'mosquitto_pub', 'mosquitto-clients')) return;
  const { mesh } = await startMesh();
  t.after(() => mesh.stop());
  const server = ['-h', '127.0.0.1', '-p', String(mesh.addresses().tcp)];
  const as = (user: string) => ['-u', user, '-P', `${user}-pw`];

  const state = await run('mosquitto_sub', [...server, ...as('viewer'), '-t', 'canopy/bridge/state', '-C', '1', '-W', '5']);
  assert.deepEqual([state.code, state.stdout], [0, 'online\n']);

  const seen: string[] = [];
  await mesh.subscribe('canopy/power', (_topic, payload) => seen.push(payload.toString()));
  const pub = await run('mosquitto_pub', [...server, ...as('admin'), '-t', 'canopy/power', '-m', '{"solarW":3}', '-q', '1']);
  assert.equal(pub.code, 0, pub.stderr);
  assert.deepEqual(seen, ['{"solarW":3}']);

  const badPassword = await run('mosquitto_sub', [...server, '-u', 'viewer', '-P', 'wrong', '-t', '#', '-C', '1', '-W', '5']);
  assert.notEqual(badPassword.code, 0);
  assert.match(badPassword.stderr, /bad user name or password/i);

  const anonymous = await run('mosquitto_sub', [...server, '-t', '#', '-C', '1', '-W', '5']);
  assert.notEqual(anonymous.code, 0);
  assert.match(anonymous.stderr, /not authori[sz]ed/i);

  const viewerPublish = await run('mosquitto_pub', [...server, ...as('viewer'), '-t', 'canopy/power', '-m', 'x', '-q', '1']);
  assert.notEqual(viewerPublish.code, 0, 'the connection is closed instead of a PUBACK');
  assert.deepEqual(seen, ['{"solarW":3}']);
});
