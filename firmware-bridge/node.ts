import { EventEmitter } from 'node:events';
import type { MavLinkData } from 'mavlink-mappings';
import { minimal } from 'mavlink-mappings';
import { Channel, type ChannelOptions } from './channel.ts';
import type { Clock, TimerHandle } from './clock.ts';
import type { Link } from './links/link.ts';
import { silentLogger, type Logger } from './log.ts';
import { decodeFrame, frameTarget, type Frame } from './protocol/frame.ts';
import { MavlinkError } from './errors.ts';

/** A decoded message and where it came from. */
export interface Inbound<T extends MavLinkData = MavLinkData> {
  frame: Frame;
  message: T;
  channel: Channel;
  peer: string;
}

export interface NodeEvents {
  /** Every frame that passed a channel's policy, decoded or not (router, tlog, link quality). */
  frame: [frame: Frame, channel: Channel, peer: string];
  /** Frames of known ids, decoded. */
  message: [inbound: Inbound];
  /** Every frame written to any channel (tlog). */
  sent: [raw: Buffer, channel: Channel];
  'channel-added': [channel: Channel];
}

export interface NodeOptions {
  clock: Clock;
  /** Our MAVLink system id: 255 is the GCS convention (MAVLink "Mavlink ID assignment"). */
  sysid?: number;
  /** MAV_COMP_ID_MISSIONPLANNER (190) is what ground stations use. */
  compid?: number;
  /** HEARTBEAT rate; the spec asks for 1 Hz (microservices/heartbeat.html). 0 disables. */
  heartbeatHz?: number;
  /**
   * Decode only messages that are broadcast or addressed to our sysid (an end system, such as an
   * autopilot on a shared radio, hears every other drone's traffic). A ground station that routes
   * and watches every vehicle leaves this off.
   */
  onlyAddressedToUs?: boolean;
  logger?: Logger;
}

/**
 * The only thing a microservice needs: send to one component, hear from it, and a clock.
 * Obtained with `node.portTo(channel, sysid, compid)`.
 */
export interface MessagePort {
  readonly clock: Clock;
  readonly target: { sysid: number; compid: number };
  readonly self: { sysid: number; compid: number };
  send(msg: MavLinkData): void;
  /** Subscribes to decoded messages from the target; returns the unsubscribe function. */
  onMessage(handler: (msg: MavLinkData, frame: Frame) => void): () => void;
}

/**
 * Canopy's own MAVLink node: a ground station (MAV_TYPE_GCS) on every channel, with a 1 Hz
 * HEARTBEAT, decoding of known frames, and message ports for the microservices.
 */
export class MavlinkNode extends EventEmitter<NodeEvents> {
  readonly clock: Clock;
  readonly sysid: number;
  readonly compid: number;
  readonly log: Logger;
  readonly channels: Channel[] = [];
  private readonly heartbeatMs: number;
  private readonly onlyAddressedToUs: boolean;
  private heartbeatTimer: TimerHandle | undefined;
  private nextLinkId = 0;
  private readonly ports = new Map<Channel, Map<number, MessagePort>>();
  /** Handlers of message ports, by channel and (sysid << 8 | compid), so dispatch is one lookup. */
  private readonly portHandlers = new Map<Channel, Map<number, Set<(msg: MavLinkData, frame: Frame) => void>>>();

  constructor(opts: NodeOptions) {
    super();
    this.clock = opts.clock;
    this.sysid = opts.sysid ?? 255;
    this.compid = opts.compid ?? 190;
    if (!Number.isInteger(this.sysid) || this.sysid < 1 || this.sysid > 255) {
      throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `sysid must be 1-255, got ${opts.sysid}`);
    }
    if (!Number.isInteger(this.compid) || this.compid < 1 || this.compid > 255) {
      throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `compid must be 1-255, got ${opts.compid}`);
    }
    const hz = opts.heartbeatHz ?? 1;
    this.heartbeatMs = hz > 0 ? 1000 / hz : 0;
    this.onlyAddressedToUs = opts.onlyAddressedToUs ?? false;
    this.log = opts.logger ?? silentLogger;
    this.setMaxListeners(0);
  }

  /** Attaches a link. The link is not started here (the caller owns its life cycle). */
  addLink(link: Link, opts: ChannelOptions = {}): Channel {
    const channel = new Channel(link, { linkId: this.nextLinkId++ & 0xff, ...opts });
    channel.on('frame', (frame, peer) => this.onFrame(frame, channel, peer));
    channel.on('sent', (raw) => this.emit('sent', raw, channel));
    this.channels.push(channel);
    this.emit('channel-added', channel);
    return channel;
  }

  private onFrame(frame: Frame, channel: Channel, peer: string): void {
    this.emit('frame', frame, channel, peer);
    const handlers = this.portHandlers.get(channel)?.get((frame.sysid << 8) | frame.compid);
    if (!frame.known || (this.listenerCount('message') === 0 && !handlers)) return;
    if (this.onlyAddressedToUs) {
      // MAVLink routing: a system processes broadcasts (target 0) and messages for its own id.
      const target = frameTarget(frame).system;
      if (target !== 0 && target !== this.sysid) return;
    }
    let message: MavLinkData | undefined;
    try {
      message = decodeFrame(frame);
    } catch (err) {
      this.log.warn('undecodable frame', { msgid: frame.msgid, err: String(err) });
      return;
    }
    if (!message) return;
    this.emit('message', { frame, message, channel, peer });
    if (handlers) for (const h of handlers) h(message, frame);
  }

  start(): void {
    if (this.heartbeatMs > 0 && !this.heartbeatTimer) {
      this.sendHeartbeat();
      this.heartbeatTimer = this.clock.setInterval(() => this.sendHeartbeat(), this.heartbeatMs);
    }
  }

  stop(): void {
    this.clock.clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
  }

  private sendHeartbeat(): void {
    const hb = new minimal.Heartbeat();
    hb.type = minimal.MavType.GCS;
    hb.autopilot = minimal.MavAutopilot.INVALID;
    hb.baseMode = 0 as minimal.MavModeFlag;
    hb.customMode = 0;
    hb.systemStatus = minimal.MavState.ACTIVE;
    hb.mavlinkVersion = 3;
    for (const ch of this.channels) if (ch.link.isUp) ch.send(hb, this);
  }

  /** Sends a message we originate on one channel, as this node. */
  send(channel: Channel, msg: MavLinkData, targetSysid = 0): void {
    channel.send(msg, this, targetSysid);
  }

  /** Sends on every channel (broadcast, e.g. the first round of a swarm command). */
  broadcast(msg: MavLinkData): void {
    for (const ch of this.channels) if (ch.link.isUp) ch.send(msg, this, 0);
  }

  /**
   * The port to one component behind a channel. The same object each time for the same target,
   * so everything talking to that component (several CommandSenders, say) can share per-target
   * state: the command protocol lets one command of an id be in flight per target.
   */
  portTo(channel: Channel, sysid: number, compid: number): MessagePort {
    let byTarget = this.ports.get(channel);
    if (!byTarget) this.ports.set(channel, (byTarget = new Map()));
    const key = (sysid << 8) | compid;
    let port = byTarget.get(key);
    if (!port) byTarget.set(key, (port = this.newPort(channel, sysid, compid)));
    return port;
  }

  private newPort(channel: Channel, sysid: number, compid: number): MessagePort {
    const node = this;
    return {
      clock: this.clock,
      target: { sysid, compid },
      self: { sysid: this.sysid, compid: this.compid },
      send: (msg) => channel.send(msg, node, sysid),
      onMessage(handler) {
        let byComponent = node.portHandlers.get(channel);
        if (!byComponent) node.portHandlers.set(channel, (byComponent = new Map()));
        const key = (sysid << 8) | compid;
        let set = byComponent.get(key);
        if (!set) byComponent.set(key, (set = new Set()));
        set.add(handler);
        return () => {
          set.delete(handler);
          if (set.size === 0) byComponent.delete(key);
        };
      },
    };
  }
}
