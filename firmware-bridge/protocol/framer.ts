import { frameCrc } from './crc.ts';
import { messageInfo } from './dialect.ts';
import { HEADER_V1, HEADER_V2, IFLAG_SIGNED, SIGNATURE_LENGTH, STX_V1, STX_V2, type Frame } from './frame.ts';

export interface FramerStats {
  /** Frames handed on: CRC-verified known ids plus unknown ids. */
  frames: number;
  /** Frames of unknown message id handed on verbatim (CRC unverifiable). */
  unknown: number;
  /** Candidate frames of a known id whose CRC did not match. */
  badCrc: number;
  /** Candidates rejected before the CRC: known id with impossible length, or unknown incompat flags. */
  badHeader: number;
  /** Bytes skipped while hunting for a start marker. */
  garbageBytes: number;
  bytes: number;
}

const MAX_FRAME = HEADER_V2 + 255 + 2 + SIGNATURE_LENGTH;

/**
 * Splits a byte stream into MAVLink 1 and 2 frames.
 *
 * Resynchronisation is the point: after any rejected candidate (bad CRC, impossible length,
 * unknown incompat flags) the framer moves on by ONE byte, not by the candidate's length, so a
 * real frame hidden inside a false start is still found (mavlink_parse_char does the same by
 * re-scanning from the byte after STX). Frames of known ids are accepted only with a matching
 * CRC (CRC_EXTRA, serialization.html#crc_extra). Frames of unknown ids cannot be checked; they
 * are accepted when the next byte is a start marker (or the stream ends there), which keeps
 * them routable without letting noise that looks like a header swallow good frames.
 */
export class Framer {
  readonly stats: FramerStats = { frames: 0, unknown: 0, badCrc: 0, badHeader: 0, garbageBytes: 0, bytes: 0 };
  private pending: Buffer | undefined;

  constructor(private readonly onFrame: (frame: Frame) => void) {}

  /** Feeds bytes; calls onFrame for each complete frame, in order. */
  push(chunk: Buffer): void {
    this.stats.bytes += chunk.length;
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    const used = this.parse(buf, false);
    this.pending = used < buf.length ? Buffer.from(buf.subarray(used)) : undefined;
  }

  /** End of stream: resolves what is held back waiting for a look-ahead byte. */
  flush(): void {
    if (!this.pending) return;
    const buf = this.pending;
    const used = this.parse(buf, true);
    this.stats.garbageBytes += buf.length - used;
    this.pending = undefined;
  }

  /** Bytes held waiting for the rest of a frame. */
  get buffered(): number {
    return this.pending?.length ?? 0;
  }

  /** The first index in [from, n) where a complete frame of a known id with a good CRC starts, or -1. */
  private verifiedFrameInside(buf: Buffer, from: number, n: number): number {
    for (let j = from; j < n; j++) {
      const stx = buf[j];
      if (stx !== STX_V2 && stx !== STX_V1) continue;
      const v2 = stx === STX_V2;
      const headerLen = v2 ? HEADER_V2 : HEADER_V1;
      if (n - j < headerLen) return -1;
      const len = buf[j + 1]!;
      const incompat = v2 ? buf[j + 2]! : 0;
      if (incompat & ~IFLAG_SIGNED) continue;
      const info = messageInfo(v2 ? buf[j + 7]! | (buf[j + 8]! << 8) | (buf[j + 9]! << 16) : buf[j + 5]!);
      if (!info || len > info.maxLength) continue;
      const crcAt = j + headerLen + len;
      if (crcAt + 2 + (incompat & IFLAG_SIGNED ? SIGNATURE_LENGTH : 0) > n) continue;
      if (frameCrc(buf, j + 1, crcAt, info.crcExtra) === (buf[crcAt]! | (buf[crcAt + 1]! << 8))) return j;
    }
    return -1;
  }

  /** Parses as much of buf as possible; returns the number of bytes consumed. */
  private parse(buf: Buffer, atEnd: boolean): number {
    const n = buf.length;
    const stats = this.stats;
    let i = 0;
    while (i < n) {
      const stx = buf[i];
      if (stx !== STX_V2 && stx !== STX_V1) {
        i++;
        stats.garbageBytes++;
        continue;
      }
      const v2 = stx === STX_V2;
      const headerLen = v2 ? HEADER_V2 : HEADER_V1;
      if (n - i < headerLen) return atEnd ? n : i;
      const len = buf[i + 1]!;
      const incompat = v2 ? buf[i + 2]! : 0;
      // A frame with an incompat flag we do not understand must be dropped (spec: "MAVLink 2
      // incompatibility flags ... must not be handled"); signing (0x01) is the only one defined.
      if (incompat & ~IFLAG_SIGNED) {
        stats.badHeader++;
        stats.garbageBytes++;
        i++;
        continue;
      }
      const msgid = v2 ? buf[i + 7]! | (buf[i + 8]! << 8) | (buf[i + 9]! << 16) : buf[i + 5]!;
      const info = messageInfo(msgid);
      if (info && len > info.maxLength) {
        stats.badHeader++;
        stats.garbageBytes++;
        i++;
        continue;
      }
      const signed = (incompat & IFLAG_SIGNED) !== 0;
      const total = headerLen + len + 2 + (signed ? SIGNATURE_LENGTH : 0);
      if (n - i < total) {
        // Waiting for the rest of this candidate could stall a quiet link for seconds (a bit
        // flip that turns a payload byte into STX reads as a 190-byte frame; at one HEARTBEAT a
        // second that is ten seconds, and the autopilot's GCS failsafe fires). If the candidate's
        // id is unknown (so its CRC could never be checked) and a complete, CRC-verified frame
        // already starts inside it, the candidate was noise. A known id is waited for: its
        // length is bounded by the dialect, and its payload may carry MAVLink bytes of its own
        // (FTP, SERIAL_CONTROL) that must not cut it short.
        const resync = atEnd || info ? -1 : this.verifiedFrameInside(buf, i + 1, n);
        if (resync >= 0) {
          stats.garbageBytes += resync - i;
          i = resync;
          continue;
        }
        if (!atEnd) return i;
        stats.garbageBytes++;
        i++;
        continue;
      }
      const crcAt = i + headerLen + len;
      if (info) {
        const crc = frameCrc(buf, i + 1, crcAt, info.crcExtra);
        if (crc !== (buf[crcAt]! | (buf[crcAt + 1]! << 8))) {
          stats.badCrc++;
          stats.garbageBytes++;
          i++;
          continue;
        }
      } else {
        // Unknown id: look ahead for the next start marker before trusting the length byte.
        if (i + total < n) {
          const next = buf[i + total];
          if (next !== STX_V2 && next !== STX_V1) {
            stats.garbageBytes++;
            i++;
            continue;
          }
        } else if (!atEnd) {
          return i;
        }
        stats.unknown++;
      }
      stats.frames++;
      this.onFrame({
        raw: buf.subarray(i, i + total),
        version: v2 ? 2 : 1,
        payloadLength: len,
        incompatFlags: incompat,
        seq: buf[i + (v2 ? 4 : 2)]!,
        sysid: buf[i + (v2 ? 5 : 3)]!,
        compid: buf[i + (v2 ? 6 : 4)]!,
        msgid,
        signed,
        known: info !== undefined,
      });
      i += total;
    }
    return i;
  }
}

export { MAX_FRAME };
