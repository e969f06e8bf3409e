/**
 * MAVLink 2 message signing (mavlink.io/en/guide/message_signing.html).
 *
 * signature = first 6 bytes of SHA-256(secret key (32) + header (10, with STX) + payload + CRC (2)
 *             + link id (1) + timestamp (6, little endian))
 * timestamp = 10 µs units since 2015-01-01T00:00:00Z.
 *
 * Outgoing timestamps strictly increase, even for frames sent in the same 10 µs (node-mavlink
 * reuses them; the C library drops a frame whose timestamp is not above the last), and survive a
 * restart: a reservation ahead of use is persisted through an injected callback, and a restart
 * resumes above it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { common } from 'mavlink-mappings';
import type { ChannelSigning, SignatureVerdict } from '../../channel.ts';
import type { Clock } from '../../clock.ts';
import { CanopyError } from '../../errors.ts';
import type { MessagePort } from '../../node.ts';
import { payloadOffset, SIGNATURE_LENGTH, type Frame } from '../../protocol/frame.ts';

/** 2015-01-01T00:00:00Z, the signing epoch. */
export const SIGNING_EPOCH_MS = Date.UTC(2015, 0, 1);
/** Spec: a new stream more than one minute behind our timestamp is refused. */
export const NEW_STREAM_TOLERANCE = 6_000_000;
const RADIO_STATUS = 109;
const RESERVE_AHEAD = 60 * 100_000; // persist 60 s of timestamps ahead of use

/** Signing timestamp for a clock reading. */
export function signingTimestamp(clockMs: number): number {
  return Math.max(0, Math.floor((clockMs - SIGNING_EPOCH_MS) * 100));
}

/** The 6-byte MAC over a frame with its signed flag set and link id + timestamp already written. */
export function computeSignature(key: Buffer, frame: Buffer): Buffer {
  const signedPart = frame.length - 6;
  return createHash('sha256').update(key).update(frame.subarray(0, signedPart)).digest().subarray(0, 6);
}

export interface TimestampStore {
  load(): number | undefined;
  save(timestamp: number): void;
}

export interface SigningOptions {
  clock: Clock;
  /** Key for frames to and from every system without a key of its own. */
  networkKey?: Buffer;
  /** Keys per drone (sysid). */
  keys?: Map<number, Buffer>;
  /** Drop unsigned frames (except RADIO_STATUS, which SiK radios cannot sign). */
  requireSigned?: boolean;
  /** Sign what we send (default: when a key is known for the target). */
  signOutgoing?: boolean;
  store?: TimestampStore;
}

export interface SigningStats {
  signed: number;
  verified: number;
  badSignature: number;
  replayed: number;
  unsigned: number;
  noKey: number;
}

function checkKey(key: Buffer, what: string): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${what} must be 32 bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
  return key;
}

export class MavlinkSigning implements ChannelSigning {
  readonly stats: SigningStats = { signed: 0, verified: 0, badSignature: 0, replayed: 0, unsigned: 0, noKey: 0 };
  requireSigned: boolean;
  private readonly clock: Clock;
  private readonly keys: Map<number, Buffer>;
  private networkKey: Buffer | undefined;
  private readonly signOutgoing: boolean;
  private readonly store: TimestampStore | undefined;
  private last: number;
  private reservedUntil: number;
  /** Highest timestamp seen per stream: key (linkId << 16 | sysid << 8 | compid). */
  private readonly streams = new Map<number, number>();
  /** Highest timestamp seen on any stream (spec: part of the "local timestamp"). */
  private highestSeen = 0;

  constructor(opts: SigningOptions) {
    this.clock = opts.clock;
    this.networkKey = opts.networkKey && checkKey(opts.networkKey, 'network signing key');
    this.keys = new Map([...(opts.keys ?? [])].map(([s, k]) => [s, checkKey(k, `signing key for system ${s}`)]));
    this.requireSigned = opts.requireSigned ?? false;
    this.signOutgoing = opts.signOutgoing ?? true;
    this.store = opts.store;
    const persisted = this.store?.load() ?? 0;
    this.last = persisted;
    this.reservedUntil = persisted;
  }

  setKey(sysid: number, key: Buffer): void {
    this.keys.set(sysid, checkKey(key, `signing key for system ${sysid}`));
  }

  setNetworkKey(key: Buffer): void {
    this.networkKey = checkKey(key, 'network signing key');
  }

  private keyFor(sysid: number): Buffer | undefined {
    return this.keys.get(sysid) ?? this.networkKey;
  }

  /** Next outgoing timestamp: the clock's, or one above the last if the clock has not moved on. */
  nextTimestamp(): number {
    const ts = Math.max(signingTimestamp(this.clock.now()), this.last + 1);
    this.last = ts;
    if (this.store && ts >= this.reservedUntil) {
      this.reservedUntil = ts + RESERVE_AHEAD;
      this.store.save(this.reservedUntil);
    }
    return ts;
  }

  wantsSigned(targetSysid: number): boolean {
    return this.signOutgoing && this.keyFor(targetSysid) !== undefined;
  }

  sign(frame: Buffer, linkId: number, targetSysid: number): void {
    const key = this.keyFor(targetSysid);
    if (!key) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `no signing key for system ${targetSysid}`);
    const at = frame.length - SIGNATURE_LENGTH;
    frame[at] = linkId & 0xff;
    frame.writeUIntLE(this.nextTimestamp(), at + 1, 6);
    computeSignature(key, frame).copy(frame, at + 7);
    this.stats.signed++;
  }

  verify(frame: Frame, _linkId: number): SignatureVerdict {
    if (!frame.signed) {
      if (!this.requireSigned) return 'unsigned-allowed';
      if (frame.msgid === RADIO_STATUS) return 'unsigned-allowed';
      this.stats.unsigned++;
      return 'unsigned';
    }
    const key = this.keyFor(frame.sysid);
    if (!key) {
      this.stats.noKey++;
      return this.requireSigned ? 'no-key' : 'unsigned-allowed';
    }
    const raw = frame.raw;
    const at = payloadOffset(frame) + frame.payloadLength + 2;
    const frameLinkId = raw[at]!;
    const timestamp = raw.readUIntLE(at + 1, 6);
    if (!timingSafeEqual(computeSignature(key, raw), raw.subarray(at + 7, at + 13))) {
      this.stats.badSignature++;
      return 'bad-signature';
    }
    // Replay protection per (sysid, compid, link id) stream ("Accepting signed packets").
    const streamKey = (frameLinkId << 16) | (frame.sysid << 8) | frame.compid;
    const lastSeen = this.streams.get(streamKey);
    if (lastSeen !== undefined) {
      if (timestamp <= lastSeen) {
        this.stats.replayed++;
        return 'replay';
      }
    } else {
      const local = Math.max(signingTimestamp(this.clock.now()), this.highestSeen, this.last);
      if (timestamp + NEW_STREAM_TOLERANCE < local) {
        this.stats.replayed++;
        return 'replay';
      }
    }
    this.streams.set(streamKey, timestamp);
    if (timestamp > this.highestSeen) this.highestSeen = timestamp;
    this.stats.verified++;
    return 'ok';
  }
}

/**
 * Hands a key to a drone with SETUP_SIGNING (msg 256). The spec asks that this only travel over a
 * secure link (USB or a trusted radio), since the key crosses in the clear.
 */
export function sendSetupSigning(port: MessagePort, key: Buffer, initialTimestamp: number): void {
  checkKey(key, 'signing key');
  const msg = new common.SetupSigning();
  msg.targetSystem = port.target.sysid;
  msg.targetComponent = port.target.compid;
  msg.secretKey = [...key];
  msg.initialTimestamp = BigInt(initialTimestamp);
  port.send(msg);
}

