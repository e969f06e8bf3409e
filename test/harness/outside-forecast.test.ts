/**
 * The outside forecast end to end on the simulated site: the simulator's weather service behind the
 * satellite link, fetched when a window is open and the budget grants the uplink (by the relay's
 * dish, or without a relay by the grant alone), and published on the mesh by an admin. A day with
 * an afternoon front: with the service's forecast the sunset plan lands the net hours earlier than
 * the measured sky's; with the satellite out, nothing arrives and the budget stays on the measured sky.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimulatedSite } from '../../harness/simulated-site.ts';
import { validateScenario } from '../../sim/scenario.ts';
import type { PowerState } from '../../common/topics.ts';
import { testUsers, credentials } from '../../harness/rigs/mesh.ts';
import { connect, end, nextMessage } from '../../harness/rigs/mqtt.ts';

const HOUR = 3_600_000;

/** Six drones near Zürich on 21 June from 10:30 UTC; clear until a front closes in from 13:30. */
function frontDay(extra: Record<string, unknown> = {}) {
  return validateScenario(
    {
      location: { latitudeDeg: 47.3769, longitudeDeg: 8.5417, elevationM: 408 },
      start: '2026-06-21T10:30:00Z',
      duration: '4h',
      swarm: { drones: 6 },
      weather: { clouds: { meanCover: 0, change: '1h', changes: [{ at: '2h', meanCover: 1 }] }, forecast: { dailyError: 0, hourlyError: 0, timing: 0 } },
      ...extra,
    },
    'front-day',
  );
}

async function flown(site: SimulatedSite, ms: number) {
  await site.start();
  try {
    await site.runFast(ms);
    return site.budget!;
  } finally {
    await site.stop();
  }
}

test('the weather service\'s forecast of an afternoon front, fetched through the satellite, moves the sunset plan hours forward', async () => {
  const own = await flown(new SimulatedSite({ scenario: frontDay(), seed: 5 }), 30 * 60_000);
  const withService = new SimulatedSite({ scenario: frontDay(), seed: 5, weatherService: true });
  const outside = await flown(withService, 30 * 60_000);
  assert.ok(withService.weather!.requests >= 1, 'the site asked the weather service');
  assert.equal(own.forecastSource.kind, 'measured');
  assert.equal(outside.forecastSource.kind, 'outside', JSON.stringify(outside.forecastSource));
  assert.equal(outside.forecastSource.outside!.route, 'uplink');
  assert.equal(outside.forecastSource.refused, null);
  const front = Date.parse('2026-06-21T12:30:00Z');
  assert.ok(own.sunset.landByMs! > front + 3 * HOUR, `measured sky: land by ${new Date(own.sunset.landByMs!).toISOString()}`);
  assert.ok(outside.sunset.landByMs! < own.sunset.landByMs! - 2 * HOUR, `outside: land by ${new Date(outside.sunset.landByMs!).toISOString()}, measured sky ${new Date(own.sunset.landByMs!).toISOString()}`);
});

test('with the satellite out, no forecast reaches the budget: it stays on the measured sky', async () => {
  const site = new SimulatedSite({ scenario: frontDay({ faults: [{ type: 'satellite-outage', at: 0, for: '4h' }] }), seed: 5, weatherService: true });
  const b = await flown(site, 20 * 60_000);
  assert.ok(b.decisions.uplinkGranted, 'the budget granted the uplink: only the missing window kept the fetch out');
  assert.equal(site.weather!.requests, 0);
  assert.equal(b.forecastSource.kind, 'measured');
});

test('through the relay the fetch wakes the dish; a forecast an admin publishes on the mesh is checked the same way', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-forecast-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const site = await SimulatedSite.withUplink({
    scenario: frontDay(),
    seed: 5,
    weatherService: true,
    mesh: { users: await testUsers(), tcp: { host: '127.0.0.1', port: 0 }, ws: false, stateRateHz: 0.1 },
    outboxPath: join(dir, 'outbox.sqlite'),
  });
  await site.start();
  t.after(() => site.stop());
  // Nothing is queued for the uplink: only the forecast's fetch powers the dish.
  await site.runFast(10 * 60_000);
  assert.ok(site.weather!.requests >= 1, 'fetched through the relay\'s satellite link');
  assert.ok(site.satellite!.stats.down > 0, 'the answer came down the satellite link');
  assert.equal(site.budget!.forecastSource.kind, 'outside');

  // Hamburg's forecast published by an admin: refused as for another place, visible in the power state.
  const admin = await connect(`mqtt://127.0.0.1:${site.app.mesh!.addresses().tcp}`, credentials('admin'));
  t.after(() => end(admin));
  const hamburg = readFileSync(new URL('../controller/power/fixtures/open-meteo-hamburg.json', import.meta.url), 'utf8');
  await admin.publishAsync('canopy/weather/forecast', hamburg, { qos: 1 });
  await site.runFast(10_000);
  const refused = site.budget!.forecastSource.refused;
  assert.equal(refused?.route, 'mesh');
  assert.match(refused!.reason, /^for another place: 53\.560°, 10\.000° is \d+ km from the site/);
  assert.equal(site.budget!.forecastSource.kind, 'outside', 'the fetched forecast stays in use');
  // The retained power state, published since, carries the refusal for the dashboard.
  await admin.subscribeAsync('canopy/power');
  const { payload } = await nextMessage(admin, (topic) => topic === 'canopy/power');
  const state = JSON.parse(payload.toString()) as PowerState;
  assert.equal(state.forecastSource?.kind, 'outside');
  assert.equal(state.forecastSource?.refused?.reason, refused!.reason, 'the dashboard sees why');
});
