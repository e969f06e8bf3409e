/**
 * canopy.yaml: defaults, errors that name the field, and `canopy start --config` on real links
 * with the mesh and the relay as configured: an item published on the mesh reaches the upstream
 * broker named in the file, with credentials.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isCanopyError } from '../../common/errors.ts';
import { parseDuration } from '../../common/duration.ts';
import { defaultConfig, meshOptions, parseConfig, relayOptions } from '../../controller/config.ts';
import { Upstream } from '../../sim/cloud.ts';
import { spawnCanopy } from '../helpers/cli.ts';
import { eventually } from '../helpers/events.ts';
import { connect } from '../../harness/rigs/mqtt.ts';
import { freePort } from '../../harness/rigs/ports.ts';

test('an empty file gives the defaults: simulated site, mesh on 1883 and 9001, anonymous off, no relay', () => {
  const c = defaultConfig();
  assert.deepEqual(c.links.drones, []);
  assert.deepEqual(c.links.gcs, ['udpout://127.0.0.1:14550']);
  assert.equal(c.simulation.scenario, 'clear-summer-day');
  const m = meshOptions(c);
  assert.deepEqual(m.tcp, { port: 1883, host: undefined });
  assert.equal((m.ws as { port: number }).port, 9001);
  assert.equal(m.anonymousRole, undefined);
  assert.equal(relayOptions(c), undefined);
});

test('relay, TLS paths and durations are read as a user writes them', () => {
  const c = parseConfig(
    [
      'dataDir: /var/lib/canopy',
      'mesh: { tls: { port: 8883, certFile: certs/site.pem, keyFile: certs/site.key }, redis: { host: 127.0.0.1, port: 6380 } }',
      'relay:',
      '  origin: farm-7',
      '  upstream: { url: "mqtts://cloud.example:8883", username: farm7, password: s3cret, keepalive: 30s, tls: { caFile: certs/ca.pem } }',
      '  contactPlan: [{ start: "2026-06-21T10:00:00Z", end: "2026-06-21T10:20:00Z", budgetBytes: 1000000 }]',
      '  dish: { watts: 75, boot: 90s, idleOff: 1m }',
      '  classes: { bulk: { ttl: 30d, share: 0.5 }, control: { ttl: null } }',
    ].join('\n'),
    'canopy.yaml',
    '/etc/canopy',
  );
  const m = meshOptions(c);
  assert.equal(m.tls?.certFile, '/etc/canopy/certs/site.pem');
  assert.deepEqual(m.redis, { host: '127.0.0.1', port: 6380 });
  const r = relayOptions(c)!;
  assert.equal(r.path, '/var/lib/canopy/outbox.sqlite');
  assert.equal(r.upstream.keepaliveSec, 30);
  assert.equal(r.upstream.tls?.caFile, '/etc/canopy/certs/ca.pem');
  assert.deepEqual(r.plan, [{ start: Date.parse('2026-06-21T10:00:00Z'), end: Date.parse('2026-06-21T10:20:00Z'), budgetBytes: 1000000 }]);
  assert.deepEqual(r.dish, { watts: 75, bootMs: 90_000, idleOffMs: 60_000 });
  assert.deepEqual(r.classes?.bulk, { ttlMs: 30 * 86400_000, share: 0.5 });
  assert.equal(r.classes?.control?.ttlMs, null);
});

test('a wrong field is named with its path, every problem at once', () => {
  let err: unknown;
  try {
    parseConfig('mesh: { mqtt: { port: 70000 }, anonymousRole: admin }\nrelay: { origin: "my site", upstream: { url: "http://x" } }\nsysid: 0\ncolour: blue\n', 'canopy.yaml');
  } catch (e) {
    err = e;
  }
  assert.ok(isCanopyError(err, 'CANOPY_ERR_CONFIG'));
  const msg = (err as Error).message;
  for (const p of ['mesh.mqtt.port', 'mesh.anonymousRole', 'relay.origin', 'relay.upstream.url', 'sysid', 'colour']) assert.ok(msg.includes(p), `names ${p}: ${msg}`);
  assert.throws(() => parseConfig('relay: { origin: a, upstream: { url: "mqtt://x" }, contactPlan: [{ start: "2026-06-21T10:00:00Z", end: "2026-06-21T09:00:00Z" }] }', 'c.yaml'), /relay\.contactPlan\.0: end must be after start/);
  assert.throws(() => parseConfig('mesh: [', 'c.yaml'), /not valid YAML/);
});

test('batteryMonitor: a VE.Direct URL as for the charge controller; a wrong one is named with its path', () => {
  for (const url of ['serial:///dev/ttyUSB2', 'serial:/dev/ttyUSB2?baud=19200', 'tcp://10.0.0.5:3001']) {
    assert.deepEqual(parseConfig(`batteryMonitor: { url: "${url}" }`, 'canopy.yaml').batteryMonitor, { url });
  }
  assert.equal(defaultConfig().batteryMonitor, undefined);
  const problems = (text: string) => {
    try {
      parseConfig(text, 'canopy.yaml');
    } catch (e) {
      assert.ok(isCanopyError(e, 'CANOPY_ERR_CONFIG'));
      return (e as Error).message;
    }
    assert.fail(`accepted: ${text}`);
  };
  assert.match(problems('batteryMonitor: { url: "udpin://0.0.0.0:14551" }'), /batteryMonitor\.url: .*serial port/);
  assert.match(problems('batteryMonitor: { url: "serial:/dev/ttyUSB2?baud=12345" }'), /batteryMonitor\.url: .*baud/);
  assert.match(problems('batteryMonitor: { url: "" }'), /batteryMonitor\.url/);
  assert.match(problems('batteryMonitor: {}'), /batteryMonitor\.url/);
  assert.match(problems('batteryMonitor: { url: "serial:/dev/ttyUSB2", capacityAh: 400 }'), /batteryMonitor\.capacityAh: unknown field; known here: url/);
  assert.match(problems('batteryMonitor: "serial:/dev/ttyUSB2"'), /batteryMonitor: /);
});

test('durations read the way people write them', () => {
  assert.equal(parseDuration('90s'), 90_000);
  assert.equal(parseDuration('2h30m'), 9_000_000);
  assert.equal(parseDuration('1d6h'), 30 * 3600_000);
  assert.equal(parseDuration(45), 45_000);
  assert.throws(() => parseDuration('3x'), (e) => isCanopyError(e, 'CANOPY_ERR_BAD_ARGUMENT') && /not a duration/.test(e.message));
  assert.throws(() => parseDuration(''), /not a duration/);
});

test('canopy start --config on a real link: the mesh and the relay as configured carry an item upstream', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const upstream = await Upstream.start('canopy/farm');
  t.after(() => upstream.stop());
  // A drone link that accepts and stays silent (the relay does not need drones).
  const sockets: Socket[] = [];
  const drone = createServer((s) => sockets.push(s));
  await new Promise<void>((r) => drone.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    drone.close();
  });
  const file = join(dir, 'canopy.yaml');
  writeFileSync(
    file,
    [
      'dataDir: data',
      'links:',
      `  drones: ["tcp://127.0.0.1:${(drone.address() as { port: number }).port}"]`,
      '  gcs: ["udpout://127.0.0.1:9"]',
      `mesh: { mqtt: { port: ${await freePort()}, host: 127.0.0.1 }, websocket: false }`,
      'relay:',
      '  origin: farm',
      `  upstream: { url: "${upstream.url}", topicPrefix: canopy/farm }`,
    ].join('\n'),
  );
  const child = spawnCanopy(t, 'start', '--dashboard-port', String(await freePort()), '--config', file, '--status-every', '0');
  await eventually(() => /MQTT on mqtt:\/\/localhost:\d+/.test(child.output()) && /password "/.test(child.output()), 30_000, 'started');
  const out = child.output();
  assert.match(out, /WebSocket on off/);
  assert.match(out, new RegExp(`relay to ${upstream.url.replace(/[.]/g, '\\.')}`));
  const port = Number(/MQTT on mqtt:\/\/localhost:(\d+)/.exec(out)![1]);
  const password = /password "([^"]+)"/.exec(out)![1]!;
  const client = await connect(`mqtt://127.0.0.1:${port}`, { username: 'admin', password });
  t.after(() => void client.end(true));
  await client.publishAsync('canopy/relay/hot/backups/phone-1', 'chunk 1', { qos: 1 });
  await upstream.waitForDistinct(1);
  assert.equal(upstream.received[0]!.topic, 'canopy/farm/backups/phone-1');
  assert.equal(upstream.received[0]!.body.toString(), 'chunk 1');
});

test('site.forecast: the sample\'s block as shipped, its settings reaching the budget and the feed; bad values named with their path', async () => {
  const { readFileSync } = await import('node:fs');
  const { forecastOptions, siteOptions } = await import('../../controller/config.ts');
  // The Raspberry Pi sample's commented site block, uncommented, is a valid configuration.
  const sample = readFileSync(new URL('../../hardware/raspberry-pi/canopy.yaml', import.meta.url), 'utf8');
  const lines = sample.split('\n');
  const from = lines.findIndex((l) => l.startsWith('#site:'));
  assert.ok(from >= 0, 'the sample has a site block');
  const block = [lines[from]!, ...lines.slice(from + 1).filter((_, i, rest) => rest.slice(0, i + 1).every((l) => l.startsWith('#  ')))].map((l) => l.slice(1));
  assert.ok(block.some((l) => l.trim().startsWith('forecast:')), 'the sample shows site.forecast');
  const c = parseConfig(block.join('\n'), 'canopy.yaml');
  assert.deepEqual(forecastOptions(c), { url: 'https://api.open-meteo.com/v1/forecast?latitude=53.55&longitude=9.99&hourly=cloud_cover,shortwave_radiation&timezone=GMT&forecast_days=3', everyMs: 3 * 3600_000, fromMesh: true });
  assert.deepEqual(siteOptions(c)!.power.outsideForecast, { maxAgeMs: 24 * 3600_000, placeToleranceKm: 30 });
  assert.equal(forecastOptions(parseConfig('site: { location: { latitudeDeg: 1, longitudeDeg: 2 } }', 'c.yaml')), undefined, 'no forecast section, no feed');
  assert.equal((siteOptions(c)!.power.climateSkyIndex as readonly number[]).length, 12, "the sample's recorded climate reaches the budget, a sky index per month");
  assert.equal(siteOptions(parseConfig('site: { location: { latitudeDeg: 1, longitudeDeg: 2 }, climate: { skyIndex: 0.7 } }', 'c.yaml'))!.power.climateSkyIndex, 0.7);
  assert.equal(siteOptions(parseConfig('site: { location: { latitudeDeg: 1, longitudeDeg: 2 } }', 'c.yaml'))!.power.climateSkyIndex, undefined, 'no record: the measured sky alone');

  const problem = (block: string, field = 'forecast') => {
    try {
      parseConfig(`site: { location: { latitudeDeg: 53.55, longitudeDeg: 9.99 }, ${field}: ${block} }`, 'canopy.yaml');
    } catch (e) {
      assert.ok(isCanopyError(e, 'CANOPY_ERR_CONFIG'));
      return (e as Error).message;
    }
    assert.fail(`accepted ${field}: ${block}`);
  };
  const om = (q: string) => `"https://api.open-meteo.com/v1/forecast?${q}"`;
  assert.match(problem('{ url: "open-meteo please" }'), /site\.forecast\.url: .*is not a URL/);
  assert.match(problem('{ url: "ftp://x/v1/forecast?latitude=53.55&longitude=9.99&hourly=cloud_cover" }'), /site\.forecast\.url: .*an http:\/\/ or https:\/\/ URL, not ftp:/);
  assert.match(problem(`{ url: ${om('latitude=53.55&longitude=9.99&hourly=temperature_2m')} }`), /site\.forecast\.url: .*hourly=shortwave_radiation and\/or cloud_cover/);
  assert.match(problem(`{ url: ${om('latitude=53.55&longitude=9.99&hourly=cloud_cover&past_days=1')} }`), /site\.forecast\.url: .*leave out past_days/);
  assert.match(problem(`{ url: ${om('hourly=cloud_cover')} }`), /site\.forecast\.url: .*must name the site: latitude=…&longitude=…/);
  assert.match(problem(`{ url: ${om('latitude=48.14&longitude=11.58&hourly=cloud_cover')} }`), /site\.forecast\.url: .*latitude=48\.14&longitude=11\.58 is 6\d\d km from site\.location \(53\.55, 9\.99\); its forecasts would be refused as for another place/);
  assert.match(problem('{ every: 0 }'), /site\.forecast\.every: .*a duration longer than 0/);
  assert.match(problem('{ maxAge: "a day" }'), /site\.forecast\.maxAge: .*is not a duration/);
  assert.match(problem('{ placeToleranceKm: -5 }'), /site\.forecast\.placeToleranceKm/);
  assert.match(problem('{ fromMesh: "yes" }'), /site\.forecast\.fromMesh/);
  assert.match(problem('{ uri: "x" }'), /site\.forecast\.uri/);
  const climate = (block: string) => problem(block, 'climate');
  assert.match(climate('{ skyIndex: 1.4 }'), /site\.climate\.skyIndex/);
  assert.match(climate('{ skyIndex: [0.5, 0.6] }'), /site\.climate\.skyIndex: .*one sky index, or twelve/);
  assert.match(climate('{ skyIndex: 0 }'), /site\.climate\.skyIndex/);
  assert.match(climate('{ index: 0.5 }'), /site\.climate/);
});
