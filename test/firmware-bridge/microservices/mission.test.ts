import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { MavlinkNode } from '../../../firmware-bridge/node.ts';
import { MissionClient, type MissionItem } from '../../../firmware-bridge/microservices/mission/index.ts';
import { seededRandom } from '../../../firmware-bridge/random.ts';
import { ScriptedAutopilot } from '../../helpers/scripted-autopilot.ts';
import { createLossyPair } from '../../helpers/lossy-link.ts';
import { runUntil } from '../../helpers/nodes.ts';

function waypoints(n: number): MissionItem[] {
  return Array.from({ length: n }, (_, i) => ({
    command: i === 0 ? common.MavCmd.NAV_TAKEOFF : common.MavCmd.NAV_WAYPOINT,
    frame: common.MavFrame.GLOBAL_RELATIVE_ALT_INT,
    params: [0, 2, 0, 0],
    latDeg: -35.3632621 + i * 1e-4,
    lonDeg: 149.1652374 - i * 1e-4,
    altM: 20 + i,
  }));
}

async function setup(seed: number, loss: number) {
  const clock = new ManualClock();
  const random = seededRandom(seed);
  const [ground, air] = createLossyPair(random, loss);
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const channel = gcs.addLink(ground);
  const drone = new ScriptedAutopilot(clock, air, 1);
  await ground.start();
  await air.start();
  return { clock, drone, client: new MissionClient(gcs.portTo(channel, 1, 1)), ground, air };
}

test('upload and download a 50-item mission through 5 % loss in both directions, 20 seeds', async () => {
  const mission = waypoints(50);
  let lost = 0;
  for (let seed = 1; seed <= 20; seed++) {
    const { clock, drone, client, ground, air } = await setup(seed, 0.05);
    const up = await runUntil(clock, client.upload(mission), 600_000, 50);
    assert.ok(up.ok, `seed ${seed}: ${!up.ok && up.detail}`);
    assert.deepEqual(drone.mission.map((m) => [m.seq, m.x, m.y, m.z]), mission.map((m, i) => [i, Math.round(m.latDeg * 1e7), Math.round(m.lonDeg * 1e7), m.altM]));
    const down = await runUntil(clock, client.download(), 600_000, 50);
    assert.ok(down.ok, `seed ${seed}: ${!down.ok && down.detail}`);
    assert.deepEqual(down.items.map((m) => [m.command, m.latDeg.toFixed(7), m.altM]), mission.map((m) => [m.command, m.latDeg.toFixed(7), m.altM]));
    lost += ground.lost + air.lost;
  }
  assert.ok(lost > 50, `the link really lost frames (${lost})`);
});

test('a vehicle that refuses the mission gives a rejected result; silence gives a timeout', async () => {
  const { clock, drone, client } = await setup(1, 0);
  drone.node.on('message', ({ message }) => {
    if (message instanceof common.MissionCount) {
      const nack = new common.MissionAck();
      nack.type = common.MavMissionResult.NO_SPACE;
      drone.send(nack);
    }
  });
  const r = await runUntil(clock, client.upload(waypoints(3)));
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.reason, 'rejected');

  const silent = await setup(2, 1);
  const t = await runUntil(silent.clock, silent.client.download(), 600_000, 100);
  assert.equal(t.ok, false);
  assert.equal(!t.ok && t.reason, 'timeout');
});
