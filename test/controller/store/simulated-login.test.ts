/** The simulated site's phone login file: used only while its site runs, and only when private. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { demoPassphrase, readSimulatedLogin, writeSimulatedLogin, type SimulatedLogin } from '../../../controller/store/simulated-login.ts';

test('the simulated login is read while its process runs and the file is private; its passphrase outlives the run', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-sim-login-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  assert.equal(readSimulatedLogin(dir), undefined, 'no file: no login');
  const passphrase = demoPassphrase(dir);
  const login: SimulatedLogin = { pid: process.pid, broker: 'mqtt://127.0.0.1:1883', baseTopic: 'canopy', username: 'phone', password: 'pw', neighbours: ['alice'], passphrase };
  const file = writeSimulatedLogin(dir, login);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(readSimulatedLogin(dir)?.password, 'pw');
  assert.equal(demoPassphrase(dir), passphrase, 'the same passphrase on the next run');

  chmodSync(file, 0o644);
  const warnings: string[] = [];
  assert.equal(readSimulatedLogin(dir, (m) => warnings.push(m)), undefined, 'readable by others: not used');
  assert.match(warnings[0] ?? '', /readable by others/);

  writeSimulatedLogin(dir, { ...login, pid: 0, password: '' });
  assert.equal(readSimulatedLogin(dir), undefined, 'the run ended: no login');
  assert.equal(demoPassphrase(dir), passphrase);
});
