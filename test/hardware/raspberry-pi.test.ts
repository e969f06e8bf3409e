/**
 * The systemd unit in hardware/raspberry-pi/ starts Canopy with flags that exist: its ExecStart, pointed at a
 * config in a temporary directory, brings the ground station up and stops on the signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canopy } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/tools.ts';

test('the systemd unit\'s canopy command line is valid', async (t) => {
  const unit = readFileSync(join(repoRoot, 'hardware', 'raspberry-pi', 'canopy.service'), 'utf8');
  const exec = /^ExecStart=\/usr\/bin\/node \/opt\/canopy\/bin\/canopy\.js (.+)$/m.exec(unit);
  assert.ok(exec, 'ExecStart runs bin/canopy.js with node');
  assert.match(unit, /^SupplementaryGroups=dialout$/m, 'the service may open the serial radios');
  const dir = mkdtempSync(join(tmpdir(), 'canopy-unit-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'canopy.yaml');
  writeFileSync(config, 'dataDir: data\nlinks: { gcs: ["udpout://127.0.0.1:9"] }\nmesh: { mqtt: { port: 0, host: 127.0.0.1 }, websocket: false }\nsimulation: { speed: 5 }\n');
  const args = exec![1]!.split(/\s+/).map((a) => (a === '/etc/canopy/canopy.yaml' ? config : a));
  const r = await canopy(...args, '--run-for', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /simulated site "clear-summer-day"/);
  assert.match(r.stdout, /password "/);
});
