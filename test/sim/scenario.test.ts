/**
 * Scenarios: the shipped files load, a wrong field is reported with its path, faults and weather
 * changes happen when the file says, and a run is reproducible to the byte (same scenario and
 * seed → identical tlog, sha256).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCanopyError } from '../../common/errors.ts';
import { runScenario } from '../../harness/sim-command.ts';
import { buildSim } from '../../sim/build.ts';
import { loadScenario, parseScenario, shippedScenarios, type Scenario } from '../../sim/scenario.ts';

test('the shipped scenarios load and say what they are', () => {
  assert.deepEqual(shippedScenarios(), ['antarctic-summer', 'clear-summer-day', 'cloudy-week', 'cold-start', 'mixed-fleet', 'reboot-on-pad', 'saved-streams', 'storm']);
  for (const name of shippedScenarios()) {
    const s = loadScenario(name);
    assert.equal(s.name, name);
    assert.ok(s.description.length > 10, `${name} has a description`);
    assert.ok(s.duration > 0 && s.swarm.drones === 25);
  }
  assert.equal(loadScenario('cloudy-week').duration, 7 * 24 * 3600_000);
  assert.equal(loadScenario('antarctic-summer').location.latitudeDeg, -77.846);
  assert.equal(loadScenario('storm').faults.length, 3);
});

test('a wrong field is reported with its path, all problems at once, nothing half-applied', () => {
  const bad = 'swarm: { drones: twenty }\nfaults:\n  - { type: motor-failure, at: 1h }\n  - { type: meteor, at: 2h }\nbogus: 1\nduration: 3x\n';
  let err: unknown;
  try {
    parseScenario(bad, 'bad.yaml');
  } catch (e) {
    err = e;
  }
  assert.ok(isCanopyError(err, 'CANOPY_ERR_CONFIG'));
  const msg = (err as Error).message;
  for (const path of ['swarm.drones', 'faults.0.drone', 'faults.1.type', 'duration', 'bogus']) assert.match(msg, new RegExp(path.replace('.', '\\.')), `names ${path}: ${msg}`);
  assert.throws(() => parseScenario('faults: [{ type: motor-failure, at: 1h, drone: 40 }]', 'x.yaml'), /faults\.0\.drone: no drone 40 in a swarm of 25/);
  assert.throws(() => parseScenario('duration: 1h\nfaults: [{ type: satellite-outage, at: 2h, for: 1h }]', 'x.yaml'), /faults\.0\.at: after the end/);
  assert.throws(() => parseScenario('swarm: [unclosed', 'x.yaml'), /not valid YAML/);
  assert.throws(() => loadScenario('no-such-scenario'), /no scenario "no-such-scenario".*clear-summer-day/);
});

test('defaults are in ms like written durations; cloud changes and a motor failure on "a drone in flight" say what happened', () => {
  const plain = parseScenario('{}', 'plain.yaml');
  assert.equal(plain.duration, 18 * 3600_000, 'default run: 18 h');
  assert.equal(plain.weather.clouds.change, 3 * 3600_000, 'default cloud change: 3 h');
  const s = parseScenario(
    [
      'start: 2026-06-21T10:00:00Z',
      'duration: 6h',
      'weather: { clouds: { meanCover: 0, change: 1h, changes: [{ at: 2h, meanCover: 1 }] } }',
      'faults: [{ type: motor-failure, at: 1m, drone: flying }]',
    ].join('\n'),
    'front.yaml',
  );
  const sim = buildSim(s, 1);
  const t0 = Date.parse(s.start);
  // Clear until the change, overcast one period after it.
  assert.equal(sim.sky.cloudFactor(t0 + 2 * 3600_000), 1);
  assert.ok(sim.sky.cloudFactor(t0 + 3 * 3600_000) < 0.3);
  assert.deepEqual(sim.due(t0 + 2 * 3600_000).map((e) => e.what), ['motor failure: no drone in flight', 'cloud cover now 100 % mean'], 'nobody flies on a world that was never stepped');
  assert.equal(sim.world.drones.filter((d) => d.copter.failed).length, 0);
  assert.throws(() => parseScenario('faults: [{ type: motor-failure, at: 1m, drone: somebody }]', 'x.yaml'), /faults\.0\.drone/);
});

/** A small, eventful run: 6 drones in the morning, a blackout and a motor failure. */
function eventful(): Scenario {
  return parseScenario(
    [
      'description: six drones, a short radio blackout and a motor failure',
      'start: 2026-06-21T07:30:00Z',
      'duration: 12m',
      'swarm: { drones: 6 }',
      'weather: { wind: { meanMs: 3, gustMs: 1, changes: [{ at: 9m, meanMs: 5 }] } }',
      'faults:',
      '  - { type: radio-blackout, at: 6m, for: 3s }',
      '  - { type: motor-failure, at: 10m, drone: 6 }',
      '  - { type: battery-ageing, drone: 2, capacityLoss: 0.3 }',
    ].join('\n'),
    'eventful.yaml',
  );
}

test('same scenario and seed give a byte-identical tlog; another seed does not', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-replay-'));
  try {
    const s = eventful();
    const a = await runScenario(s, { seed: 5, tlog: join(dir, 'a.tlog') });
    const b = await runScenario(s, { seed: 5, tlog: join(dir, 'b.tlog') });
    const c = await runScenario(s, { seed: 6, tlog: join(dir, 'c.tlog') });
    assert.ok(a.figures.tlog_sha256 && /^[0-9a-f]{64}$/.test(a.figures.tlog_sha256));
    assert.equal(a.figures.tlog_sha256, b.figures.tlog_sha256, 'same seed, same bytes');
    assert.notEqual(a.figures.tlog_sha256, c.figures.tlog_sha256, 'another seed, another run');
    assert.deepEqual(a.figures.events, b.figures.events);

    // The timetable happened: wind change, blackout on and off, the motor failure.
    const whats = a.figures.events.map((e) => e.what);
    assert.deepEqual(whats, ['radio blackout for 3 s', 'radio blackout over', 'wind now 5 m/s mean', 'drone 6: motor failure in flight at 60 m']);
    assert.equal(a.site.world.drone(6)!.copter.failed, true);
    assert.ok(Math.abs(a.site.world.drone(2)!.battery.capacityWh - 222 * 0.7) < 1e-9, 'aged battery has 70 % of its capacity');
    assert.ok(a.figures.fleet_transitions > 6, 'the fleet flew');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
