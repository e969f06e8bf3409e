/**
 * A virtual autopilot (ArduCopter or PX4) and a ground station's node over an in-memory link, with
 * the world stepped in 100 ms on the simulated clock: the sim tests' rig.
 */
import assert from 'node:assert/strict';
import { ManualClock, settle } from '../../firmware-bridge/clock.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import type { Link } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import type { MavlinkSigning } from '../../firmware-bridge/microservices/signing/index.ts';
import { encodeMode, StreamKeeper, VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { minimal } from 'mavlink-mappings';
import { STREAM_RATES } from '../../controller/telemetry.ts';
import { VirtualCopter, type VirtualCopterOptions } from '../../sim/autopilot.ts';
import { VirtualPx4 } from '../../sim/px4.ts';

export const ORIGIN = { latDeg: 47.4, lonDeg: 8.5, altitudeM: 400 };
export const AIRFRAME = { massKg: 2.5, maxSpeedMs: 12, maxAccelMs2: 3, maxClimbMs: 2.5, maxDescentMs: 1.5, hoverWPerKg: 180 };
export const A = minimal.MavAutopilot.ARDUPILOTMEGA;

export async function rig(opts: { soc?: number; links?: [Link, Link]; gcsSigning?: MavlinkSigning; params?: Record<string, number>; askForTelemetry?: boolean; copter?: Partial<VirtualCopterOptions>; px4?: boolean } = {}) {
  const clock = new ManualClock();
  const [ground, air] = opts.links ?? createMemoryPair('ground', 'air');
  const options: VirtualCopterOptions = { sysid: 3, clock, link: air, airframe: AIRFRAME, battery: { capacityWh: 222, cells: 6, internalResistanceOhm: 0.02, soc: opts.soc ?? 1 }, origin: ORIGIN, pad: { n: 10, e: 0, u: 0 }, gpsFixAfterMs: 2000, params: opts.params, ...opts.copter };
  const drone = opts.px4 ? new VirtualPx4(options) : new VirtualCopter(options);
  const gcs = new MavlinkNode({ clock, sysid: 255, compid: 190, heartbeatHz: 1 });
  const channel = gcs.addLink(ground, { signing: opts.gcsSigning });
  await ground.start();
  await air.start();
  gcs.start();
  const vehicles = new VehicleManager(gcs);
  vehicles.start();
  // Stock firmware streams nothing until asked: the ground station's StreamKeeper asks.
  const streams = new StreamKeeper(gcs, vehicles, { rates: STREAM_RATES });
  if (opts.askForTelemetry !== false) streams.start();
  const port = gcs.portTo(channel, 3, 1);
  const actions = new VehicleActions(port);
  let heartbeatsOn = true;
  /** Runs the world: 100 ms physics steps on the simulated clock, deliveries in between. */
  const fly = async (ms: number, until?: () => boolean) => {
    for (let t = 0; t < ms; t += 100) {
      if (until?.()) return true;
      drone.step(0.1, { n: 0, e: 0, u: 0 });
      clock.advance(100);
      await settle();
      await settle();
    }
    return until?.() ?? false;
  };
  /** Awaits a promise while the world runs. */
  const during = async <T>(p: Promise<T>, maxMs = 30_000): Promise<T> => {
    let done = false;
    let value!: T;
    void p.then((v) => ((done = true), (value = v)));
    await fly(maxMs, () => done);
    assert.ok(done, 'finished within the simulated time');
    return value;
  };
  const setMode = (name: string) => during(actions.setMode(encodeMode(A, name)));
  const stopHeartbeats = () => {
    if (heartbeatsOn) gcs.stop();
    heartbeatsOn = false;
  };
  return { clock, drone, gcs, channel, port, actions, vehicles, streams, fly, during, setMode, stopHeartbeats };
}

