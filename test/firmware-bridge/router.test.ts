import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal, type MavLinkData } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { READ_ONLY_ALLOWED, Router, type RouterOptions } from '../../firmware-bridge/router.ts';
import { knownMessageIds, messageInfo, messageInfoByName } from '../../firmware-bridge/protocol/dialect.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { encodeFrame, frameFromRaw, frameTarget } from '../../firmware-bridge/protocol/frame.ts';
import type { ChannelOptions } from '../../firmware-bridge/channel.ts';
import { flush } from '../helpers/nodes.ts';

interface End {
  node: MavlinkNode;
  /** Every frame this end received, as bytes. */
  raw: Buffer[];
}

const msgidOf = (raw: Buffer) => raw[7]! | (raw[8]! << 8);
const sysidOf = (raw: Buffer) => raw[5]!;

/** Canopy in the middle: drone 1 and drone 2 on their own links, a GCS (QGC, sysid 254 by default) on a third. */
async function star(gcsOptions: ChannelOptions = {}, routerOptions: RouterOptions = {}, gcsId = { sysid: 254, compid: 190 }, droneOptions: ChannelOptions = {}) {
  const clock = new ManualClock();
  const canopy = new MavlinkNode({ clock, heartbeatHz: 0 });
  const router = new Router(canopy, routerOptions);
  router.start();
  const ends: Record<'drone1' | 'drone2' | 'gcs', End> = {} as never;
  for (const [name, id, opts] of [['drone1', { sysid: 1, compid: 1 }, droneOptions], ['drone2', { sysid: 2, compid: 1 }, droneOptions], ['gcs', gcsId, gcsOptions]] as const) {
    const [near, far] = createMemoryPair(`canopy-${name}`, name);
    canopy.addLink(near, { name, ...opts });
    const node = new MavlinkNode({ clock, ...id, heartbeatHz: 0 });
    node.addLink(far);
    await near.start();
    await far.start();
    const raw: Buffer[] = [];
    node.on('frame', (f) => raw.push(Buffer.from(f.raw)));
    ends[name] = { node, raw };
  }
  return { clock, canopy, router, ...ends };
}

function heartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  return hb;
}

function command(targetSystem: number, cmd = common.MavCmd.COMPONENT_ARM_DISARM, targetComponent = 1): common.CommandLong {
  const c = new common.CommandLong();
  c.targetSystem = targetSystem;
  c.targetComponent = targetComponent;
  c.command = cmd;
  return c;
}

const COMMAND_LONG = common.CommandLong.MSG_ID;

test('heartbeats reach the GCS; a targeted command reaches only its drone; broadcasts reach all but the source', async () => {
  const { router, drone1, drone2, gcs } = await star();
  drone1.node.broadcast(heartbeat());
  drone2.node.broadcast(heartbeat());
  await flush();
  assert.deepEqual(gcs.raw.map(sysidOf), [1, 2], 'GCS hears both drones');
  assert.deepEqual(drone1.raw.map(sysidOf), [2], 'drone 1 hears drone 2 (broadcast) but not its own echo');

  gcs.node.broadcast(command(2));
  await flush();
  assert.equal(drone2.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 1, 'drone 2 got the command');
  assert.equal(drone1.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 0, 'drone 1 did not');

  gcs.node.broadcast(command(0));
  await flush();
  assert.equal(drone1.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 1);
  assert.equal(drone2.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 2);
  assert.equal(gcs.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 0, 'no echo to the source');

  gcs.node.broadcast(command(99));
  await flush();
  assert.equal(router.stats.unroutable, 1, 'a system nobody has heard from is not flooded');
  assert.equal(drone1.raw.length + drone2.raw.length, 5, 'nothing more reached the drones');

  assert.equal(router.stats.forwarded, 2 + 2 + 1 + 2);
  assert.deepEqual(router.stats.byChannel.gcs, { forwardedFrom: 2, forwardedTo: 2, droppedReadOnly: 0, droppedImpostor: 0 });
  assert.deepEqual(router.stats.byChannel.drone1, { forwardedFrom: 1, forwardedTo: 2, droppedReadOnly: 0, droppedImpostor: 0 });
  assert.deepEqual(router.stats.byChannel.drone2, { forwardedFrom: 1, forwardedTo: 3, droppedReadOnly: 0, droppedImpostor: 0 });
});

test('frames addressed to Canopy itself stay here; other components are routed by component', async () => {
  // A second GCS application on Canopy's own system id (255), as component 191.
  const { canopy, router, drone1, drone2, gcs } = await star({}, {}, { sysid: 255, compid: 191 });
  assert.deepEqual([canopy.sysid, canopy.compid], [255, 190]);
  gcs.node.broadcast(heartbeat());
  // A companion computer of system 2 (component 191) is heard on drone 1's link, then system 2's
  // autopilot on its own link: the system route and the component route now differ.
  drone1.node.channels[0]!.writeRaw(encodeFrame(heartbeat(), { sysid: 2, compid: 191, seq: 0 }));
  drone2.node.broadcast(heartbeat());
  await flush();
  assert.equal(router.channelOf(2, 191), canopy.channels[0]);
  assert.equal(router.channelOf(2), canopy.channels[1]);
  const heardBefore = gcs.raw.length;
  drone1.node.broadcast(command(255, common.MavCmd.REQUEST_MESSAGE, 190)); // Canopy itself
  drone1.node.broadcast(command(255, common.MavCmd.REQUEST_MESSAGE, 0)); // Canopy's system: for us
  drone1.node.broadcast(command(255, common.MavCmd.REQUEST_MESSAGE, 191)); // the other application
  await flush();
  assert.deepEqual(gcs.raw.slice(heardBefore).map((r) => msgidOf(r)), [COMMAND_LONG], 'only the one for component 191 left');
  assert.equal(frameTarget(frameFromRaw(gcs.raw.at(-1)!)).component, 191);

  const drone1Before = drone1.raw.length;
  const drone2Before = drone2.raw.length;
  gcs.node.broadcast(command(2, common.MavCmd.REQUEST_MESSAGE, 191));
  gcs.node.broadcast(command(2, common.MavCmd.REQUEST_MESSAGE, 1));
  await flush();
  assert.equal(drone1.raw.length - drone1Before, 1, 'to the companion, on the link it was heard on');
  assert.equal(drone2.raw.length - drone2Before, 1, 'to the autopilot (system route for an unheard component)');
});

test('a read-only GCS endpoint can watch and request data, but not command', async () => {
  const { router, drone1, gcs } = await star({ readOnly: true });
  drone1.node.broadcast(heartbeat());
  await flush();
  gcs.node.broadcast(heartbeat());
  gcs.node.broadcast(command(1)); // arm: dropped
  const streams = new common.RequestDataStream();
  streams.targetSystem = 1;
  streams.targetComponent = 1;
  streams.reqMessageRate = 50;
  streams.startStop = 1;
  gcs.node.broadcast(streams); // would take the radio's bandwidth: dropped
  const params = new common.ParamRequestList();
  params.targetSystem = 1;
  params.targetComponent = 1;
  gcs.node.broadcast(params);
  const missions = new common.MissionRequestList();
  missions.targetSystem = 1;
  missions.targetComponent = 1;
  gcs.node.broadcast(missions);
  gcs.node.broadcast(command(1, common.MavCmd.REQUEST_MESSAGE)); // a request: allowed
  await flush();
  assert.deepEqual(
    drone1.raw.map(msgidOf),
    [minimal.Heartbeat.MSG_ID, common.ParamRequestList.MSG_ID, common.MissionRequestList.MSG_ID, COMMAND_LONG],
  );
  assert.equal(router.stats.droppedReadOnly, 2);
  assert.equal(router.stats.byChannel.gcs!.droppedReadOnly, 2);
});

test('the read-only allow-lists open chosen messages and commands', async () => {
  const { router, drone1, gcs } = await star({ readOnly: true }, { readOnlyAllow: [common.SetMode.MSG_ID], readOnlyAllowCommands: [common.MavCmd.DO_SET_MODE] });
  drone1.node.broadcast(heartbeat());
  await flush();
  const mode = new common.SetMode();
  mode.targetSystem = 1;
  mode.customMode = 6;
  gcs.node.broadcast(mode);
  gcs.node.broadcast(command(1, common.MavCmd.DO_SET_MODE));
  gcs.node.broadcast(command(1, common.MavCmd.REQUEST_MESSAGE)); // no longer in the (replaced) list
  await flush();
  assert.deepEqual(drone1.raw.map(msgidOf), [common.SetMode.MSG_ID, COMMAND_LONG]);
  assert.equal(router.stats.droppedReadOnly, 1);
});

test('signed and unknown-id frames are forwarded byte for byte', async () => {
  const { gcs, drone1 } = await star();
  const signed = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 3, signed: true });
  signed.fill(0x5a, signed.length - 13); // a signature Canopy holds no key for
  const unknown = Buffer.from([0xfd, 2, 0, 0, 4, 1, 1, 0x50, 0xc3, 0, 9, 9, 0, 0]); // msgid 50000
  unknown.writeUInt16LE(frameCrc(unknown, 1, 12, 0), 12);
  const channel = drone1.node.channels[0]!;
  channel.writeRaw(signed);
  channel.writeRaw(unknown);
  channel.writeRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 4 })); // lets the framer release the unknown one
  await flush();
  assert.equal(gcs.raw.length, 3);
  assert.deepEqual(gcs.raw[0], signed);
  assert.deepEqual(gcs.raw[1], unknown);
});

test('the same drone heard on two radios reaches the GCS once; a repeat after the window is new', async () => {
  const clock = new ManualClock();
  const canopy = new MavlinkNode({ clock, heartbeatHz: 0 });
  const router = new Router(canopy);
  router.start();
  const [r1, d1] = createMemoryPair('r1', 'd1');
  const [r2, d2] = createMemoryPair('r2', 'd2');
  const [g, gFar] = createMemoryPair('g', 'gFar');
  for (const l of [r1, r2, g]) canopy.addLink(l);
  for (const l of [r1, d1, r2, d2, g, gFar]) await l.start();
  const atGcs: number[] = [];
  const gcs = new MavlinkNode({ clock, sysid: 254, heartbeatHz: 0 });
  gcs.addLink(gFar);
  gcs.on('frame', (f) => atGcs.push(f.seq));
  const frame = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 9 });
  d1.write(frame);
  d2.write(frame);
  await flush();
  assert.deepEqual(atGcs, [9]);
  assert.equal(router.stats.duplicates, 1);
  // The same content with the next sequence number is a new frame.
  d1.write(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 10 }));
  await flush();
  assert.deepEqual(atGcs, [9, 10]);
  // After the window the same bytes are a new frame (the sender's seq has wrapped).
  clock.advance(2500);
  d2.write(frame);
  await flush();
  assert.deepEqual(atGcs, [9, 10, 9]);
});

test('a ring of three routers delivers each frame once and stops', async () => {
  const clock = new ManualClock();
  const routers = ['a', 'b', 'c'].map((name, i) => {
    const node = new MavlinkNode({ clock, sysid: 240 + i, heartbeatHz: 0 });
    const router = new Router(node);
    router.start();
    return { name, node, router };
  });
  const links = [];
  for (const [x, y] of [[0, 1], [1, 2], [2, 0]] as const) {
    const [lx, ly] = createMemoryPair(`${x}-${y}`, `${y}-${x}`);
    routers[x]!.node.addLink(lx);
    routers[y]!.node.addLink(ly);
    links.push(lx, ly);
  }
  const [toDrone, drone] = createMemoryPair('a-drone', 'drone');
  const [toGcs, gcsLink] = createMemoryPair('c-gcs', 'gcs');
  routers[0]!.node.addLink(toDrone);
  routers[2]!.node.addLink(toGcs);
  for (const l of [...links, toDrone, drone, toGcs, gcsLink]) await l.start();
  const gcs = new MavlinkNode({ clock, sysid: 254, heartbeatHz: 0 });
  gcs.addLink(gcsLink);
  const seen: number[] = [];
  gcs.on('frame', (f) => seen.push(f.seq));
  for (let seq = 0; seq < 5; seq++) drone.write(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq }));
  await flush(20);
  assert.deepEqual(seen, [0, 1, 2, 3, 4]);
  const forwarded = routers.reduce((n, r) => n + r.router.stats.forwarded, 0);
  // a → b, a → c; b → c; c → gcs, c → b: five copies per frame, then the ring is quiet.
  assert.equal(forwarded, 5 * 5);
  await flush(20);
  assert.equal(routers.reduce((n, r) => n + r.router.stats.forwarded, 0), forwarded, 'nothing still circulating');
});

test('a broadcast from one vehicle radio is not copied onto another; the GCS hears it and addressed frames still cross', async () => {
  const { drone1, drone2, gcs } = await star({ kind: 'gcs' }, {}, undefined, { kind: 'vehicles' });
  drone1.node.broadcast(heartbeat());
  drone2.node.broadcast(heartbeat());
  await flush();
  assert.deepEqual(gcs.raw.map(sysidOf), [1, 2], 'the GCS hears both radios');
  assert.equal(drone1.raw.length + drone2.raw.length, 0, 'no telemetry copied between radios');
  // The GCS's broadcasts and a drone-to-drone addressed frame still go through.
  gcs.node.broadcast(command(0));
  drone1.node.broadcast(command(2));
  await flush();
  assert.equal(drone1.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 1);
  assert.equal(drone2.raw.filter((r) => msgidOf(r) === COMMAND_LONG).length, 2, 'the GCS broadcast and the command addressed to drone 2');
});

test('read-only is an allow-list: of every message id in the dialect only a watcher\'s reach the drone; the rest are counted by id', async () => {
  const { router, drone1, gcs } = await star({ readOnly: true });
  drone1.node.broadcast(heartbeat());
  await flush();
  const sent: number[] = [];
  for (const id of knownMessageIds()) {
    const info = messageInfo(id)!;
    const m = new info.clazz() as MavLinkData & { targetSystem?: number; targetComponent?: number };
    if (info.targetSystemOffset >= 0) m.targetSystem = 1;
    if (info.targetComponentOffset >= 0) m.targetComponent = 1;
    try {
      gcs.node.broadcast(m);
      sent.push(id);
    } catch {
      // a message whose default fields do not encode is not sent at all
    }
    if (sent.length % 50 === 0) await flush();
  }
  await flush();
  assert.ok(sent.length > 250, `${sent.length} message ids sent`);
  const reached = new Set(drone1.raw.map(msgidOf));
  const allowed = [...READ_ONLY_ALLOWED].filter((id) => id !== COMMAND_LONG && id !== common.CommandInt.MSG_ID && sent.includes(id));
  assert.deepEqual([...reached].sort((a, b) => a - b), allowed.sort((a, b) => a - b), 'what a watcher needs, nothing else (command 0 is not a request)');
  for (const name of ['GPS_INJECT_DATA', 'GPS_RTCM_DATA', 'GPS_INPUT', 'HIL_GPS', 'VISION_POSITION_ESTIMATE', 'SERIAL_CONTROL', 'ADSB_VEHICLE', 'LANDING_TARGET', 'SET_MAG_OFFSETS', 'MOUNT_CONTROL', 'DIGICAM_CONTROL', 'LED_CONTROL', 'PARAM_MAP_RC', 'REQUEST_DATA_STREAM', 'SETUP_SIGNING']) {
    const id = messageInfoByName(name)!.id;
    assert.equal(router.stats.droppedReadOnlyById[id], 1, `${name} dropped and counted`);
  }
  assert.equal(router.stats.droppedReadOnly, sent.length - allowed.length);
});

test('a GCS link cannot claim a drone\'s system id: its frames are dropped and the drone\'s route stays', async () => {
  const { router, canopy, drone1, gcs } = await star({}, {}, { sysid: 1, compid: 1 }, { kind: 'vehicles' });
  drone1.node.broadcast(heartbeat());
  await flush();
  const before = drone1.raw.length;
  gcs.node.broadcast(heartbeat()); // "I am drone 1"
  gcs.node.broadcast(command(2)); // and arm drone 2 in its name
  await flush();
  assert.equal(router.stats.droppedImpostor, 2);
  assert.equal(router.stats.byChannel.gcs!.droppedImpostor, 2);
  assert.equal(router.channelOf(1), canopy.channels[0], 'drone 1 is still reached on its radio');
  assert.equal(drone1.raw.length, before);
});
