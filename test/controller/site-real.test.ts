/**
 * `site:` in canopy.yaml on real links: the power budget and the fleet run against drones that
 * Canopy only reaches over a link (here `canopy sim serve` on TCP), publish on the mesh, and wait
 * for an admin's launch unless `autoLaunch` says otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BridgeEvent, BridgeResponse, FleetState, PowerState } from '../../common/topics.ts';
import { ConfigSchema, siteOptions, type CanopyConfig } from '../../controller/config.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { eventually } from '../helpers/events.ts';
import { connect, nextMessage } from '../../harness/rigs/mqtt.ts';
import { freePort } from '../../harness/rigs/ports.ts';

test('site: defaults fill in what a user leaves out; a lattice tighter than twice the separation is refused by path', () => {
  const c = { ...ConfigSchema.parse({ links: { drones: ['serial:/dev/ttyUSB0'] }, site: { location: { latitudeDeg: 53.55, longitudeDeg: 9.99 } } }), dir: '.' } as CanopyConfig;
  const o = siteOptions(c)!;
  assert.deepEqual(o.origin, { latDeg: 53.55, lonDeg: 9.99 });
  assert.equal(o.power.batteryWh, 222);
  assert.equal(o.power.radiosW, 2);
  assert.deepEqual(o.fleet, { altitudeM: 60, spacingM: 10, minSeparationM: 5, windLimitMs: 12, windLowerMs: undefined, lowAltitudeM: undefined });
  assert.equal(o.held, true, 'a real site waits for an admin unless autoLaunch');
  assert.equal(siteOptions({ ...c, site: { ...c.site!, autoLaunch: true } })!.held, false);
  assert.equal(siteOptions({ ...c, site: undefined }), undefined);
  const bad = ConfigSchema.safeParse({ site: { location: { latitudeDeg: 53.55, longitudeDeg: 9.99 }, formation: { spacingM: 8, minSeparationM: 5 } } });
  assert.equal(bad.success, false);
  assert.deepEqual(bad.error!.issues.map((i) => i.path.join('.')), ['site.formation.spacingM']);
});

test('canopy start with site: on real links runs the budget and the fleet over the link, held until an admin launches', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-site-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const sim = spawnCanopy(t, 'sim', 'serve', '--link', `tcpin://127.0.0.1:${port}`, '--drones', '4');
  const file = join(dir, 'canopy.yaml');
  writeFileSync(
    file,
    [
      'dataDir: data',
      'links:',
      `  drones: ["tcp://127.0.0.1:${port}"]`,
      '  gcs: ["udpout://127.0.0.1:9"]',
      `mesh: { mqtt: { port: ${await freePort()}, host: 127.0.0.1 }, websocket: false }`,
      // The admin actions are the mesh's API: they answer without the dashboard.
      'dashboard: false',
      // The simulated drones' site (the shipped scenario's Zürich).
      'site:',
      '  location: { latitudeDeg: 47.3769, longitudeDeg: 8.5417, elevationM: 408 }',
      '  formation: { spares: 1 }',
    ].join('\n'),
  );
  const child = spawnCanopy(t, 'start', '--config', file, '--status-every', '0');
  await eventually(() => /MQTT on mqtt:\/\/localhost:\d+/.test(child.output()) && /password "/.test(child.output()), 30_000, `started: ${child.output()}`);
  const out = child.output();
  assert.match(out, /flying the site at 47\.3769, 8\.5417; the net waits for an admin to launch it/);
  const mqttPort = Number(/MQTT on mqtt:\/\/localhost:(\d+)/.exec(out)![1]);
  const password = /password "([^"]+)"/.exec(out)![1]!;
  const admin = await connect(`mqtt://127.0.0.1:${mqttPort}`, { username: 'admin', password });
  t.after(() => void admin.end(true));
  const events: BridgeEvent[] = [];
  let power: PowerState | undefined;
  let fleet: FleetState | undefined;
  admin.on('message', (topic, payload) => {
    if (topic === 'canopy/fleet') fleet = JSON.parse(payload.toString()) as FleetState;
    if (topic === 'canopy/bridge/event') events.push(JSON.parse(payload.toString()) as BridgeEvent);
    if (topic === 'canopy/power') power = JSON.parse(payload.toString()) as PowerState;
  });
  await admin.subscribeAsync(['canopy/bridge/event', 'canopy/power', 'canopy/fleet', 'canopy/bridge/response/#'], { qos: 1 });
  // The budget runs and says why; the fleet takes on the four drones it hears over the link.
  await eventually(() => power !== undefined && typeof power.reason === 'string', 20_000, 'power budget published');
  const fleetEvents = () => events.filter((e) => e.type === 'fleet-transition').map((e) => e.data as { sysid: number; from: string; to: string });
  const known = () => (fleet ? Object.entries(fleet.roles).reduce((a, [role, n]) => a + (role === 'lost' ? 0 : n), 0) : 0);
  await eventually(() => known() === 4, 30_000, `four drones in the fleet: ${JSON.stringify(fleet)}`);
  assert.equal(fleet!.hold, true, 'held until an admin launches');
  assert.equal(fleet!.roles['launching'] ?? 0, 0);
  assert.ok(events.every((e) => e.type !== 'fleet-transition' || e.data.to !== 'launching'), 'nothing launched while held');
  // An admin's launch hands the net to the power plan.
  const answer = nextMessage(admin, (topic) => topic === 'canopy/bridge/response/fleet/launch', 10_000);
  await admin.publishAsync('canopy/bridge/request/fleet/launch', JSON.stringify({ transaction: 'x1' }), { qos: 1 });
  const r = JSON.parse((await answer).payload.toString()) as BridgeResponse<{ message?: string }>;
  assert.equal(r.status, 'ok', JSON.stringify(r));
  await eventually(() => fleet?.hold === false, 10_000, 'the hold is released');
  assert.equal(sim.exitCode, null, 'the simulator kept running');
  assert.equal(child.exitCode, null, 'Canopy kept running');
});
