import { EventEmitter } from 'node:events';
import type { MavLinkData } from 'mavlink-mappings';
import type { Link } from './links/link.ts';
import { Framer, type FramerStats } from './protocol/framer.ts';
import { encodeFrame, type Frame } from './protocol/frame.ts';

/** Verdict of the signing layer on an incoming frame (see microservices/signing). */
export type SignatureVerdict = 'ok' | 'unsigned' | 'unsigned-allowed' | 'bad-signature' | 'replay' | 'future' | 'no-key';

/**
 * What a channel needs from MAVLink 2 signing. Implemented by microservices/signing; a channel
 * without one neither signs nor checks.
 */
export interface ChannelSigning {
  /** Whether frames to `targetSysid` (0 = broadcast) are signed on this channel. */
  wantsSigned(targetSysid: number): boolean;
  /** Fills the 13 signature bytes at the end of `frame` (which has the signed flag set). */
  sign(frame: Buffer, linkId: number, targetSysid: number): void;
  /** Checks an incoming frame; only 'ok' and 'unsigned-allowed' frames are passed on. */
  verify(frame: Frame, linkId: number): SignatureVerdict;
}

export interface ChannelStats {
  framer: FramerStats;
  framesIn: number;
  framesOut: number;
  /** Incoming frames dropped by the signing policy, by verdict. */
  rejected: Record<Exclude<SignatureVerdict, 'ok' | 'unsigned-allowed'>, number>;
}

export interface ChannelEvents {
  /** A frame arrived from `peer` and passed the signing policy. */
  frame: [frame: Frame, peer: string];
  /** A frame left through this channel (own or forwarded). */
  sent: [raw: Buffer];
  /** A frame was dropped by the signing policy. */
  rejected: [frame: Frame, verdict: SignatureVerdict];
}

export interface ChannelOptions {
  /** Short name used in logs, stats and tlog (defaults to the link URL). */
  name?: string;
  /** MAVLink 2 signing link id (0-255) for this channel. */
  linkId?: number;
  /** Force a protocol version; by default MAVLink 2, or MAVLink 1 while the peer has only spoken 1. */
  version?: 1 | 2;
  signing?: ChannelSigning;
  /** A GCS endpoint whose commands are not obeyed (router drops them; see router.ts). */
  readOnly?: boolean;
  /**
   * What is on the other end: a radio to vehicles, or a ground tool (QGroundControl, MAVProxy).
   * The router does not copy one vehicle radio's broadcasts onto another (see router.ts). Default 'gcs'.
   */
  kind?: 'vehicles' | 'gcs';
}

/**
 * One link with its framing, sequence numbers and protocol version.
 *
 * Sequence numbers are kept per (link, our sysid, our compid): the spec defines seq per sending
 * component, and the C library keeps it per channel; node-mavlink's module-global counter mixes
 * links, which makes every receiver see false loss.
 */
export class Channel extends EventEmitter<ChannelEvents> {
  readonly name: string;
  readonly linkId: number;
  readonly readOnly: boolean;
  readonly kind: 'vehicles' | 'gcs';
  signing: ChannelSigning | undefined;
  private readonly framers = new Map<string, Framer>();
  private readonly seqs = new Map<number, number>();
  private readonly framerTotals: FramerStats = { frames: 0, unknown: 0, badCrc: 0, badHeader: 0, garbageBytes: 0, bytes: 0 };
  private sawV2 = false;
  private sawV1 = false;
  private readonly forcedVersion: 1 | 2 | undefined;
  readonly stats: ChannelStats;

  constructor(
    readonly link: Link,
    opts: ChannelOptions = {},
  ) {
    super();
    this.name = opts.name ?? link.url;
    this.linkId = opts.linkId ?? 0;
    this.readOnly = opts.readOnly ?? false;
    this.kind = opts.kind ?? 'gcs';
    this.signing = opts.signing;
    this.forcedVersion = opts.version;
    this.stats = {
      framer: this.framerTotals,
      framesIn: 0,
      framesOut: 0,
      rejected: { unsigned: 0, 'bad-signature': 0, replay: 0, future: 0, 'no-key': 0 },
    };
    link.on('data', (chunk, peer) => this.framerFor(peer).push(chunk));
    link.on('peer-gone', (peer) => this.dropFramer(peer));
  }

  /** Protocol version for frames we originate (spec "MAVLink 2 handshake": use 2 once the peer shows it speaks it). */
  get version(): 1 | 2 {
    if (this.forcedVersion) return this.forcedVersion;
    return this.sawV1 && !this.sawV2 ? 1 : 2;
  }

  private framerFor(peer: string): Framer {
    let framer = this.framers.get(peer);
    if (!framer) {
      framer = new Framer((frame) => this.onFrame(frame, peer));
      this.framers.set(peer, framer);
    }
    return framer;
  }

  private dropFramer(peer: string): void {
    const f = this.framers.get(peer);
    if (!f) return;
    f.flush();
    this.addFramerStats(f.stats);
    this.framers.delete(peer);
  }

  private addFramerStats(s: FramerStats): void {
    const t = this.framerTotals;
    t.frames += s.frames;
    t.unknown += s.unknown;
    t.badCrc += s.badCrc;
    t.badHeader += s.badHeader;
    t.garbageBytes += s.garbageBytes;
    t.bytes += s.bytes;
  }

  /** Framer counters summed over all peers, past and present. */
  framerStats(): FramerStats {
    const sum = { ...this.framerTotals };
    for (const f of this.framers.values()) {
      sum.frames += f.stats.frames;
      sum.unknown += f.stats.unknown;
      sum.badCrc += f.stats.badCrc;
      sum.badHeader += f.stats.badHeader;
      sum.garbageBytes += f.stats.garbageBytes;
      sum.bytes += f.stats.bytes;
    }
    return sum;
  }

  /** Bytes held by the framers waiting for the rest of a frame (bounded by one frame per peer). */
  bufferedBytes(): number {
    let n = 0;
    for (const f of this.framers.values()) n += f.buffered;
    return n;
  }

  private onFrame(frame: Frame, peer: string): void {
    if (frame.version === 2) this.sawV2 = true;
    else this.sawV1 = true;
    if (this.signing) {
      const verdict = this.signing.verify(frame, this.linkId);
      if (verdict !== 'ok' && verdict !== 'unsigned-allowed') {
        this.stats.rejected[verdict]++;
        this.emit('rejected', frame, verdict);
        return;
      }
    }
    this.stats.framesIn++;
    this.emit('frame', frame, peer);
  }

  /** Next sequence number for frames we send as (sysid, compid) on this link. */
  nextSeq(sysid: number, compid: number): number {
    const key = (sysid << 8) | compid;
    const seq = this.seqs.get(key) ?? 0;
    this.seqs.set(key, (seq + 1) & 0xff);
    return seq;
  }

  /** Encodes, signs if the policy says so, and writes a message we originate. Returns the frame. */
  send(msg: MavLinkData, from: { sysid: number; compid: number }, targetSysid = 0): Buffer {
    const version = this.version;
    const signed = version === 2 && !!this.signing?.wantsSigned(targetSysid);
    const raw = encodeFrame(msg, { sysid: from.sysid, compid: from.compid, seq: this.nextSeq(from.sysid, from.compid), version, signed });
    if (signed) this.signing!.sign(raw, this.linkId, targetSysid);
    this.writeRaw(raw);
    return raw;
  }

  /** Writes a complete frame verbatim (routing). */
  writeRaw(raw: Buffer): void {
    this.stats.framesOut++;
    this.link.write(raw);
    this.emit('sent', raw);
  }
}
