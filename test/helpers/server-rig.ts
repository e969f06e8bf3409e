/**
 * One of the simulated autopilot's protocol servers (sim/servers/) on a vehicle node, and a ground
 * station's node on the other end of an in-memory link: the server tests send it real MAVLink
 * frames and read what comes back.
 */
import type { MavLinkData } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import type { Frame } from '../../firmware-bridge/protocol/frame.ts';
import { ServerEndpoint } from '../../sim/servers/endpoint.ts';
import { collect, flush, nodePair } from './nodes.ts';

export const VEHICLE = { sysid: 3, compid: 1 };
export const GCS = { sysid: 255, compid: 190 };

export async function serverRig() {
  const clock = new ManualClock();
  const { a: gcs, b: vehicle, ca, cb } = await nodePair({ clock, a: GCS, b: VEHICLE });
  const endpoint = new ServerEndpoint(vehicle, cb);
  const heard = collect(gcs);
  return {
    clock,
    gcs,
    endpoint,
    /** Puts a server's handler on the vehicle's node, as the virtual copter does. */
    serve(handle: (m: MavLinkData, frame: Frame) => unknown): void {
      vehicle.on('message', ({ message, frame }) => void handle(message, frame));
    },
    /** Sends from the ground station (to the vehicle's system, or `toSysid`) and lets it be answered. */
    async send(msg: MavLinkData, toSysid = VEHICLE.sysid): Promise<void> {
      gcs.send(ca, msg, toSysid);
      await flush();
    },
    /** What the ground station has heard from the vehicle so far, of one message type; `clear` forgets it. */
    heard<T extends MavLinkData>(type: abstract new (...args: never[]) => T): T[] {
      return heard.map((m) => m.message).filter((m): m is T => m instanceof type);
    },
    clear(): void {
      heard.length = 0;
    },
  };
}
