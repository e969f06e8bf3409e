/**
 * The dashboard's server and what it puts on the mesh, without a browser: the app's assets come
 * from this origin only, /metrics is valid Prometheus text that matches the mesh's retained state,
 * Home Assistant discovery points at state topics that carry the values, and the admin actions
 * (bridge requests) change the simulated site while a viewer's are refused by the broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import { escapeLabelValue, renderFamilies } from '../../../controller/dashboard/metrics.ts';
import { Dashboard } from '../../../controller/dashboard/server.ts';
import { ACTION_VERBS } from '../../../controller/bridge-actions.ts';
import type { SensorDiscovery } from '../../../controller/dashboard/discovery.ts';
import type { BridgeEvent, BridgeResponse, DroneState, EventHistory, FleetState, PowerHistory, PowerState, UplinkStatus } from '../../../common/topics.ts';
import { loadScenario } from '../../../sim/scenario.ts';
import { connect, end, nextMessage, publishOutcome } from '../../../harness/rigs/mqtt.ts';
import { credentials } from '../../../harness/rigs/mesh.ts';
import { startDashboardSite, type DashboardSite } from './site.ts';

/** Every retained message under `filter`, collected until `settleMs` passes without a new one. */
async function retained(client: MqttClient, filter: string, settleMs = 300): Promise<Map<string, string>> {
  const got = new Map<string, string>();
  let last = Date.now();
  const on = (topic: string, payload: Buffer, packet: { retain?: boolean }) => {
    if (!packet.retain) return;
    got.set(topic, payload.toString());
    last = Date.now();
  };
  client.on('message', on);
  await client.subscribeAsync(filter);
  while (Date.now() - last < settleMs || got.size === 0) {
    if (Date.now() - last > 5000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  client.off('message', on);
  await client.unsubscribeAsync(filter);
  return got;
}

/** Parses Prometheus text format 0.0.4: families with HELP and TYPE, then their samples. */
function parseExposition(text: string): Map<string, { type: string; help: string; samples: { labels: Record<string, string>; value: number }[] }> {
  const families = new Map<string, { type: string; help: string; samples: { labels: Record<string, string>; value: number }[] }>();
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed');
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (help) {
      assert.ok(!families.has(help[1]!), `${help[1]} described once`);
      families.set(help[1]!, { help: help[2]!, type: '', samples: [] });
      continue;
    }
    if (type) {
      const f = families.get(type[1]!);
      assert.ok(f && f.samples.length === 0 && f.type === '', `TYPE of ${type[1]} after its HELP, before its samples`);
      f.type = type[2]!;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(sample, `a sample line: ${JSON.stringify(line)}`);
    const f = families.get(sample[1]!);
    assert.ok(f?.type, `${sample[1]} has HELP and TYPE before its samples`);
    const labels: Record<string, string> = {};
    const body = sample[2] ?? '';
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/gy;
    let m: RegExpExecArray | null;
    let at = 0;
    while ((m = re.exec(body))) {
      labels[m[1]!] = m[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
      at = re.lastIndex;
    }
    assert.equal(at, body.length, `labels parse: ${body}`);
    const value = Number(sample[3]!.replace('+Inf', 'Infinity').replace('-Inf', '-Infinity'));
    assert.ok(!Number.isNaN(value) || sample[3] === 'NaN', `a number: ${sample[3]}`);
    f.samples.push({ labels, value });
  }
  return families;
}

/**
 * Evaluates the value templates Canopy publishes (a Jinja subset: `value_json.<path>` terms joined
 * by `+`, optionally `| round(n)`), as Home Assistant would on the state topic's payload.
 */
function renderTemplate(template: string, payload: unknown): number {
  const m = /^\{\{ (.+?)(?: \| round\((\d+)\))? \}\}$/.exec(template);
  assert.ok(m, `a template Canopy writes: ${template}`);
  const sum = m[1]!.split(' + ').reduce((acc, term) => {
    assert.match(term, /^value_json(\.[A-Za-z_]+)+$/);
    const v = term.split('.').slice(1).reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], payload);
    assert.equal(typeof v, 'number', `${term} is a number on the state topic`);
    return acc + (v as number);
  }, 0);
  const digits = m[2] === undefined ? undefined : Number(m[2]);
  return digits === undefined ? sum : Math.round(sum * 10 ** digits) / 10 ** digits;
}

async function step(s: DashboardSite, ms: number): Promise<void> {
  await s.site.runFast(ms);
  // Let the broker deliver what the last steps published.
  await new Promise((r) => setTimeout(r, 300));
}

test('metrics text: label values and HELP are escaped as format 0.0.4 says', () => {
  assert.equal(escapeLabelValue('a"b\\c\nd'), 'a\\"b\\\\c\\nd');
  const text = renderFamilies([{ name: 'x_total', help: 'back\\slash\nnewline', type: 'counter', samples: [{ labels: { k: 'q"v' }, value: 1 }, { value: Infinity }] }]);
  assert.equal(text, '# HELP x_total back\\\\slash\\nnewline\n# TYPE x_total counter\nx_total{k="q\\"v"} 1\nx_total +Inf\n');
  assert.deepEqual(parseExposition(text).get('x_total')!.samples[0]!.labels, { k: 'q"v' });
});

test('dashboard server: local assets, /metrics, Home Assistant discovery and admin actions on the simulated site', { timeout: 120_000 }, async (t) => {
  const s = await startDashboardSite(t, { speed: 'manual' });
  const { site, dashboard, mqttUrl } = s;
  await step(s, 12 * 60_000);

  // ---- the app's assets ---------------------------------------------------------------------------
  const page = await fetch(dashboard.url);
  assert.equal(page.status, 200);
  assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await page.text();
  const refs = [...html.matchAll(/\b(?:src|href)="([^"]*)"/g)].map((m) => m[1]!);
  assert.deepEqual(refs.sort(), ['/app.css', '/app.js', 'data:,'], 'the page loads only its own assets');
  const js = await fetch(new URL('app.js', dashboard.url));
  assert.equal(js.status, 200);
  assert.match(js.headers.get('content-type')!, /javascript/);
  assert.doesNotMatch(await js.text(), /\bimport\s*\(?\s*["']https?:/, 'no module imported from elsewhere');
  assert.match(await (await fetch(new URL('app.css', dashboard.url))).text(), /\.uplot/, "uPlot's stylesheet served from here");
  assert.equal((await fetch(new URL('nothing-here', dashboard.url))).status, 404);
  const clash = new Dashboard({ mesh: site.app.mesh!, clock: site.clock, host: '127.0.0.1', port: Number(new URL(dashboard.url).port), discoveryPrefix: false });
  await assert.rejects(clash.start(), (e: Error & { code?: string }) => e.code === 'CANOPY_ERR_PORT_IN_USE' && /dashboard port \d+ on 127\.0\.0\.1 is in use/.test(e.message));

  // ---- retained state a dashboard reads, as a viewer -------------------------------------------------
  const viewer = await connect(mqttUrl, credentials('viewer'));
  t.after(() => end(viewer));
  const state = await retained(viewer, 'canopy/#');
  const drones = [...state.entries()].filter(([k]) => /^canopy\/drones\/d\d+$/.test(k)).map(([, v]) => JSON.parse(v) as DroneState);
  assert.equal(drones.length, 25);
  for (const d of drones) {
    assert.ok(d.role && typeof d.heartbeatAt === 'number', `${d.id} carries its fleet role and last heartbeat`);
    assert.equal(d.role, site.site.fleet.role(d.sysid));
  }
  const fleet = JSON.parse(state.get('canopy/fleet')!) as FleetState;
  const { location } = loadScenario('clear-summer-day');
  assert.deepEqual(fleet.origin, { lat: location.latitudeDeg, lon: location.longitudeDeg });
  assert.equal(fleet.stations.length, site.site.fleet.status().stations);
  assert.equal(fleet.hold, false);
  const power = JSON.parse(state.get('canopy/power')!) as PowerState;
  assert.ok(power.energyToday && power.energyToday.generatedWh > 0 && power.energyToday.consumedWh > 0, 'energy today accumulates');
  assert.equal(typeof power.ghiWm2, 'number');
  const history = JSON.parse(state.get('canopy/power/history')!) as PowerHistory;
  assert.ok(history.points.length >= 2, 'the day so far, in 5-minute steps');
  for (const p of history.points) {
    assert.equal(p.atMs % history.stepMs, 0);
    assert.ok(Number.isFinite(p.solarW) && Number.isFinite(p.loadW) && Number.isFinite(p.ghiWm2!) && Number.isFinite(p.forecastGhiWm2!));
  }

  // ---- /metrics matches the mesh -------------------------------------------------------------------
  const res = await fetch(new URL('metrics', dashboard.url));
  assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  const metrics = parseExposition(await res.text());
  const soc = metrics.get('canopy_drone_soc_percent')!;
  assert.equal(soc.type, 'gauge');
  assert.equal(soc.samples.length, 25);
  for (const d of drones) assert.equal(soc.samples.find((x) => x.labels.drone === d.id)?.value, d.battery?.remainingPct, `${d.id} SoC`);
  assert.equal(metrics.get('canopy_drone_link_loss_percent')!.samples.length, 25);
  assert.equal(metrics.get('canopy_power_generation_watts')!.samples[0]!.value, power.solarW);
  assert.equal(metrics.get('canopy_power_load_watts')!.samples[0]!.value, power.loadW);
  assert.equal(metrics.get('canopy_energy_generated_today_wh_total')!.type, 'counter');
  const uplink = JSON.parse(state.get('canopy/uplink')!) as UplinkStatus;
  assert.deepEqual(
    metrics.get('canopy_uplink_queued_items')!.samples.map((x) => [x.labels.class, x.value]),
    (['control', 'hot', 'bulk'] as const).map((c) => [c, uplink.queued[c].items]),
  );
  assert.equal(metrics.get('canopy_uplink_delivered_bytes_total')!.samples.length, 3);
  // The contact plan's next 24 hours, for the timeline.
  const upcoming = uplink.upcoming!;
  assert.ok(upcoming.length >= 2);
  assert.ok(upcoming.every((w, i) => w.end > uplink.updatedAt && w.start < uplink.updatedAt + 24 * 3_600_000 && (i === 0 || w.start >= upcoming[i - 1]!.end)));
  const clients = () => fetch(new URL('metrics', dashboard.url)).then(async (r) => parseExposition(await r.text()).get('canopy_mesh_clients')!.samples[0]!.value);
  const before = await clients();
  const another = await connect(mqttUrl, credentials('viewer'));
  assert.equal(await clients(), before + 1, 'a new client shows in the broker client count');
  await end(another);

  // ---- Home Assistant discovery ----------------------------------------------------------------------
  const admin = await connect(mqttUrl, credentials('admin'));
  t.after(() => end(admin));
  const discovery = await retained(admin, 'homeassistant/#');
  const configs = new Map([...discovery].map(([topic, v]) => [topic, JSON.parse(v) as SensorDiscovery]));
  for (const [topic, c] of configs) {
    assert.match(topic, /^homeassistant\/sensor\/canopy\/[a-z_]+\/config$/);
    assert.equal(c.unique_id, `canopy_canopy_${topic.split('/')[3]}`);
    assert.deepEqual(c.device.identifiers, ['canopy_canopy']);
    assert.equal(c.availability_topic, 'canopy/bridge/state');
    assert.equal(state.get(c.availability_topic), c.payload_available, 'the controller is available');
    const payload = JSON.parse(state.get(c.state_topic)!) as unknown;
    assert.ok(Number.isFinite(renderTemplate(c.value_template, payload)), `${topic}: the template finds a number on ${c.state_topic}`);
  }
  const sensor = (id: string) => configs.get(`homeassistant/sensor/canopy/${id}/config`)!;
  assert.deepEqual([sensor('generation').device_class, sensor('generation').unit_of_measurement, sensor('generation').state_class], ['power', 'W', 'measurement']);
  assert.equal(renderTemplate(sensor('generation').value_template, power), Math.round(power.solarW * 10) / 10);
  assert.deepEqual([sensor('consumption').device_class, sensor('consumption').unit_of_measurement], ['power', 'W']);
  for (const id of ['energy_generated', 'energy_consumed']) {
    assert.deepEqual([sensor(id).device_class, sensor(id).state_class, sensor(id).unit_of_measurement], ['energy', 'total_increasing', 'Wh'], id);
  }
  assert.equal(renderTemplate(sensor('energy_generated').value_template, power), Math.round(power.energyToday!.generatedWh * 10) / 10);
  assert.deepEqual([sensor('station_battery').device_class, sensor('station_battery').unit_of_measurement], ['battery', '%']);
  assert.equal(renderTemplate(sensor('uplink_queue').value_template, uplink), uplink.queued.control.items + uplink.queued.hot.items + uplink.queued.bulk.items);

  // ---- admin actions --------------------------------------------------------------------------------
  await admin.subscribeAsync(['canopy/bridge/response/#', 'canopy/bridge/event']);
  const ask = async (verb: string, body: Record<string, unknown>) => {
    const transaction = `t-${verb}`;
    const answer = nextMessage(admin, (topic, payload) => topic === `canopy/bridge/response/${verb}` && (JSON.parse(payload.toString()) as BridgeResponse).transaction === transaction, 10_000);
    const event = nextMessage(admin, (topic, payload) => topic === 'canopy/bridge/event' && (JSON.parse(payload.toString()) as BridgeEvent).type === 'action', 10_000);
    await admin.publishAsync(`canopy/bridge/request/${verb}`, JSON.stringify({ ...body, transaction }), { qos: 1 });
    const [r, e] = await Promise.all([answer, event]);
    const ev = JSON.parse(e.payload.toString()) as BridgeEvent;
    assert.equal(ev.type === 'action' && ev.data.verb, verb, 'the action is announced for the event log');
    return JSON.parse(r.payload.toString()) as BridgeResponse<{ message: string }>;
  };
  assert.deepEqual([...ACTION_VERBS].sort(), ['cache/cancel', 'cache/prefetch', 'drone/carried-back', 'drone/clear-fault', 'drone/land', 'fleet/launch', 'fleet/recall', 'uplink/pause', 'uplink/resume']);

  // A viewer's request is refused by the broker: the connection is closed, nothing changes.
  assert.equal(await publishOutcome(viewer, 'canopy/bridge/request/fleet/recall', '{}'), 'closed');
  assert.equal(site.site.hold, false);

  const recalled = await ask('fleet/recall', {});
  assert.equal(recalled.status, 'ok');
  assert.equal(site.site.hold, true);
  await step(s, 30_000);
  assert.equal(site.site.fleet.status().stations, 0, 'the net shrinks to nothing');
  assert.equal(JSON.parse((await retained(admin, 'canopy/fleet')).get('canopy/fleet')!).hold, true);
  // The power state says what the fleet flies: no station while held down, and why.
  const heldPower = JSON.parse((await retained(admin, 'canopy/power')).get('canopy/power')!) as PowerState;
  assert.equal(heldPower.stations, 0, 'no station planned while the net is held down');
  assert.match(heldPower.reason ?? '', /^held down until an admin launches \(the power plan has \d+ stations: /);
  // The day's events are retained for a page opened later: the recall among them.
  const day = JSON.parse((await retained(admin, 'canopy/bridge/event/history')).get('canopy/bridge/event/history')!) as EventHistory;
  assert.ok(day.events.some((e) => e.type === 'action' && e.data.verb === 'fleet/recall'), 'the recall in the event history');
  assert.ok(day.dayStartMs !== null && day.events.every((e) => e.data.atMs >= day.dayStartMs!), 'since the local midnight');
  const launched = await ask('fleet/launch', {});
  assert.equal(launched.status, 'ok');
  assert.equal(site.site.hold, false);
  await step(s, 5_000);
  assert.ok(site.site.fleet.status().stations > 0, 'the net follows the power plan again');

  assert.equal((await ask('uplink/pause', {})).status, 'ok');
  assert.equal(site.app.relay!.isPaused, true);
  await step(s, 20_000);
  assert.equal(site.satellite!.powered, false, 'the dish is off while paused');
  assert.equal((JSON.parse((await retained(admin, 'canopy/uplink')).get('canopy/uplink')!) as UplinkStatus).paused, true);
  assert.equal((await ask('uplink/resume', {})).status, 'ok');
  assert.equal(site.app.relay!.isPaused, false);

  const unknown = await ask('drone/land', { id: 'd999' });
  assert.deepEqual(unknown.status === 'error' && unknown.error, 'no drone "d999"');
  const missing = await ask('drone/land', {});
  assert.match(missing.status === 'error' ? missing.error : '', /needs \{ "id"/);
  const flyer = site.gs.vehicles.list().find((v) => v.armed)!;
  assert.ok(flyer, 'a drone in the air');
  const landing = ask('drone/land', { id: `d${flyer.sysid}` });
  // The command goes over the simulated radio: the simulation has to run for the drone to answer.
  const answered = await Promise.race([landing, (async () => {
    for (let i = 0; i < 50; i++) await step(s, 1_000);
  })()]);
  assert.ok(answered, 'the drone answered within 50 simulated seconds');
  assert.equal((answered as BridgeResponse).status, 'ok');
  assert.equal(site.world.drones.find((d) => d.sysid === flyer.sysid)!.mode, 'LAND');
});
