import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { Router } from '../../firmware-bridge/router.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import type { ChannelOptions } from '../../firmware-bridge/channel.ts';
import { flush } from '../helpers/nodes.ts';

/** Canopy in the middle: drone 1 and drone 2 on their own links, a GCS (QGC) on a third. */
async function star(gcsOptions: ChannelOptions = {}) {
  const clock = new ManualClock();
  const canopy = new MavlinkNode({ clock, heartbeatHz: 0 });
  const router = new Router(canopy);
  router.start();
  const ends: Record<string, { node: MavlinkNode; raw: Buffer[] }> = {};
  for (const [name, sysid, opts] of [['drone1', 1, {}], ['drone2', 2, {}], ['gcs', 254, gcsOptions]] as const) {
    const [near, far] = createMemoryPair(`canopy-${name}`, name);
    canopy.addLink(near, { name, ...opts });
    const node = new MavlinkNode({ clock, sysid, compid: name === 'gcs' ? 190 : 1, heartbeatHz: 0 });
    node.addLink(far);
    await near.start();
    await far.start();
    const raw: Buffer[] = [];
    node.on('frame', (f) => raw.push(Buffer.from(f.raw)));
    ends[name] = { node, raw };
  }
  return { clock, canopy, router, ends };
}

function heartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  return hb;
}

function command(target: number, cmd = common.MavCmd.COMPONENT_ARM_DISARM): common.CommandLong {
  const c = new common.CommandLong();
  c.targetSystem = target;
  c.targetComponent = 1;
  c.command = cmd;
  return c;
}

test('heartbeats reach the GCS; a targeted command reaches only its drone; broadcasts reach all but the source', async () => {
  const { ends, router } = await star();
  const { drone1, drone2, gcs } = ends as Required<typeof ends>;
  drone1!.node.broadcast(heartbeat());
  drone2!.node.broadcast(heartbeat());
  await flush();
  assert.deepEqual(gcs!.raw.map((r) => r[5]), [1, 2], 'GCS hears both drones');
  assert.equal(drone1!.raw.length, 1, 'drone 1 hears drone 2 (broadcast) but not its own echo');
  assert.equal(drone1!.raw[0]![5], 2);

  gcs!.node.broadcast(command(2));
  await flush();
  assert.equal(drone2!.raw.filter((r) => r[7] === 76).length, 1, 'drone 2 got the command');
  assert.equal(drone1!.raw.filter((r) => r[7] === 76).length, 0, 'drone 1 did not');

  gcs!.node.broadcast(command(0));
  await flush();
  assert.equal(drone1!.raw.filter((r) => r[7] === 76).length, 1);
  assert.equal(drone2!.raw.filter((r) => r[7] === 76).length, 2);
  assert.equal(gcs!.raw.filter((r) => r[7] === 76).length, 0, 'no echo to the source');

  gcs!.node.broadcast(command(99));
  await flush();
  assert.equal(router.stats.unroutable, 1, 'a system nobody has heard from is not flooded');
});

test('a read-only GCS endpoint cannot command, but may still ask for parameters', async () => {
  const { ends, router } = await star({ readOnly: true });
  const { drone1, gcs } = ends;
  drone1!.node.broadcast(heartbeat());
  await flush();
  gcs!.node.broadcast(command(1));
  const req = new common.ParamRequestList();
  req.targetSystem = 1;
  req.targetComponent = 1;
  gcs!.node.broadcast(req);
  await flush();
  assert.deepEqual(drone1!.raw.map((r) => r[7]), [21], 'only PARAM_REQUEST_LIST arrived');
  assert.equal(router.stats.droppedReadOnly, 1);
});

test('signed and unknown-id frames are forwarded byte for byte', async () => {
  const { ends } = await star();
  const { drone1, gcs } = ends;
  const signed = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 3, signed: true });
  signed.fill(0x5a, signed.length - 13);
  const unknown = Buffer.from([0xfd, 2, 0, 0, 4, 1, 1, 0x50, 0xc3, 0, 9, 9, 0, 0]);
  unknown.writeUInt16LE(frameCrc(unknown, 1, 12, 0), 12);
  const channel = drone1!.node.channels[0]!;
  channel.writeRaw(signed);
  channel.writeRaw(unknown);
  channel.writeRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 4 }));
  await flush();
  assert.deepEqual(gcs!.raw[0], signed);
  assert.deepEqual(gcs!.raw[1], unknown);
});

test('a loop through two links does not duplicate frames', async () => {
  const clock = new ManualClock();
  const canopy = new MavlinkNode({ clock, heartbeatHz: 0 });
  const router = new Router(canopy);
  router.start();
  // The same drone is heard on two radios; the GCS must see each of its frames once.
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
  assert.ok(router.stats.duplicates >= 1);
  // After the window the same bytes are a new frame (the sender's seq has wrapped).
  clock.advance(2500);
  d1.write(frame);
  await flush();
  assert.deepEqual(atGcs, [9, 9]);
});
