/**
 * Where the simulated autopilot's protocol servers (mission, parameter, command) sit: the
 * vehicle's MAVLink node and its link to the ground. A server answers the system that asked over
 * that link, or broadcasts on every link, as the firmware does.
 */
import type { MavLinkData } from 'mavlink-mappings';
import type { Channel } from '../../firmware-bridge/channel.ts';
import type { MavlinkNode } from '../../firmware-bridge/node.ts';

export class ServerEndpoint {
  constructor(
    private readonly node: MavlinkNode,
    private readonly channel: Channel,
  ) {}

  get sysid(): number {
    return this.node.sysid;
  }

  /** A message for this vehicle: addressed to its system id, or to every system (target 0; mavlink.io routing). */
  isForUs(targetSystem: number): boolean {
    return targetSystem === 0 || targetSystem === this.node.sysid;
  }

  /** Sends to one system (the one that asked: its frame's sysid) over the vehicle's link. */
  sendTo(msg: MavLinkData, sysid: number): void {
    this.channel.send(msg, this.node, sysid);
  }

  broadcast(msg: MavLinkData): void {
    this.node.broadcast(msg);
  }
}
