import { MavLinkProtocolV2 } from 'node-mavlink';
// node-mavlink's field readers (not re-exported from its index).
import serialization from 'node-mavlink/dist/lib/serialization.js';
import type { MavLinkData, MavLinkDataConstructor } from 'mavlink-mappings';
import { frameCrc } from './crc.ts';
import { messageInfo, type MessageInfo } from './dialect.ts';
import { MavlinkError } from '../errors.ts';

/** MAVLink start-of-frame markers (mavlink.io/en/guide/serialization.html). */
export const STX_V1 = 0xfe;
export const STX_V2 = 0xfd;
export const HEADER_V1 = 6;
export const HEADER_V2 = 10;
export const SIGNATURE_LENGTH = 13;
/** incompat_flags bit 0: the frame carries a 13-byte signature (MAVLink 2 signing). */
export const IFLAG_SIGNED = 0x01;

/** One frame exactly as it crossed the wire: routed and logged verbatim, decoded on demand. */
export interface Frame {
  /** The whole frame (header, payload, CRC and, if signed, the signature). Never modified. */
  raw: Buffer;
  version: 1 | 2;
  payloadLength: number;
  incompatFlags: number;
  seq: number;
  sysid: number;
  compid: number;
  msgid: number;
  signed: boolean;
  /** Message id is in the loaded dialects, so its CRC was verified with CRC_EXTRA. */
  known: boolean;
}

export function payloadOffset(f: Frame): number {
  return f.version === 2 ? HEADER_V2 : HEADER_V1;
}

/** target_system / target_component of a frame, 0 (broadcast) when the message has none. */
export function frameTarget(f: Frame): { system: number; component: number } {
  const info = f.known ? messageInfo(f.msgid) : undefined;
  if (!info || info.targetSystemOffset < 0) return { system: 0, component: 0 };
  const off = payloadOffset(f);
  // MAVLink 2 truncates trailing zero bytes: a field beyond the payload length is 0.
  const sys = info.targetSystemOffset < f.payloadLength ? f.raw[off + info.targetSystemOffset]! : 0;
  const comp = info.targetComponentOffset >= 0 && info.targetComponentOffset < f.payloadLength ? f.raw[off + info.targetComponentOffset]! : 0;
  return { system: sys, component: comp };
}

type FieldReader = (buffer: Buffer, offset: number, length: number) => unknown;
const READERS = serialization.DESERIALIZERS as unknown as Record<string, FieldReader>;

/**
 * Decodes a known frame into its node-mavlink data class (zero-filling truncated bytes), with
 * node-mavlink's own field readers. The instance is made without running the class constructor:
 * mavlink-mappings' constructors default every enum field with `Object.keys(Enum)` (SYS_STATUS
 * alone does it six times), which cost more than the decoding itself; every field is set below.
 */
export function decodeFrame(f: Frame): MavLinkData | undefined {
  const info = messageInfo(f.msgid);
  if (!info || !f.known) return undefined;
  const off = payloadOffset(f);
  const payload = Buffer.alloc(Math.max(info.maxLength, f.payloadLength));
  f.raw.copy(payload, 0, off, off + f.payloadLength);
  const instance = Object.create(info.clazz.prototype) as Record<string, unknown>;
  for (const field of info.clazz.FIELDS) instance[field.name] = READERS[field.type]!(payload, field.offset, field.length);
  return instance as unknown as MavLinkData;
}

export interface EncodeOptions {
  sysid: number;
  compid: number;
  seq: number;
  version?: 1 | 2;
  /** Leave room for and set the signed flag; the signer fills the 13 bytes. */
  signed?: boolean;
}

const encoder = new MavLinkProtocolV2();

/** Payload bytes of a message, MAVLink 2 truncated (trailing zeros removed, at least 1 byte). */
export function encodePayload(msg: MavLinkData): Buffer {
  let full: Buffer;
  try {
    full = encoder.serialize(msg, 0);
  } catch (err) {
    // node-mavlink throws a bare RangeError; say which field of which message was out of range.
    const ctor = msg.constructor as MavLinkDataConstructor<MavLinkData>;
    const bad = ctor.FIELDS.find((f) => {
      const v = (msg as unknown as Record<string, unknown>)[f.name];
      return typeof v === 'number' && !fits(v, f.type);
    });
    const what = bad ? `${bad.source} = ${(msg as unknown as Record<string, unknown>)[bad.name]} does not fit ${bad.type}` : String(err);
    throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `cannot encode ${ctor.MSG_NAME}: ${what}`, { cause: err });
  }
  return full.subarray(HEADER_V2, full.length - 2);
}

const INT_RANGES: Record<string, [number, number]> = {
  int8_t: [-128, 127],
  uint8_t: [0, 255],
  int16_t: [-32768, 32767],
  uint16_t: [0, 65535],
  int32_t: [-(2 ** 31), 2 ** 31 - 1],
  uint32_t: [0, 2 ** 32 - 1],
};

function fits(v: number, type: string): boolean {
  const r = INT_RANGES[type];
  return !r || (v >= r[0] && v <= r[1]);
}

export function infoOf(msg: MavLinkData): MessageInfo {
  const ctor = msg.constructor as MavLinkDataConstructor<MavLinkData>;
  const info = messageInfo(ctor.MSG_ID);
  if (!info) throw new MavlinkError('CANOPY_ERR_UNKNOWN_MESSAGE', `message ${ctor.MSG_NAME} (${ctor.MSG_ID}) is not in the loaded dialects`);
  return info;
}

/**
 * Builds a frame for `msg`. MAVLink 1 carries the base payload untruncated and cannot carry ids
 * above 255 or extensions; MAVLink 2 truncates trailing zero bytes (serialization.html#payload_truncation).
 */
export function encodeFrame(msg: MavLinkData, o: EncodeOptions): Buffer {
  const info = infoOf(msg);
  const payload = encodePayload(msg);
  if ((o.version ?? 2) === 1) {
    if (info.id > 255) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `${info.name} (${info.id}) cannot be sent as MAVLink 1`);
    const len = info.baseLength;
    const buf = Buffer.alloc(HEADER_V1 + len + 2);
    buf[0] = STX_V1;
    buf[1] = len;
    buf[2] = o.seq & 0xff;
    buf[3] = o.sysid;
    buf[4] = o.compid;
    buf[5] = info.id;
    payload.copy(buf, HEADER_V1, 0, Math.min(len, payload.length));
    buf.writeUInt16LE(frameCrc(buf, 1, HEADER_V1 + len, info.crcExtra), HEADER_V1 + len);
    return buf;
  }
  const len = payload.length;
  const buf = Buffer.alloc(HEADER_V2 + len + 2 + (o.signed ? SIGNATURE_LENGTH : 0));
  buf[0] = STX_V2;
  buf[1] = len;
  buf[2] = o.signed ? IFLAG_SIGNED : 0;
  buf[3] = 0;
  buf[4] = o.seq & 0xff;
  buf[5] = o.sysid;
  buf[6] = o.compid;
  buf[7] = info.id & 0xff;
  buf[8] = (info.id >> 8) & 0xff;
  buf[9] = (info.id >> 16) & 0xff;
  payload.copy(buf, HEADER_V2);
  buf.writeUInt16LE(frameCrc(buf, 1, HEADER_V2 + len, info.crcExtra), HEADER_V2 + len);
  return buf;
}

/** Reads the header of a complete raw frame (no CRC check); for frames built locally or from a tlog. */
export function frameFromRaw(raw: Buffer): Frame {
  const v2 = raw[0] === STX_V2;
  const msgid = v2 ? raw[7]! | (raw[8]! << 8) | (raw[9]! << 16) : raw[5]!;
  return {
    raw,
    version: v2 ? 2 : 1,
    payloadLength: raw[1]!,
    incompatFlags: v2 ? raw[2]! : 0,
    seq: v2 ? raw[4]! : raw[2]!,
    sysid: v2 ? raw[5]! : raw[3]!,
    compid: v2 ? raw[6]! : raw[4]!,
    msgid,
    signed: v2 && (raw[2]! & IFLAG_SIGNED) !== 0,
    known: messageInfo(msgid) !== undefined,
  };
}

const templates = new Map<MavLinkDataConstructor<MavLinkData>, Record<string, unknown>>();

/**
 * A new message with its class's default field values, made by copying a cached instance instead
 * of running the constructor again (see decodeFrame for why that matters at swarm rates).
 */
export function newMessage<T extends MavLinkData>(clazz: MavLinkDataConstructor<T>): T {
  let template = templates.get(clazz);
  if (!template) templates.set(clazz, (template = new clazz() as unknown as Record<string, unknown>));
  const m = Object.create(clazz.prototype) as Record<string, unknown>;
  for (const k in template) {
    const v = template[k];
    m[k] = Array.isArray(v) ? [...v] : v;
  }
  return m as unknown as T;
}
