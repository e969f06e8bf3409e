/**
 * Forwards frames between the node's channels following MAVLink routing
 * (mavlink.io/en/guide/routing.html):
 *  - learn on which channel each (sysid, compid) lives from the frames it sends;
 *  - a frame with a target goes only to the channel where that system (and component, when
 *    non-zero) was last heard; a target nobody has been heard from is not forwarded;
 *  - broadcasts (target 0) and frames without a target go to every channel but the source;
 *  - never back to the channel a frame came from, and frames for us (our sysid) stay here.
 * Frames are forwarded byte for byte, so signed and unknown-id frames pass untouched.
 * Beyond the spec: a frame whose exact bytes were already forwarded within `duplicateWindowMs`
 * (a loop through two radios or two GCS links) is not forwarded again.
 */
import type { Channel } from './channel.ts';
import type { MavlinkNode } from './node.ts';
import { frameTarget, payloadOffset, type Frame } from './protocol/frame.ts';

/** Messages that make a vehicle do something; a read-only GCS endpoint may not send them. */
export const COMMAND_MESSAGE_IDS: ReadonlySet<number> = new Set([
  11, // SET_MODE
  23, // PARAM_SET
  39, // MISSION_ITEM
  41, // MISSION_SET_CURRENT
  44, // MISSION_COUNT
  45, // MISSION_CLEAR_ALL
  69, // MANUAL_CONTROL
  70, // RC_CHANNELS_OVERRIDE
  73, // MISSION_ITEM_INT
  75, // COMMAND_INT
  76, // COMMAND_LONG
  82, // SET_ATTITUDE_TARGET
  84, // SET_POSITION_TARGET_LOCAL_NED
  86, // SET_POSITION_TARGET_GLOBAL_INT
  110, // FILE_TRANSFER_PROTOCOL
  243, // SET_HOME_POSITION
  256, // SETUP_SIGNING
]);

export interface RouterOptions {
  /** Command message ids a read-only endpoint may still send. */
  readOnlyAllow?: Iterable<number>;
  duplicateWindowMs?: number;
}

export interface RouterStats {
  forwarded: number;
  droppedReadOnly: number;
  duplicates: number;
  /** Targeted frames for a system no channel has been heard from. */
  unroutable: number;
}

interface Route {
  channel: Channel;
}

export class Router {
  readonly stats: RouterStats = { forwarded: 0, droppedReadOnly: 0, duplicates: 0, unroutable: 0 };
  /** (sysid << 8 | compid) → where it was last heard. */
  private readonly components = new Map<number, Route>();
  /** sysid → where any component of it was last heard. */
  private readonly systems = new Map<number, Route>();
  private readonly readOnlyAllow: Set<number>;
  private readonly duplicateWindowMs: number;
  /** Fingerprints of recently forwarded frames, with the time they were forwarded. */
  private recent = new Map<number, number>();
  private older = new Map<number, number>();
  private rotatedAt = 0;
  private readonly onFrame = (frame: Frame, channel: Channel) => this.route(frame, channel);

  constructor(
    private readonly node: MavlinkNode,
    opts: RouterOptions = {},
  ) {
    this.readOnlyAllow = new Set(opts.readOnlyAllow ?? []);
    this.duplicateWindowMs = opts.duplicateWindowMs ?? 2000;
  }

  start(): void {
    this.node.on('frame', this.onFrame);
  }

  stop(): void {
    this.node.off('frame', this.onFrame);
  }

  /** Channel a system was last heard on (for tests and status displays). */
  channelOf(sysid: number, compid?: number): Channel | undefined {
    return (compid ? this.components.get((sysid << 8) | compid) : this.systems.get(sysid))?.channel;
  }

  private learn(frame: Frame, channel: Channel): void {
    const key = (frame.sysid << 8) | frame.compid;
    const known = this.components.get(key);
    if (known?.channel !== channel) this.components.set(key, { channel });
    const sys = this.systems.get(frame.sysid);
    if (sys?.channel !== channel) this.systems.set(frame.sysid, { channel });
  }

  private route(frame: Frame, source: Channel): void {
    this.learn(frame, source);
    const channels = this.node.channels;
    if (channels.length < 2) return;
    if (source.readOnly && COMMAND_MESSAGE_IDS.has(frame.msgid) && !this.readOnlyAllow.has(frame.msgid)) {
      this.stats.droppedReadOnly++;
      return;
    }
    const target = frameTarget(frame);
    if (target.system === this.node.sysid) return;
    if (this.isDuplicate(frame)) {
      this.stats.duplicates++;
      return;
    }
    if (target.system !== 0) {
      const route = target.component !== 0 ? (this.components.get((target.system << 8) | target.component) ?? this.systems.get(target.system)) : this.systems.get(target.system);
      if (!route) {
        this.stats.unroutable++;
        return;
      }
      if (route.channel !== source) {
        route.channel.writeRaw(frame.raw);
        this.stats.forwarded++;
      }
      return;
    }
    for (const ch of channels) {
      if (ch === source || !ch.link.isUp) continue;
      ch.writeRaw(frame.raw);
      this.stats.forwarded++;
    }
  }

  /**
   * Two generations of fingerprints (the frame's own checksum with its length, sysid and seq;
   * signed frames add the signature's timestamp bytes): O(1) lookups, and memory bounded by what
   * arrives in two windows.
   */
  private isDuplicate(frame: Frame): boolean {
    const now = this.node.clock.now();
    if (now - this.rotatedAt >= this.duplicateWindowMs) {
      this.older = this.recent;
      this.recent = new Map();
      this.rotatedAt = now;
    }
    const raw = frame.raw;
    const crcAt = payloadOffset(frame) + frame.payloadLength;
    let key = raw.readUInt16LE(crcAt) * 0x1000000 + raw.length * 0x10000 + frame.sysid * 0x100 + frame.seq;
    if (frame.signed) key += (raw.readUInt16LE(crcAt + 3) & 0xfff) * 0x10000000000; // stays below 2^53
    const seen = this.recent.get(key) ?? this.older.get(key);
    if (seen !== undefined && now - seen < this.duplicateWindowMs) return true;
    this.recent.set(key, now);
    return false;
  }
}
