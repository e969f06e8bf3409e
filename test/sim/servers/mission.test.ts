/**
 * The simulated autopilot's mission server (mission.html) against real MAVLink frames: upload with
 * its requests, resends and cancellation, download, clear, set current and progress.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common } from 'mavlink-mappings';
import { MissionServer } from '../../../sim/servers/mission.ts';
import { flush } from '../../helpers/nodes.ts';
import { GCS, serverRig, VEHICLE } from '../../helpers/server-rig.ts';

const R = common.MavMissionResult;

async function missionRig() {
  const r = await serverRig();
  const server = new MissionServer(r.endpoint, r.clock);
  r.serve((m, frame) => server.handle(m, frame));
  return { ...r, server };
}

/** Fills in the vehicle as the target of a mission message. */
function toVehicle<T extends { targetSystem: number; targetComponent: number }>(m: T, targetSystem = VEHICLE.sysid): T {
  m.targetSystem = targetSystem;
  m.targetComponent = VEHICLE.compid;
  return m;
}

function count(n: number, missionType = common.MavMissionType.MISSION): common.MissionCount {
  const m = toVehicle(new common.MissionCount());
  m.count = n;
  m.missionType = missionType;
  return m;
}

function item(seq: number): common.MissionItemInt {
  const m = toVehicle(new common.MissionItemInt());
  m.seq = seq;
  m.command = common.MavCmd.NAV_WAYPOINT;
  m.frame = common.MavFrame.GLOBAL_RELATIVE_ALT_INT;
  m.x = 473_977_000 + seq;
  m.y = 85_455_000;
  m.z = 20;
  return m;
}

function request(seq: number): common.MissionRequestInt {
  const m = toVehicle(new common.MissionRequestInt());
  m.seq = seq;
  return m;
}

async function upload(r: Awaited<ReturnType<typeof missionRig>>, n: number): Promise<void> {
  await r.send(count(n));
  for (let seq = 0; seq < n; seq++) await r.send(item(seq));
}

test('upload: MISSION_COUNT, then MISSION_REQUEST_INT for each item in turn, MISSION_ACK ACCEPTED after the last', async () => {
  const r = await missionRig();
  await upload(r, 3);
  assert.deepEqual(r.heard(common.MissionRequestInt).map((m) => [m.seq, m.targetSystem, m.targetComponent, m.missionType]), [0, 1, 2].map((seq) => [seq, GCS.sysid, GCS.compid, common.MavMissionType.MISSION]));
  assert.deepEqual(r.heard(common.MissionAck).map((m) => m.type), [R.ACCEPTED]);
  assert.deepEqual(r.server.items.map((m) => m.seq), [0, 1, 2]);
});

test('upload: an item out of turn is not taken, the expected one is asked for again', async () => {
  const r = await missionRig();
  await r.send(count(3));
  await r.send(item(0));
  await r.send(item(2));
  await r.send(item(0));
  assert.deepEqual(r.heard(common.MissionRequestInt).map((m) => m.seq), [0, 1, 1, 1]);
  assert.equal(r.heard(common.MissionAck).length, 0);
});

test('upload: an unanswered request is sent again every 1.5 s; after 5 resends the upload is cancelled', async () => {
  const r = await missionRig();
  await r.send(count(2));
  await r.send(item(0));
  for (let t = 0; t < 12_000; t += 100) {
    r.clock.advance(100);
    r.server.tick(r.clock.now());
    await flush();
  }
  assert.deepEqual(r.heard(common.MissionRequestInt).map((m) => m.seq), [0, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(r.heard(common.MissionAck).map((m) => [m.type, m.targetSystem, m.targetComponent]), [[R.OPERATION_CANCELLED, GCS.sysid, GCS.compid]]);
  assert.equal(r.server.items.length, 0, 'the stored mission is unchanged');
});

test('MISSION_COUNT: 0 clears the mission; a fence or rally plan is UNSUPPORTED; a broadcast one is ignored', async () => {
  const r = await missionRig();
  await upload(r, 2);
  r.clear();
  await r.send(count(0));
  assert.equal(r.server.items.length, 0);
  await r.send(count(3, common.MavMissionType.FENCE));
  await r.send(toVehicle(count(3), 0));
  assert.deepEqual(r.heard(common.MissionAck).map((m) => m.type), [R.ACCEPTED, R.UNSUPPORTED]);
  assert.equal(r.heard(common.MissionRequestInt).length, 0);
});

test('download: MISSION_COUNT, then each item asked for (MISSION_REQUEST_INT or the legacy MISSION_REQUEST) as MISSION_ITEM_INT; past the end INVALID_SEQUENCE', async () => {
  const r = await missionRig();
  await upload(r, 3);
  r.server.current = 1;
  r.clear();
  await r.send(toVehicle(new common.MissionRequestList()));
  assert.deepEqual(r.heard(common.MissionCount).map((m) => [m.count, m.targetSystem, m.targetComponent]), [[3, GCS.sysid, GCS.compid]]);
  await r.send(request(0));
  const legacy = toVehicle(new common.MissionRequest());
  legacy.seq = 1;
  await r.send(legacy);
  await r.send(request(3));
  assert.deepEqual(r.heard(common.MissionItemInt).map((m) => [m.seq, m.x, m.current, m.targetSystem]), [[0, 473_977_000, 0, GCS.sysid], [1, 473_977_001, 1, GCS.sysid]]);
  assert.deepEqual(r.heard(common.MissionAck).map((m) => m.type), [R.INVALID_SEQUENCE]);
});

test('MISSION_CLEAR_ALL keeps home (item 0); MISSION_SET_CURRENT answers MISSION_CURRENT, an item past the end is ignored; reaching an item reports it', async () => {
  const r = await missionRig();
  await upload(r, 4);
  r.clear();
  const setCurrent = (seq: number) => Object.assign(toVehicle(new common.MissionSetCurrent()), { seq });
  await r.send(setCurrent(2));
  await r.send(setCurrent(9));
  assert.equal(r.server.current, 2);
  r.server.reached();
  await flush();
  assert.deepEqual(r.heard(common.MissionItemReached).map((m) => m.seq), [2]);
  assert.deepEqual(r.heard(common.MissionCurrent).map((m) => [m.seq, m.total]), [[2, 3], [3, 3]]);
  await r.send(toVehicle(new common.MissionClearAll()));
  assert.deepEqual(r.server.items.map((m) => m.seq), [0]);
  assert.equal(r.server.current, 0);
  assert.deepEqual(r.heard(common.MissionAck).map((m) => m.type), [R.ACCEPTED]);
});
