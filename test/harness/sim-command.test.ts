/**
 * `canopy sim run` as a user runs it: progress on stderr, the figures on stdout, and a report
 * directory with figures.json, five SVG plots and report.md (each figure explained); without
 * --json, a summary with labels and units. `canopy sim list` names the shipped
 * scenarios; a bad scenario file is a clear error.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canopy } from '../helpers/cli.ts';

test('canopy sim run writes a report with figures and plots, with progress while it runs', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-simrun-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'small.yaml');
  writeFileSync(file, 'description: three drones for ten minutes\nstart: 2026-06-21T10:00:00Z\nduration: 10m\nswarm: { drones: 4 }\n');
  const report = join(dir, 'report');
  const r = await canopy('sim', 'run', '--scenario', file, '--seed', '2', '--report', report, '--json', '--tlog', join(dir, 'run.tlog'));
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /small \(seed 2\) 100 %/, 'progress reaches 100 %');
  const figures = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.equal(figures.scenario, 'small');
  assert.equal(figures.drones, 4);
  assert.equal(figures.simulated_h, 0.167);
  assert.ok((figures.rtf as number) > 1);
  assert.match(String(figures.tlog_sha256), /^[0-9a-f]{64}$/);
  assert.deepEqual(readdirSync(report).sort(), ['coverage.svg', 'figures.json', 'power.svg', 'report.md', 'soc.svg', 'uplink.svg', 'wind.svg']);
  assert.deepEqual(JSON.parse(readFileSync(join(report, 'figures.json'), 'utf8')), figures);
  for (const svg of ['power.svg', 'soc.svg', 'coverage.svg', 'wind.svg', 'uplink.svg']) {
    const text = readFileSync(join(report, svg), 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(text, svg === 'uplink.svg' ? /<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="[\d.]+" fill="#16a085"/ : /<polyline|<polygon/, `${svg} has data`);
    assert.match(text, /<\/svg>$/);
  }
  const md = readFileSync(join(report, 'report.md'), 'utf8');
  assert.match(md, /!\[power\]\(power.svg\)\n\nWhat the net’s panels deliver/, 'each chart with its caption');
  assert.match(md, /\| Drones \(`drones`\) \| 4 drones \| drones in the swarm \|/, 'each figure with its unit and meaning');

  // Without --json the summary is for people: labels and units, not raw keys.
  const plain = await canopy('sim', 'run', '--scenario', file, '--seed', '2');
  assert.equal(plain.code, 0, plain.stderr);
  assert.match(plain.stdout, /^Simulated time +0\.167 h$/m);
  assert.match(plain.stdout, /^Lowest drone charge +\d+(\.\d)? %$/m);
  assert.doesNotMatch(plain.stdout, /simulated_h|min_drone_soc/);
});

test('canopy sim list names the shipped scenarios; a bad scenario is a clear error', async (t) => {
  const list = await canopy('sim', 'list');
  assert.equal(list.code, 0);
  for (const name of ['clear-summer-day', 'cloudy-week', 'antarctic-summer', 'storm']) assert.match(list.stdout, new RegExp(`^${name} `, 'm'));
  const dir = mkdtempSync(join(tmpdir(), 'canopy-simrun-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'bad.yaml'), 'swarm: { drones: -3 }\n');
  const bad = await canopy('sim', 'run', '--scenario', join(dir, 'bad.yaml'));
  assert.equal(bad.code, 78, 'EX_CONFIG');
  assert.match(bad.stderr, /swarm\.drones: .*\[CANOPY_ERR_CONFIG\]/s);
  const unknown = await canopy('sim', 'run', '--scenario', 'atlantis');
  assert.equal(unknown.code, 78, 'EX_CONFIG');
  assert.match(unknown.stderr, /no scenario "atlantis"/);
});
