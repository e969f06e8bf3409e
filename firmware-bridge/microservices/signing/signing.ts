/**
 * MAVLink 2 message signing (mavlink.io/en/guide/message_signing.html).
 *
 * signature = first 6 bytes of SHA-256(secret key (32) + header (10, with STX) + payload + CRC (2)
 *             + link id (1) + timestamp (6, little endian))
 * timestamp = 10 µs units since 2015-01-01T00:00:00Z.
 *
 * One MavlinkSigning holds the node's "local timestamp" for all its channels. Outgoing timestamps
 * strictly increase, even for frames sent in the same 10 µs (node-mavlink reuses them; the C
 * library drops a frame whose timestamp is not above the last), and survive a restart: a
 * reservation ahead of use is persisted through an injected store, and a restart resumes above it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { common } from 'mavlink-mappings';
import type { ChannelSigning, SignatureVerdict } from '../../channel.ts';
import type { Clock } from '../../clock.ts';
import { MavlinkError } from '../../errors.ts';
import type { MessagePort } from '../../node.ts';
import { payloadOffset, SIGNATURE_LENGTH, type Frame } from '../../protocol/frame.ts';

/** 2015-01-01T00:00:00Z, the signing epoch. */
export const SIGNING_EPOCH_MS = Date.UTC(2015, 0, 1);
/** "Accepting signed packets": a new stream more than one minute (6,000,000 × 10 µs) behind is refused. */
export const NEW_STREAM_TOLERANCE = 6_000_000;
/**
 * A signed frame more than this far ahead of local time (10 µs units; one minute) is refused.
 * The spec has a correctly signed newer timestamp raise the local one; from a peer with a bad
 * clock (a year ahead, say) that would make every later stream look a year stale, so one bad
 * frame could shut every honest stream out until the clock caught up.
 */
export const FUTURE_TOLERANCE = 6_000_000;
/** SiK radios inject RADIO_STATUS themselves and cannot sign it. */
const RADIO_STATUS = 109;
/**
 * Timestamps reserved (and persisted) ahead of use: one minute, the spec's "store the timestamp
 * at least once a minute", but saved only when a reservation runs out instead of by a timer.
 */
const RESERVE_AHEAD = 60 * 100_000;

/** Signing timestamp for a clock reading (ms since the Unix epoch). */
export function signingTimestamp(clockMs: number): number {
  return Math.max(0, Math.floor((clockMs - SIGNING_EPOCH_MS) * 100));
}

/** The 6-byte MAC over a frame whose signed flag, link id and timestamp are already in place. */
export function computeSignature(key: Buffer, frame: Buffer): Buffer {
  return createHash('sha256').update(key).update(frame.subarray(0, frame.length - 6)).digest().subarray(0, 6);
}

/**
 * "Secret key management": GCSs should accept a passphrase and use its SHA-256 as the key
 * (MAVProxy's `signing setup PASSPHRASE` does the same, so keys interoperate).
 */
export function keyFromPassphrase(passphrase: string): Buffer {
  if (!passphrase) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', 'a signing passphrase must not be empty');
  return createHash('sha256').update(passphrase, 'utf8').digest();
}

/** Where the local timestamp survives restarts (a file, a database row: the caller decides). */
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
  /** Drop unsigned frames (except RADIO_STATUS) and signed frames we hold no key for. */
  requireSigned?: boolean;
  /** Sign what we send whenever a key is known for the target (default true). */
  signOutgoing?: boolean;
  store?: TimestampStore;
  /** How far ahead of local time a signed timestamp may be (10 µs units). Default FUTURE_TOLERANCE. */
  futureTolerance?: number;
}

export interface SigningStats {
  /** Frames we signed. */
  signed: number;
  /** Incoming signed frames accepted. */
  verified: number;
  badSignature: number;
  replayed: number;
  /** Signed frames timestamped more than the tolerance ahead of local time. */
  future: number;
  /** Unsigned frames refused by the require-signed policy. */
  unsigned: number;
  /** Signed frames from a system we hold no key for (refused under require-signed, else passed as unsigned). */
  noKey: number;
}

function checkKey(key: Buffer, what: string): Buffer {
  if (!Buffer.isBuffer(key) || key.length !== 32) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `${what} must be 32 bytes, got ${Buffer.isBuffer(key) ? key.length : typeof key}`);
  return key;
}

export class MavlinkSigning implements ChannelSigning {
  readonly stats: SigningStats = { signed: 0, verified: 0, badSignature: 0, replayed: 0, future: 0, unsigned: 0, noKey: 0 };
  requireSigned: boolean;
  private readonly clock: Clock;
  private readonly keys: Map<number, Buffer>;
  private networkKey: Buffer | undefined;
  private readonly signOutgoing: boolean;
  private readonly store: TimestampStore | undefined;
  /** The spec's local timestamp: the last one we used, or the newest accepted from a peer. */
  private local: number;
  private reservedUntil: number;
  /** Our own local time: the clock, or what we used before a restart if the clock is behind it. */
  private readonly floor: number;
  private readonly futureTolerance: number;
  /** Last accepted timestamp per stream, keyed (linkId << 16 | sysid << 8 | compid). */
  private readonly streams = new Map<number, number>();

  constructor(opts: SigningOptions) {
    this.clock = opts.clock;
    this.networkKey = opts.networkKey && checkKey(opts.networkKey, 'network signing key');
    this.keys = new Map([...(opts.keys ?? [])].map(([s, k]) => [s, checkKey(k, `signing key for system ${s}`)]));
    this.requireSigned = opts.requireSigned ?? false;
    this.signOutgoing = opts.signOutgoing ?? true;
    this.store = opts.store;
    // "Timestamp handling": start at the larger of the clock and the stored timestamp. The stored
    // value is a reservation above everything used before the restart, so nothing is reused.
    const persisted = this.store?.load() ?? 0;
    this.local = persisted;
    this.reservedUntil = persisted;
    this.floor = persisted;
    this.futureTolerance = opts.futureTolerance ?? FUTURE_TOLERANCE;
  }

  /** Installs the key for one drone (it takes precedence over the network key). */
  setKey(sysid: number, key: Buffer): void {
    this.keys.set(sysid, checkKey(key, `signing key for system ${sysid}`));
  }

  setNetworkKey(key: Buffer): void {
    this.networkKey = checkKey(key, 'network signing key');
  }

  private keyFor(sysid: number): Buffer | undefined {
    return this.keys.get(sysid) ?? this.networkKey;
  }

  /**
   * Moves the local timestamp up to `timestamp` (never down): SETUP_SIGNING's initial_timestamp,
   * which a vehicle adopts with the key so it starts above every timestamp the GCS has used.
   */
  adoptTimestamp(timestamp: number): void {
    if (timestamp > this.local) this.local = timestamp;
  }

  /** Takes the next outgoing timestamp: the clock's, or one above the local timestamp if that is ahead. */
  nextTimestamp(): number {
    const ts = Math.max(signingTimestamp(this.clock.now()), this.local + 1);
    this.local = ts;
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
    if (!key) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `no signing key for system ${targetSysid}`);
    const at = frame.length - SIGNATURE_LENGTH;
    frame[at] = linkId & 0xff;
    frame.writeUIntLE(this.nextTimestamp(), at + 1, 6);
    computeSignature(key, frame).copy(frame, at + 7);
    this.stats.signed++;
  }

  verify(frame: Frame, _linkId: number): SignatureVerdict {
    if (!frame.signed) {
      // "Accepting unsigned packets": a signing system may still take some unsigned messages;
      // RADIO_STATUS comes from the local SiK radio, which has no key.
      if (!this.requireSigned || frame.msgid === RADIO_STATUS) return 'unsigned-allowed';
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
    if (!timingSafeEqual(computeSignature(key, raw), raw.subarray(at + 7, at + SIGNATURE_LENGTH))) {
      this.stats.badSignature++;
      return 'bad-signature';
    }
    // "Accepting signed packets": replay protection per (sysid, compid, link id) stream, with the
    // link id the sender put in the signature. A known stream must move forward; a new stream
    // must not be more than a minute behind our local timestamp.
    const timestamp = raw.readUIntLE(at + 1, 6);
    // Beyond the spec: not more than a minute ahead of our own time (see FUTURE_TOLERANCE).
    if (timestamp > Math.max(signingTimestamp(this.clock.now()), this.floor) + this.futureTolerance) {
      this.stats.future++;
      return 'future';
    }
    const streamKey = (raw[at]! << 16) | (frame.sysid << 8) | frame.compid;
    const last = this.streams.get(streamKey);
    const stale = last !== undefined ? timestamp <= last : timestamp + NEW_STREAM_TOLERANCE < Math.max(signingTimestamp(this.clock.now()), this.local);
    if (stale) {
      this.stats.replayed++;
      return 'replay';
    }
    this.streams.set(streamKey, timestamp);
    // "Timestamp handling": a correctly signed packet newer than our local timestamp moves it on.
    if (timestamp > this.local) this.local = timestamp;
    this.stats.verified++;
    return 'ok';
  }

  /**
   * This signing state (keys, local timestamp, replay windows) under another policy for one
   * channel: a GCS link that must sign while the drone links may not, or the other way round.
   */
  withPolicy(policy: { requireSigned: boolean }): ChannelSigning {
    return {
      wantsSigned: (target) => this.wantsSigned(target),
      sign: (frame, linkId, target) => this.sign(frame, linkId, target),
      verify: (frame, linkId) => {
        const was = this.requireSigned;
        this.requireSigned = policy.requireSigned;
        try {
          return this.verify(frame, linkId);
        } finally {
          this.requireSigned = was;
        }
      },
    };
  }

  /**
   * Gives a drone its key: sends SETUP_SIGNING with our local timestamp (so the drone starts above
   * every timestamp we have used), then signs what we send to that drone with the new key. The
   * SETUP_SIGNING itself still travels under the previous policy (signed with the old key, or
   * unsigned), since the drone cannot check the new key before it has it.
   */
  handOverKey(port: MessagePort, key: Buffer): void {
    sendSetupSigning(port, key, this.nextTimestamp());
    this.setKey(port.target.sysid, key);
  }
}

/**
 * Sends SETUP_SIGNING (msg 256) to the port's target. The key crosses in the clear: the spec asks
 * that it only be accepted over a secure link (USB, or a radio the owner trusts), which is the
 * drone's policy to enforce. A zero key with timestamp 0 disables signing on the drone.
 */
export function sendSetupSigning(port: MessagePort, key: Buffer, initialTimestamp = signingTimestamp(port.clock.now())): void {
  checkKey(key, 'signing key');
  const msg = new common.SetupSigning();
  msg.targetSystem = port.target.sysid;
  msg.targetComponent = port.target.compid;
  msg.secretKey = [...key];
  msg.initialTimestamp = BigInt(initialTimestamp);
  port.send(msg);
}
