/**
 * An operator's Land and what follows it, end to end on the simulated site through the bridge
 * requests an admin's dashboard sends: the drone lands where it is as an operator's action (no
 * failsafe, no fault), waits away from its pad, and once marked carried back (the simulated site
 * puts it on its pad) it charges there and is eligible to fly again. A viewer's request is refused
 * by the broker; unknown drones and drones in the wrong role get a clear error reply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { MqttClient } from 'mqtt';
import type { BridgeEvent, BridgeResponse } from '../../common/topics.ts';
import { SimulatedSite } from '../../harness/simulated-site.ts';
import { parseScenario } from '../../sim/scenario.ts';
import { connect, end, nextMessage, publishOutcome } from '../../harness/rigs/mqtt.ts';
import { password, testUsers } from '../../harness/rigs/mesh.ts';

type Answer = BridgeResponse<{ message: string }>;

/**
 * Publishes an admin's request and waits for its answer; with `running`, the simulation runs
 * meanwhile (a command to a drone goes over the simulated radio), else simulated time stands still.
 */
async function ask(site: SimulatedSite, admin: MqttClient, verb: string, body: Record<string, unknown>, running = false): Promise<Answer> {
  const transaction = `t-${verb}-${Math.random().toString(36).slice(2)}`;
  let answered = false;
  const answer = nextMessage(admin, (topic, payload) => topic === `canopy/bridge/response/${verb}` && (JSON.parse(payload.toString()) as Answer).transaction === transaction, 30_000).then((m) => {
    answered = true;
    return JSON.parse(m.payload.toString()) as Answer;
  });
  await admin.publishAsync(`canopy/bridge/request/${verb}`, JSON.stringify({ ...body, transaction }), { qos: 1 });
  for (let i = 0; running && i < 60 && !answered; i++) {
    await site.runFast(1000);
    await new Promise((r) => setTimeout(r, 20));
  }
  return answer;
}

/** Runs the simulation a step at a time until `done` holds (or `maxMs` of simulated time passed); whether it held. */
async function runUntil(site: SimulatedSite, done: () => boolean, maxMs: number): Promise<boolean> {
  for (let t = 0; t < maxMs && !done(); t += 5000) await site.runFast(5000);
  return done();
}

const errorOf = (a: Answer) => (a.status === 'error' ? a.error : `ok: ${a.status === 'ok' ? a.data.message : ''}`);

test("an operator's Land is not a failsafe; the drone down off its pad is marked carried back by an admin and is back in the ground pool", async (t) => {
  const scenario = parseScenario(['start: 2026-06-21T09:00:00Z', 'duration: 2h', 'swarm: { drones: 4 }'].join('\n'), 'operator.yaml');
  const site = new SimulatedSite({ scenario, seed: 5, mesh: { users: await testUsers(), tcp: { host: '127.0.0.1', port: 0 }, ws: false } });
  await site.start();
  const url = `mqtt://127.0.0.1:${site.app.mesh!.addresses().tcp}`;
  const admin = await connect(url, { username: 'admin', password: password('admin') });
  const viewer = await connect(url, { username: 'viewer', password: password('viewer') });
  t.after(async () => {
    await end(admin);
    await end(viewer);
    await site.stop();
  });
  await admin.subscribeAsync(['canopy/bridge/response/#', 'canopy/bridge/event']);
  const events: BridgeEvent[] = [];
  admin.on('message', (topic, payload) => {
    if (topic === 'canopy/bridge/event') events.push(JSON.parse(payload.toString()) as BridgeEvent);
  });
  const fleet = site.site.fleet;
  const onStation = () => site.world.drones.map((d) => d.sysid).find((n) => fleet.role(n) === 'on-station');
  assert.ok(await runUntil(site, () => onStation() !== undefined, 20 * 60_000), 'a drone reaches its station');
  const n = onStation()!;
  const id = `d${n}`;

  // Errors: a drone the fleet does not know, no id, a drone in the wrong role.
  assert.equal(errorOf(await ask(site, admin, 'drone/carried-back', { id: 'd999' })), 'no drone "d999"');
  assert.equal(errorOf(await ask(site, admin, 'drone/clear-fault', { id: 'd999' })), 'no drone "d999"');
  assert.match(errorOf(await ask(site, admin, 'drone/carried-back', {})), /^drone\/carried-back needs \{ "id": "<drone id>" \}/);
  assert.equal(errorOf(await ask(site, admin, 'drone/carried-back', { id })), `drone d${n} is not away from its pad (it is on-station)`);
  assert.equal(errorOf(await ask(site, admin, 'drone/clear-fault', { id })), `drone d${n} is not faulted (it is on-station)`);

  // The operator's Land.
  const since = site.clock.now();
  const landed = await ask(site, admin, 'drone/land', { id }, true);
  assert.equal(landed.status, 'ok', errorOf(landed));
  const mine = () => fleet.transitions.filter((x) => x.sysid === n && x.atMs >= since);
  assert.deepEqual(mine().map((x) => [x.from, x.to, x.cause]), [['on-station', 'landing', 'operator']]);
  assert.ok(await runUntil(site, () => fleet.role(n) !== 'landing', 5 * 60_000), 'it comes down');
  const copter = site.world.drone(n)!;
  const offPadM = () => Math.hypot(copter.copter.pos.n - copter.pad.n, copter.copter.pos.e - copter.pad.e);
  assert.ok(copter.copter.onGround && !copter.armed && offPadM() > 10, `down where it was, off its pad (${offPadM().toFixed(0)} m)`);
  assert.equal(fleet.role(n), 'away');
  assert.deepEqual(mine().map((x) => [x.from, x.to, x.cause]), [['on-station', 'landing', 'operator'], ['landing', 'away', 'operator']]);
  assert.match(mine()[1]!.reason, /away from its pad .*carry it back, then mark it carried back/);
  // The dashboard reads the cause from the mesh: nothing of this drone's is a failsafe.
  await new Promise((r) => setTimeout(r, 300));
  const seen = events.filter((e): e is Extract<BridgeEvent, { type: 'fleet-transition' }> => e.type === 'fleet-transition' && e.data.sysid === n && e.data.atMs >= since);
  assert.deepEqual(seen.map((e) => e.data.cause), ['operator', 'operator'], 'the transitions on the mesh are the operator\'s');
  // It stays away (however long) until someone says it was carried back.
  await site.runFast(60_000);
  assert.equal(fleet.role(n), 'away');

  // A viewer may not say so: the broker closes its connection and nothing changes.
  assert.equal(await publishOutcome(viewer, 'canopy/bridge/request/drone/carried-back', JSON.stringify({ id })), 'closed');
  await site.runFast(1000);
  assert.equal(fleet.role(n), 'away');

  const back = await ask(site, admin, 'drone/carried-back', { id });
  assert.equal(back.status, 'ok', errorOf(back));
  assert.equal(fleet.role(n), 'charging');
  assert.ok(offPadM() < 0.5, 'the simulated site put it on its pad');
  // Back in the ground pool: ready once charged (on its pad's charger), and flown again when the plan wants it.
  assert.ok(await runUntil(site, () => fleet.role(n) !== 'charging', 60 * 60_000), `ready again: ${fleet.role(n)} (${fleet.waitingFor(n)})`);
  const after = mine().slice(2);
  assert.deepEqual(after.slice(0, 2).map((x) => [x.from, x.to]), [['away', 'charging'], ['charging', 'ready']], after.map((x) => `${x.from} → ${x.to}: ${x.reason}`).join('\n'));
  assert.match(after[1]!.reason, /^charged to \d+ %, autopilot ready$/);
  assert.equal(fleet.transitions.filter((x) => x.sysid === n && x.atMs >= since && (x.to === 'fault' || x.cause === 'failsafe')).length, 0, 'never a fault or a failsafe');
});

test("a land an admin publishes on drones/<id>/set is the operator's too, for a drone the fleet flies", async (t) => {
  const scenario = parseScenario(['start: 2026-06-21T09:00:00Z', 'duration: 2h', 'swarm: { drones: 4 }'].join('\n'), 'operator-set.yaml');
  const site = new SimulatedSite({ scenario, seed: 5, mesh: { users: await testUsers(), tcp: { host: '127.0.0.1', port: 0 }, ws: false } });
  await site.start();
  const admin = await connect(`mqtt://127.0.0.1:${site.app.mesh!.addresses().tcp}`, { username: 'admin', password: password('admin') });
  t.after(async () => {
    await end(admin);
    await site.stop();
  });
  const fleet = site.site.fleet;
  const onStation = () => site.world.drones.map((d) => d.sysid).find((n) => fleet.role(n) === 'on-station');
  assert.ok(await runUntil(site, () => onStation() !== undefined, 20 * 60_000), 'a drone reaches its station');
  const n = onStation()!;
  const since = site.clock.now();
  await admin.publishAsync(`canopy/drones/d${n}/set`, JSON.stringify({ command: 'land' }), { qos: 1 });
  assert.ok(await runUntil(site, () => fleet.role(n) === 'away', 10 * 60_000), `down and away: ${fleet.role(n)}`);
  const mine = fleet.transitions.filter((x) => x.sysid === n && x.atMs >= since);
  assert.deepEqual(mine.map((x) => [x.from, x.to, x.cause]), [['on-station', 'landing', 'operator'], ['landing', 'away', 'operator']]);
});
