/** Canopy's MAVLink node: an end system on a shared radio decodes only what is addressed to it. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { common, minimal } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { collect, flush } from '../helpers/nodes.ts';

test('onlyAddressedToUs: broadcasts and frames for our sysid are decoded, frames for other systems are not', async () => {
  const clock = new ManualClock();
  const [la, lb] = createMemoryPair('gcs', 'drone');
  const gcs = new MavlinkNode({ clock, heartbeatHz: 0 });
  const drone = new MavlinkNode({ clock, sysid: 7, compid: 1, heartbeatHz: 0, onlyAddressedToUs: true });
  const watcher = new MavlinkNode({ clock, sysid: 8, compid: 1, heartbeatHz: 0 });
  gcs.addLink(la);
  drone.addLink(lb);
  const [lc, ld] = createMemoryPair('gcs2', 'watcher');
  gcs.addLink(lc);
  watcher.addLink(ld);
  for (const l of [la, lb, lc, ld]) await l.start();
  const droneGot = collect(drone);
  const watcherGot = collect(watcher);
  const command = (target: number) => {
    const c = new common.CommandLong();
    c.targetSystem = target;
    c.targetComponent = 1;
    c.command = common.MavCmd.COMPONENT_ARM_DISARM;
    return c;
  };
  gcs.broadcast(new minimal.Heartbeat());
  gcs.broadcast(command(7));
  gcs.broadcast(command(9));
  await flush();
  const names = (got: typeof droneGot) => got.map((m) => `${m.message.constructor.name}${'targetSystem' in m.message ? `→${(m.message as common.CommandLong).targetSystem}` : ''}`);
  assert.deepEqual(names(droneGot), ['Heartbeat', 'CommandLong→7'], 'the drone skips the command for system 9');
  assert.deepEqual(names(watcherGot), ['Heartbeat', 'CommandLong→7', 'CommandLong→9'], 'a node without the option decodes everything');
});
