/**
 * Telemetry logs in the standard .tlog format used by MAVProxy, Mission Planner and QGroundControl:
 * each record is an 8-byte big-endian timestamp (microseconds since the Unix epoch) followed by
 * one raw MAVLink frame.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Clock, TimerHandle } from './clock.ts';
import { BaseLink } from './links/link.ts';
import type { MavlinkNode } from './node.ts';
import type { Channel } from './channel.ts';
import { messageInfo } from './protocol/dialect.ts';
import { frameFromRaw, HEADER_V1, HEADER_V2, IFLAG_SIGNED, SIGNATURE_LENGTH, STX_V1, STX_V2, type Frame } from './protocol/frame.ts';
import { frameCrc } from './protocol/crc.ts';
import { CanopyError } from './errors.ts';

export const TLOG_TIMESTAMP_BYTES = 8;

export interface TlogRecord {
  /** Microseconds since the Unix epoch. */
  timeUs: bigint;
  frame: Frame;
}

/** Encodes one record. */
export function tlogRecord(timeMs: number, raw: Buffer): Buffer {
  const rec = Buffer.allocUnsafe(TLOG_TIMESTAMP_BYTES + raw.length);
  rec.writeBigUInt64BE(BigInt(Math.round(timeMs * 1000)), 0);
  raw.copy(rec, TLOG_TIMESTAMP_BYTES);
  return rec;
}

/** Where records go: a file, or anything with write(). */
export interface TlogSink {
  write(chunk: Buffer): void;
  end?(): void;
}

/** Records every frame the node receives (after the signing policy) and sends, on every channel. */
export class TlogWriter {
  private readonly sink: TlogSink;
  private readonly onFrame = (frame: Frame) => this.record(frame.raw);
  private readonly onSent = (raw: Buffer, _channel: Channel) => this.record(raw);
  records = 0;
  bytes = 0;

  constructor(
    private readonly node: MavlinkNode,
    sink: TlogSink | string,
  ) {
    this.sink = typeof sink === 'string' ? (createWriteStream(sink, { flags: 'a' }) as WriteStream & TlogSink) : sink;
  }

  start(): void {
    this.node.on('frame', this.onFrame);
    this.node.on('sent', this.onSent);
  }

  stop(): void {
    this.node.off('frame', this.onFrame);
    this.node.off('sent', this.onSent);
    this.sink.end?.();
  }

  private record(raw: Buffer): void {
    const rec = tlogRecord(this.node.clock.now(), raw);
    this.records++;
    this.bytes += rec.length;
    this.sink.write(rec);
  }
}

/** Length of a complete, valid frame starting at `at`, or 0. Unknown ids are trusted by length. */
function frameLengthAt(buf: Buffer, at: number): number {
  const stx = buf[at];
  if (stx !== STX_V1 && stx !== STX_V2) return 0;
  const v2 = stx === STX_V2;
  const header = v2 ? HEADER_V2 : HEADER_V1;
  if (at + header > buf.length) return 0;
  const len = buf[at + 1]!;
  const signed = v2 && (buf[at + 2]! & IFLAG_SIGNED) !== 0;
  const total = header + len + 2 + (signed ? SIGNATURE_LENGTH : 0);
  if (at + total > buf.length) return 0;
  const msgid = v2 ? buf[at + 7]! | (buf[at + 8]! << 8) | (buf[at + 9]! << 16) : buf[at + 5]!;
  const info = messageInfo(msgid);
  if (info) {
    if (len > info.maxLength) return 0;
    const crc = frameCrc(buf, at + 1, at + header + len, info.crcExtra);
    if (crc !== buf.readUInt16LE(at + header + len)) return 0;
  }
  return total;
}

export interface TlogReadStats {
  records: number;
  /** Bytes skipped to find the next record after a corrupt one. */
  skippedBytes: number;
  badRecords: number;
}

/**
 * Iterates the records of a tlog held in memory. A record whose frame fails its CRC is counted
 * and the reader searches byte by byte for the next position where a timestamp is followed by a
 * valid frame, so one damaged record costs only itself.
 */
export function* readTlog(buf: Buffer, stats: TlogReadStats = { records: 0, skippedBytes: 0, badRecords: 0 }): Generator<TlogRecord> {
  let at = 0;
  let inBadStretch = false;
  while (at + TLOG_TIMESTAMP_BYTES < buf.length) {
    const len = frameLengthAt(buf, at + TLOG_TIMESTAMP_BYTES);
    if (len === 0) {
      if (!inBadStretch) stats.badRecords++;
      inBadStretch = true;
      stats.skippedBytes++;
      at++;
      continue;
    }
    inBadStretch = false;
    const start = at + TLOG_TIMESTAMP_BYTES;
    stats.records++;
    yield { timeUs: buf.readBigUInt64BE(at), frame: frameFromRaw(buf.subarray(start, start + len)) };
    at = start + len;
  }
  if (at < buf.length) {
    stats.skippedBytes += buf.length - at;
    stats.badRecords++;
  }
}

export interface TlogInfo {
  records: number;
  badRecords: number;
  skippedBytes: number;
  firstUs?: bigint;
  lastUs?: bigint;
  durationS: number;
  byMessage: Map<string, number>;
  /** "sysid/compid" → frames */
  components: Map<string, number>;
  unknownIds: Map<number, number>;
  signed: number;
}

export function tlogInfo(buf: Buffer): TlogInfo {
  const stats: TlogReadStats = { records: 0, skippedBytes: 0, badRecords: 0 };
  const info: TlogInfo = { records: 0, badRecords: 0, skippedBytes: 0, durationS: 0, byMessage: new Map(), components: new Map(), unknownIds: new Map(), signed: 0 };
  for (const { timeUs, frame } of readTlog(buf, stats)) {
    info.firstUs ??= timeUs;
    info.lastUs = timeUs;
    const name = messageInfo(frame.msgid)?.name;
    if (name) info.byMessage.set(name, (info.byMessage.get(name) ?? 0) + 1);
    else info.unknownIds.set(frame.msgid, (info.unknownIds.get(frame.msgid) ?? 0) + 1);
    const comp = `${frame.sysid}/${frame.compid}`;
    info.components.set(comp, (info.components.get(comp) ?? 0) + 1);
    if (frame.signed) info.signed++;
  }
  info.records = stats.records;
  info.badRecords = stats.badRecords;
  info.skippedBytes = stats.skippedBytes;
  if (info.firstUs !== undefined && info.lastUs !== undefined) info.durationS = Number(info.lastUs - info.firstUs) / 1e6;
  return info;
}

/**
 * A link that plays a tlog as incoming bytes, each frame at its recorded time offset divided by
 * `speed` on the clock (speed 0: all at once, as fast as the consumer takes them).
 */
export class TlogReplayLink extends BaseLink {
  private records: TlogRecord[] = [];
  private index = 0;
  private startedAt = 0;
  private firstUs = 0n;
  private timer: TimerHandle | undefined;
  readonly done: Promise<void>;
  private resolveDone!: () => void;

  constructor(
    private readonly data: Buffer,
    private readonly clock: Clock,
    private readonly speed = 1,
    name = 'tlog',
  ) {
    super(`tlog:${name}`);
    if (!(speed >= 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `replay speed must be 0 (as fast as possible) or positive, got ${speed}`);
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get total(): number {
    return this.records.length;
  }

  get played(): number {
    return this.index;
  }

  async start(): Promise<void> {
    this.records = [...readTlog(this.data)];
    this.index = 0;
    this.firstUs = this.records[0]?.timeUs ?? 0n;
    this.startedAt = this.clock.now();
    this.setUp();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.setDown('stopped');
    this.resolveDone();
  }

  write(): void {
    // A recording has no ears: what is written to it is dropped and counted.
    this.stats.dropsOut++;
  }

  private schedule(): void {
    if (!this.up) return;
    if (this.index >= this.records.length) {
      this.resolveDone();
      return;
    }
    const offsetMs = Number(this.records[this.index]!.timeUs - this.firstUs) / 1000;
    const dueIn = this.speed === 0 ? 0 : this.startedAt + offsetMs / this.speed - this.clock.now();
    this.timer = this.clock.setTimeout(() => this.playDue(), Math.max(0, dueIn));
  }

  private playDue(): void {
    const now = this.clock.now();
    // Deliver every frame that is due by now in one go, then wait for the next.
    while (this.index < this.records.length) {
      const offsetMs = Number(this.records[this.index]!.timeUs - this.firstUs) / 1000;
      if (this.speed !== 0 && this.startedAt + offsetMs / this.speed > now) break;
      this.received(this.records[this.index]!.frame.raw, 'tlog');
      this.index++;
      if (this.speed === 0 && this.index % 256 === 0) break;
    }
    this.schedule();
  }
}
