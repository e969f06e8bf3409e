/**
 * Forwards frames between the node's channels following MAVLink routing
 * (mavlink.io/en/guide/routing.html):
 *  - learn on which channel each (sysid, compid) lives from the frames it sends;
 *  - an addressed frame is resent only on the channel where its target was last heard (the
 *    component if it is named and known, else the system); nowhere if the target is unknown
 *    or lives on the channel the frame came from;
 *  - broadcasts (target 0) and frames without target fields go to every channel but the source;
 *  - frames addressed to this node (our sysid with our compid or component 0) stay here.
 * Frames are forwarded byte for byte, so signed frames (which Canopy may hold no key for) and
 * frames of unknown ids reach their destination unchanged.
 *
 * Beyond the spec: a frame whose exact bytes were forwarded moments ago (the same drone heard
 * through two radios, or a ring of links) is not forwarded again, read-only GCS endpoints
 * may send only what a watcher needs (READ_ONLY_ALLOWED: an allow-list, so a message id nobody
 * thought of is refused, not passed), a drone's location is learnt only from vehicle channels
 * (a frame on a GCS channel carrying a drone's system id is dropped: it would otherwise steer
 * the drone's traffic to the impostor), and a broadcast heard on one vehicle
 * radio is not copied onto another: at 57,600 baud a radio carries its own 25 drones and little
 * more, and the drones on other radios have no use for their telemetry (addressed frames are
 * still routed to their target wherever it lives).
 */
import { common } from 'mavlink-mappings';
import type { Channel } from './channel.ts';
import type { MavlinkNode } from './node.ts';
import { messageInfoByName } from './protocol/dialect.ts';
import { decodeFrame, frameTarget, type Frame } from './protocol/frame.ts';

function idsOf(names: string[]): Set<number> {
  return new Set(
    names.map((name) => {
      const info = messageInfoByName(name);
      if (!info) throw new Error(`router: ${name} is not in the loaded dialects`);
      return info.id;
    }),
  );
}

/**
 * What a read-only GCS endpoint may send: what a watcher needs to see the swarm. HEARTBEAT (it is
 * there), parameter and mission reads (a mission download ends with its MISSION_ACK), TIMESYNC,
 * PING, and COMMAND_LONG / COMMAND_INT carrying one of REQUEST_COMMANDS. Stream-rate requests
 * (REQUEST_DATA_STREAM, SET_MESSAGE_INTERVAL) are not here: a watcher would change what the
 * drone sends for everyone on a shared radio, and the ground station's StreamKeeper would switch
 * it off again. Everything else — GPS injection, vision and landing-target estimates, serial
 * passthrough, camera, mount, LED and RC mapping included — is dropped and counted by id.
 */
export const READ_ONLY_ALLOWED: ReadonlySet<number> = idsOf([
  'HEARTBEAT',
  'PARAM_REQUEST_READ',
  'PARAM_REQUEST_LIST',
  'PARAM_EXT_REQUEST_READ',
  'PARAM_EXT_REQUEST_LIST',
  'MISSION_REQUEST_LIST',
  'MISSION_REQUEST',
  'MISSION_REQUEST_INT',
  'MISSION_ACK',
  'TIMESYNC',
  'PING',
  'AUTOPILOT_VERSION_REQUEST',
  'COMMAND_LONG',
  'COMMAND_INT',
]);

/**
 * COMMAND_LONG / COMMAND_INT commands that only ask for data, allowed from read-only endpoints by
 * default (QGroundControl asks for AUTOPILOT_VERSION this way when it connects).
 */
export const REQUEST_COMMANDS: ReadonlySet<number> = new Set([
  common.MavCmd.REQUEST_MESSAGE,
  common.MavCmd.REQUEST_PROTOCOL_VERSION,
  common.MavCmd.REQUEST_AUTOPILOT_CAPABILITIES,
]);

const COMMAND_LONG_OR_INT = idsOf(['COMMAND_LONG', 'COMMAND_INT']);

export interface RouterOptions {
  /** Message ids read-only endpoints may send besides READ_ONLY_ALLOWED. */
  readOnlyAllow?: Iterable<number>;
  /** MAV_CMD ids read-only endpoints may send in COMMAND_LONG/COMMAND_INT (default REQUEST_COMMANDS). */
  readOnlyAllowCommands?: Iterable<number>;
  /** How long forwarded bytes are remembered to stop loop duplicates (default 2000 ms; 0 disables). */
  duplicateWindowMs?: number;
  /** Cap on remembered frames per window, so a flood cannot grow memory (default 10,000). */
  duplicateMemory?: number;
}

export interface RouterChannelStats {
  /** Frames from this channel forwarded to at least one other channel. */
  forwardedFrom: number;
  /** Copies written to this channel. */
  forwardedTo: number;
  droppedReadOnly: number;
  /** Frames from a GCS channel carrying a drone's system id. */
  droppedImpostor: number;
}

export interface RouterStats {
  /** Copies written (a broadcast to two channels counts two). */
  forwarded: number;
  droppedReadOnly: number;
  /** Read-only drops by message id. */
  droppedReadOnlyById: Record<number, number>;
  /** Frames from GCS channels carrying a system id heard on a vehicle channel. */
  droppedImpostor: number;
  duplicates: number;
  /** Addressed frames for a system no channel has been heard from. */
  unroutable: number;
  /** By channel name. */
  byChannel: Record<string, RouterChannelStats>;
}

export class Router {
  readonly stats: RouterStats = { forwarded: 0, droppedReadOnly: 0, droppedReadOnlyById: {}, droppedImpostor: 0, duplicates: 0, unroutable: 0, byChannel: {} };
  /** System ids heard on vehicle channels: the drones. */
  private readonly vehicleSystems = new Set<number>();
  /** (sysid << 8 | compid) → channel it was last heard on. */
  private readonly components = new Map<number, Channel>();
  /** sysid → channel any of its components was last heard on. */
  private readonly systems = new Map<number, Channel>();
  private readonly readOnlyAllow: Set<number>;
  private readonly readOnlyAllowCommands: Set<number>;
  private readonly duplicateWindowMs: number;
  private readonly duplicateMemory: number;
  /** Two generations of forwarded frames (bytes as latin1 → when), rotated every window. */
  private recent = new Map<string, number>();
  private older = new Map<string, number>();
  private rotatedAt = -Infinity;
  private readonly onFrame = (frame: Frame, channel: Channel) => this.route(frame, channel);

  constructor(
    private readonly node: MavlinkNode,
    opts: RouterOptions = {},
  ) {
    this.readOnlyAllow = new Set(opts.readOnlyAllow ?? []);
    this.readOnlyAllowCommands = new Set(opts.readOnlyAllowCommands ?? REQUEST_COMMANDS);
    this.duplicateWindowMs = opts.duplicateWindowMs ?? 2000;
    this.duplicateMemory = opts.duplicateMemory ?? 10_000;
  }

  start(): void {
    this.node.on('frame', this.onFrame);
  }

  stop(): void {
    this.node.off('frame', this.onFrame);
  }

  /** Channel a system (or one of its components) was last heard on. */
  channelOf(sysid: number, compid?: number): Channel | undefined {
    return compid ? this.components.get((sysid << 8) | compid) : this.systems.get(sysid);
  }

  private statsOf(channel: Channel): RouterChannelStats {
    return (this.stats.byChannel[channel.name] ??= { forwardedFrom: 0, forwardedTo: 0, droppedReadOnly: 0, droppedImpostor: 0 });
  }

  private route(frame: Frame, source: Channel): void {
    // A drone's system id on a GCS channel is an impostor (or a loop): never learnt, never forwarded.
    if (source.kind === 'vehicles') this.vehicleSystems.add(frame.sysid);
    else if (this.vehicleSystems.has(frame.sysid)) {
      this.stats.droppedImpostor++;
      this.statsOf(source).droppedImpostor++;
      return;
    }
    // Learn before anything else: the most recent channel wins, so a drone that moves from one
    // radio to another is followed, and one heard on two is reached through exactly one.
    this.components.set((frame.sysid << 8) | frame.compid, source);
    this.systems.set(frame.sysid, source);
    if (this.node.channels.length < 2) return;
    if (source.readOnly && !this.readOnlyMaySend(frame)) {
      this.stats.droppedReadOnly++;
      this.stats.droppedReadOnlyById[frame.msgid] = (this.stats.droppedReadOnlyById[frame.msgid] ?? 0) + 1;
      this.statsOf(source).droppedReadOnly++;
      return;
    }
    const target = frameTarget(frame);
    if (target.system === this.node.sysid && (target.component === 0 || target.component === this.node.compid)) return;
    if (this.isDuplicate(frame)) {
      this.stats.duplicates++;
      return;
    }
    if (target.system === 0) {
      let copies = 0;
      for (const ch of this.node.channels) {
        if (ch === source || !ch.link.isUp || (source.kind === 'vehicles' && ch.kind === 'vehicles')) continue;
        this.forward(frame, ch);
        copies++;
      }
      if (copies > 0) this.statsOf(source).forwardedFrom++;
      return;
    }
    const dest = (target.component !== 0 ? this.components.get((target.system << 8) | target.component) : undefined) ?? this.systems.get(target.system);
    if (!dest) {
      this.stats.unroutable++;
      return;
    }
    if (dest === source) return;
    this.forward(frame, dest);
    this.statsOf(source).forwardedFrom++;
  }

  private forward(frame: Frame, to: Channel): void {
    to.writeRaw(frame.raw);
    this.stats.forwarded++;
    this.statsOf(to).forwardedTo++;
  }

  private readOnlyMaySend(frame: Frame): boolean {
    if (this.readOnlyAllow.has(frame.msgid)) return true;
    if (!READ_ONLY_ALLOWED.has(frame.msgid)) return false;
    if (!COMMAND_LONG_OR_INT.has(frame.msgid)) return true;
    const cmd = decodeFrame(frame) as common.CommandLong | common.CommandInt | undefined;
    return cmd !== undefined && this.readOnlyAllowCommands.has(cmd.command);
  }

  /**
   * True when these exact bytes were forwarded within the window. A sender's own repeats differ
   * in their sequence number (and signature timestamp), so only copies of one transmission match.
   * Memory is bounded by two generations of at most `duplicateMemory` frames each.
   */
  private isDuplicate(frame: Frame): boolean {
    if (this.duplicateWindowMs <= 0) return false;
    const now = this.node.clock.now();
    if (now - this.rotatedAt >= this.duplicateWindowMs || this.recent.size >= this.duplicateMemory) {
      this.older = this.recent;
      this.recent = new Map();
      this.rotatedAt = now;
    }
    const key = frame.raw.toString('latin1');
    const seen = this.recent.get(key) ?? this.older.get(key);
    if (seen !== undefined && now - seen < this.duplicateWindowMs) return true;
    this.recent.set(key, now);
    return false;
  }
}
