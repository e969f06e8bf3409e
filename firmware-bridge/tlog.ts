/**
 * Telemetry logs in the .tlog format of MAVProxy, Mission Planner and QGroundControl: each record
 * is an 8-byte big-endian timestamp (microseconds since the Unix epoch) followed by one raw
 * MAVLink frame, with nothing between records.
 */
import { closeSync, createWriteStream, openSync, readSync } from 'node:fs';
import type { Clock, TimerHandle } from './clock.ts';
import { MavlinkError } from './errors.ts';
import { BaseLink } from './links/link.ts';
import type { Logger } from './log.ts';
import type { MavlinkNode } from './node.ts';
import { messageInfo } from './protocol/dialect.ts';
import { HEADER_V1, HEADER_V2, IFLAG_SIGNED, SIGNATURE_LENGTH, STX_V1, STX_V2, type Frame } from './protocol/frame.ts';
import { Framer, MAX_FRAME } from './protocol/framer.ts';

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

/** Where records go: anything with write(); end() is awaited by TlogWriter.stop(). */
export interface TlogSink {
  write(chunk: Buffer): void;
  end?(): void | Promise<void>;
}

function isFrom(raw: Buffer, id: { sysid: number; compid: number }): boolean {
  return raw[0] === STX_V2 ? raw[5] === id.sysid && raw[6] === id.compid : raw[3] === id.sysid && raw[4] === id.compid;
}

/**
 * Records every frame the node receives on any channel (after the signing policy) and every frame
 * it originates, stamped with the node's clock. Frames the router forwards are not recorded a
 * second time on the way out: they are already in the log as received, and a replay would
 * otherwise show each of them twice.
 */
export class TlogWriter {
  records = 0;
  bytes = 0;
  private sink: TlogSink | undefined;
  private readonly log: Logger;
  private readonly onFrame = (frame: Frame) => this.record(frame.raw);
  private readonly onSent = (raw: Buffer) => {
    if (isFrom(raw, this.node)) this.record(raw);
  };

  /** `target` is a file path (appended to) or a sink. Nothing is opened before start(). */
  constructor(
    private readonly node: MavlinkNode,
    private readonly target: TlogSink | string,
  ) {
    this.log = node.log.child('tlog');
  }

  /** Opens the file (a MavlinkError CANOPY_ERR_TLOG if it cannot be) and starts recording. */
  start(): void {
    if (this.sink) return;
    this.sink = typeof this.target === 'string' ? this.openFile(this.target) : this.target;
    this.node.on('frame', this.onFrame);
    this.node.on('sent', this.onSent);
  }

  /** Stops recording; resolves once the file (or sink) has taken everything written. */
  async stop(): Promise<void> {
    this.node.off('frame', this.onFrame);
    this.node.off('sent', this.onSent);
    const sink = this.sink;
    this.sink = undefined;
    await sink?.end?.();
  }

  private openFile(path: string): TlogSink {
    let fd: number;
    try {
      fd = openSync(path, 'a');
    } catch (err) {
      throw new MavlinkError('CANOPY_ERR_TLOG', `cannot open ${path} for writing: ${(err as Error).message}`, { cause: err });
    }
    const stream = createWriteStream(path, { fd });
    stream.on('error', (err) => {
      // A full or vanished disk must not take the ground station down: stop recording, say why.
      this.log.error('tlog write failed; recording stopped', { path, err: String(err) });
      void this.stop();
    });
    return {
      write: (chunk) => void stream.write(chunk),
      end: () => new Promise<void>((resolve) => stream.end(() => resolve())),
    };
  }

  private record(raw: Buffer): void {
    const rec = tlogRecord(this.node.clock.now(), raw);
    this.records++;
    this.bytes += rec.length;
    this.sink!.write(rec);
  }
}

export interface TlogReadStats {
  records: number;
  /** Damaged stretches: each run of bytes skipped between two good records counts once. */
  badRecords: number;
  skippedBytes: number;
}

/** Bytes that must be in hand to judge a record: timestamp, the longest frame, and the next record's start. */
const LOOKAHEAD = TLOG_TIMESTAMP_BYTES + MAX_FRAME + TLOG_TIMESTAMP_BYTES + 1;
const READ_CHUNK = 1 << 20;

/** Reads a file in chunks; a missing or unreadable file is a MavlinkError CANOPY_ERR_TLOG. */
class ChunkedFile {
  private readonly fd: number;
  constructor(path: string) {
    try {
      this.fd = openSync(path, 'r');
    } catch (err) {
      throw new MavlinkError('CANOPY_ERR_TLOG', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  }
  /** The next chunk, or undefined at the end of the file. */
  read(): Buffer | undefined {
    const chunk = Buffer.allocUnsafe(READ_CHUNK);
    const n = readSync(this.fd, chunk, 0, READ_CHUNK, null);
    return n > 0 ? chunk.subarray(0, n) : undefined;
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** Runs the live Framer over exactly one candidate frame. */
class CandidateCheck {
  private readonly found: Frame[] = [];
  private readonly framer = new Framer((frame) => this.found.push(frame));

  /** The frame if `bytes` are one whole valid frame (the Framer may find a shorter one inside damage). */
  whole(bytes: Buffer): Frame | undefined {
    this.found.length = 0;
    this.framer.push(bytes);
    this.framer.flush();
    const frame = this.found[0];
    return frame?.raw.length === bytes.length ? frame : undefined;
  }
}

/**
 * Iterates the records of a tlog from a Buffer or a file (read in 1 MiB chunks, so a long flight
 * does not have to fit in memory). Each candidate frame is checked by the live Framer (known ids
 * by CRC, lengths and incompat flags); an unknown id, whose CRC cannot be checked, is trusted only
 * where the next record lines up after it, as the Framer does on a live stream. After a damaged
 * record the reader moves on one byte at a time until a timestamp is followed by a valid frame
 * again, so damage costs only the records it touches.
 */
export class TlogReader implements Iterable<TlogRecord> {
  readonly stats: TlogReadStats = { records: 0, badRecords: 0, skippedBytes: 0 };
  private readonly check = new CandidateCheck();

  constructor(readonly source: Buffer | string) {}

  *[Symbol.iterator](): Generator<TlogRecord> {
    const stats = this.stats;
    Object.assign(stats, { records: 0, badRecords: 0, skippedBytes: 0 });
    const file = typeof this.source === 'string' ? new ChunkedFile(this.source) : undefined;
    let buf = file ? Buffer.alloc(0) : (this.source as Buffer);
    let eof = !file;
    let at = 0;
    let damaged = false;
    try {
      for (;;) {
        if (!eof && buf.length - at < LOOKAHEAD) {
          const chunk = file!.read();
          if (chunk) {
            buf = Buffer.concat([buf.subarray(at), chunk]);
            at = 0;
          } else {
            eof = true;
          }
          continue;
        }
        if (at >= buf.length) break;
        const frame = this.frameAt(buf, at + TLOG_TIMESTAMP_BYTES);
        if (!frame) {
          if (!damaged) stats.badRecords++;
          damaged = true;
          stats.skippedBytes++;
          at++;
          continue;
        }
        damaged = false;
        stats.records++;
        yield { timeUs: buf.readBigUInt64BE(at), frame };
        at += TLOG_TIMESTAMP_BYTES + frame.raw.length;
      }
    } finally {
      file?.close();
    }
  }

  /** The valid frame that starts exactly at `start`, or undefined. */
  private frameAt(buf: Buffer, start: number): Frame | undefined {
    const stx = buf[start];
    if (stx !== STX_V1 && stx !== STX_V2) return undefined;
    const v2 = stx === STX_V2;
    const header = v2 ? HEADER_V2 : HEADER_V1;
    if (start + header > buf.length) return undefined;
    // An incompat flag other than SIGNED is unknown, and the spec has such a frame dropped
    // (mavlink.io serialization "incompat_flags"): rejected here before the Framer is asked, so a
    // damaged stretch of 0xFD bytes is skipped at memory speed, not at one Framer run a byte.
    if (v2 && (buf[start + 2]! & ~IFLAG_SIGNED) !== 0) return undefined;
    const signed = v2 && (buf[start + 2]! & IFLAG_SIGNED) !== 0;
    const end = start + header + buf[start + 1]! + 2 + (signed ? SIGNATURE_LENGTH : 0);
    if (end > buf.length) return undefined;
    const frame = this.check.whole(buf.subarray(start, end));
    if (frame && !frame.known && end < buf.length) {
      const next = buf[end + TLOG_TIMESTAMP_BYTES];
      if (next !== STX_V1 && next !== STX_V2) return undefined;
    }
    return frame;
  }
}

export interface TlogInfo {
  records: number;
  badRecords: number;
  skippedBytes: number;
  /** First and last record time, µs since the Unix epoch. */
  firstUs?: bigint;
  lastUs?: bigint;
  durationS: number;
  /** Known messages, most frequent first. */
  messages: { id: number; name: string; count: number }[];
  /** Message ids outside the loaded dialects (forwarded verbatim, never decoded). */
  unknownIds: { id: number; count: number }[];
  /** Every (sysid, compid) that sent something, in id order. */
  components: { sysid: number; compid: number; count: number }[];
  signed: number;
}

function bump<K>(map: Map<K, number>, key: K): void {
  map.set(key, (map.get(key) ?? 0) + 1);
}

/** Summary of a tlog (file path or Buffer). */
export function tlogInfo(source: Buffer | string): TlogInfo {
  const reader = new TlogReader(source);
  const byId = new Map<number, number>();
  const byComponent = new Map<number, number>();
  let firstUs: bigint | undefined;
  let lastUs: bigint | undefined;
  let signed = 0;
  for (const { timeUs, frame } of reader) {
    firstUs ??= timeUs;
    lastUs = timeUs;
    bump(byId, frame.msgid);
    bump(byComponent, (frame.sysid << 8) | frame.compid);
    if (frame.signed) signed++;
  }
  const messages: TlogInfo['messages'] = [];
  const unknownIds: TlogInfo['unknownIds'] = [];
  for (const [id, count] of byId) {
    const name = messageInfo(id)?.name;
    if (name) messages.push({ id, name, count });
    else unknownIds.push({ id, count });
  }
  messages.sort((a, b) => b.count - a.count || a.name.localeCompare(b.name));
  unknownIds.sort((a, b) => a.id - b.id);
  const components = [...byComponent]
    .sort((a, b) => a[0] - b[0])
    .map(([key, count]) => ({ sysid: key >> 8, compid: key & 0xff, count }));
  return {
    ...reader.stats,
    firstUs,
    lastUs,
    durationS: firstUs !== undefined && lastUs !== undefined ? Number(lastUs - firstUs) / 1e6 : 0,
    messages,
    unknownIds,
    components,
    signed,
  };
}

/**
 * A link that plays a tlog as incoming bytes: each frame at its recorded offset from the first,
 * divided by `speed`, on the clock (speed 0: as fast as the consumer takes them, in batches that
 * yield to the event loop). Writes to it go nowhere and are counted as drops. Times are kept
 * against the start, so a long replay does not drift.
 */
export class TlogReplayLink extends BaseLink {
  /** Resolves when the last record has been played or the link is stopped. */
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private reader: TlogReader | undefined;
  private records: Iterator<TlogRecord> | undefined;
  private next: TlogRecord | undefined;
  private firstUs = 0n;
  private startedAt = 0;
  private timer: TimerHandle | undefined;
  private count = 0;
  private index = 0;

  constructor(
    private readonly source: Buffer | string,
    private readonly clock: Clock,
    private readonly speed = 1,
  ) {
    super(`tlog:${typeof source === 'string' ? source : 'buffer'}`);
    if (!(speed >= 0) || !Number.isFinite(speed)) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `replay speed must be 0 (as fast as possible) or a positive number, got ${speed}`);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Records in the log (known after start()). */
  get total(): number {
    return this.count;
  }

  /** Records played so far. */
  get played(): number {
    return this.index;
  }

  /** Damage found while playing (records, bad stretches, skipped bytes). */
  get readStats(): TlogReadStats | undefined {
    return this.reader?.stats;
  }

  async start(): Promise<void> {
    if (this.records) return;
    this.count = 0;
    for (const _ of new TlogReader(this.source)) this.count++;
    this.reader = new TlogReader(this.source);
    this.records = this.reader[Symbol.iterator]();
    this.index = 0;
    this.next = this.records.next().value;
    this.firstUs = this.next?.timeUs ?? 0n;
    this.startedAt = this.clock.now();
    this.setUp();
    this.schedule();
  }

  async stop(): Promise<void> {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.records?.return?.();
    this.records = undefined;
    this.next = undefined;
    this.setDown('stopped');
    this.resolveDone();
  }

  write(): void {
    this.stats.dropsOut++;
  }

  private dueAt(rec: TlogRecord): number {
    return this.startedAt + Number(rec.timeUs - this.firstUs) / 1000 / this.speed;
  }

  private schedule(): void {
    if (!this.next) {
      this.resolveDone();
      return;
    }
    const wait = this.speed === 0 ? 0 : this.dueAt(this.next) - this.clock.now();
    this.timer = this.clock.setTimeout(() => this.playDue(), Math.max(0, wait));
  }

  /** Delivers every record due by now (at speed 0, a batch), then waits for the next. */
  private playDue(): void {
    const now = this.clock.now();
    for (let batch = 0; this.next && this.records; batch++) {
      if (this.speed === 0 ? batch === 256 : this.dueAt(this.next) > now) break;
      const rec = this.next;
      this.next = this.records.next().value;
      this.index++;
      this.received(rec.frame.raw, 'tlog');
    }
    if (this.records) this.schedule();
  }
}
