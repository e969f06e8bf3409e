/**
 * Parameter protocol (mavlink.io/en/services/parameter.html).
 *  - list: PARAM_REQUEST_LIST, PARAM_VALUEs collected by index; after a quiet period the missing
 *    indices are re-requested one by one with PARAM_REQUEST_READ (bounded rounds), as MAVSDK's
 *    MavlinkParameterClient does. The result says which indices are still missing.
 *  - read: PARAM_REQUEST_READ by name.
 *  - set: PARAM_SET, then wait for the PARAM_VALUE echo with the same name; the value is
 *    compared in the parameter's own type, so a rejected or clamped set is reported.
 *  - A PARAM_ERROR for the name (common.xml, WIP; ArduPilot 4.8 sends it for a name it does not
 *    have) ends a read or set at once, with the autopilot's reason; firmware without it is silent
 *    and the request times out.
 * Value encoding: ArduPilot sends integers "cast" to float (the float holds the number); PX4 packs
 * integer bytes into the float's bytes (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE).
 */
import { common, type MavLinkData } from 'mavlink-mappings';
import type { MessagePort } from '../../node.ts';
import { MavParamError, ParamError } from '../../protocol/wip.ts';
import { waitForAny } from '../waiter.ts';

export type ParamEncoding = 'cast' | 'bytewise';

export interface ParamValue {
  name: string;
  value: number;
  type: common.MavParamType;
  index: number;
}

/**
 * A parameter by the names it has had across firmware versions (newest first: ArduPilot 4.7 made
 * SYSID_THISMAV MAV_SYSID and SRn_* MAVn_*), and the value wanted.
 */
export interface ParamSpec {
  names: readonly string[];
  value: number;
  /** What the value does, for the log and the operator. */
  means: string;
}

export type ParamEnsureResult = { ok: true; name: string; changed: boolean } | { ok: false; reason: 'absent' | 'timeout' | 'rejected'; detail: string };

/**
 * Why a read or set failed: no answer (`timeout`), the autopilot has no such name (`absent`:
 * PARAM_ERROR DOES_NOT_EXIST), or it refused (`rejected`: another PARAM_ERROR, or a set's echo
 * with another value). `error` is the PARAM_ERROR's code when one came.
 */
export type ParamFailure = { ok: false; reason: 'timeout' | 'absent' | 'rejected'; error?: MavParamError; detail: string };

export type ParamListResult = { ok: true; params: Map<string, ParamValue> } | { ok: false; reason: 'timeout' | 'incomplete'; params: Map<string, ParamValue>; missing: number[]; detail: string };
export type ParamReadResult = { ok: true; param: ParamValue } | ParamFailure;
export type ParamSetResult = { ok: true; param: ParamValue } | (ParamFailure & { param?: ParamValue });

/** MAV_PARAM_ERROR in words, for the operator. */
const PARAM_ERROR_TEXT: Record<MavParamError, string> = {
  [MavParamError.NO_ERROR]: 'no error',
  [MavParamError.DOES_NOT_EXIST]: 'does not exist',
  [MavParamError.VALUE_OUT_OF_RANGE]: 'value out of range',
  [MavParamError.PERMISSION_DENIED]: 'permission denied',
  [MavParamError.COMPONENT_NOT_FOUND]: 'component not found',
  [MavParamError.READ_ONLY]: 'read-only',
  [MavParamError.TYPE_UNSUPPORTED]: 'type not supported',
  [MavParamError.TYPE_MISMATCH]: 'not the parameter\'s type',
  [MavParamError.READ_FAIL]: 'could not be read from storage',
};

/** What a PARAM_ERROR says about parameter `name`, as a failed result. */
function paramErrorFailure(name: string, m: ParamError): ParamFailure {
  const why = PARAM_ERROR_TEXT[m.error as MavParamError] ?? `error ${m.error}`;
  return { ok: false, reason: m.error === MavParamError.DOES_NOT_EXIST ? 'absent' : 'rejected', error: m.error, detail: `parameter ${name}: ${why} (PARAM_ERROR from the autopilot)` };
}

/** PARAM_*'s param_id: 16 characters, NUL-terminated only when shorter. */
const sameName = (paramId: string, name: string) => paramId.replace(/\0.*$/s, '') === name;

export interface ParamOptions {
  encoding?: ParamEncoding;
  timeoutMs?: number;
  retries?: number;
  /** Silence after which a list transfer is considered to have stopped. */
  listQuietMs?: number;
  /** Rounds of re-requesting missing indices. */
  listRounds?: number;
}

const DEFAULTS = { encoding: 'cast' as ParamEncoding, timeoutMs: 1500, retries: 3, listQuietMs: 1000, listRounds: 3 };

const INT_TYPES: Partial<Record<common.MavParamType, (b: Buffer) => number>> = {
  [common.MavParamType.UINT8]: (b) => b.readUInt8(0),
  [common.MavParamType.INT8]: (b) => b.readInt8(0),
  [common.MavParamType.UINT16]: (b) => b.readUInt16LE(0),
  [common.MavParamType.INT16]: (b) => b.readInt16LE(0),
  [common.MavParamType.UINT32]: (b) => b.readUInt32LE(0),
  [common.MavParamType.INT32]: (b) => b.readInt32LE(0),
};

/** The number a PARAM_VALUE's float field stands for, given the encoding. */
export function decodeParamValue(raw: number, type: common.MavParamType, encoding: ParamEncoding): number {
  const read = INT_TYPES[type];
  if (encoding === 'cast' || !read) return type === common.MavParamType.REAL32 ? raw : Math.round(raw);
  const b = Buffer.alloc(4);
  b.writeFloatLE(raw);
  return read(b);
}

/** The float to put in PARAM_SET for a value of `type`. */
export function encodeParamValue(value: number, type: common.MavParamType, encoding: ParamEncoding): number {
  const read = INT_TYPES[type];
  if (encoding === 'cast' || !read) return value;
  const b = Buffer.alloc(4);
  if (type === common.MavParamType.UINT32 || type === common.MavParamType.UINT16 || type === common.MavParamType.UINT8) b.writeUInt32LE(value >>> 0);
  else b.writeInt32LE(value | 0);
  return b.readFloatLE(0);
}

/** Values equal in the parameter's own type (floats compared as float32). */
function sameValue(a: number, b: number, type: common.MavParamType): boolean {
  if (type === common.MavParamType.REAL32) return Math.fround(a) === Math.fround(b);
  return Math.round(a) === Math.round(b);
}

export class ParamClient {
  /** Everything learned so far, by name. */
  readonly cache = new Map<string, ParamValue>();
  private readonly o: typeof DEFAULTS;

  constructor(
    private readonly port: MessagePort,
    opts: ParamOptions = {},
  ) {
    this.o = { ...DEFAULTS, ...opts };
  }

  private toValue(m: common.ParamValue): ParamValue {
    return { name: m.paramId, value: decodeParamValue(m.paramValue, m.paramType, this.o.encoding), type: m.paramType, index: m.paramIndex };
  }

  private request(msg: common.ParamRequestList | common.ParamRequestRead | common.ParamSet): void {
    msg.targetSystem = this.port.target.sysid;
    msg.targetComponent = this.port.target.compid;
    this.port.send(msg);
  }

  async list(): Promise<ParamListResult> {
    const byIndex = new Map<number, ParamValue>();
    let count = -1;
    let quiet: ReturnType<typeof this.port.clock.setTimeout> | undefined;
    let wake: (() => void) | undefined;
    const arm = () => {
      this.port.clock.clearTimeout(quiet);
      quiet = this.port.clock.setTimeout(() => wake?.(), this.o.listQuietMs);
    };
    const unsubscribe = this.port.onMessage((m) => {
      if (!(m instanceof common.ParamValue)) return;
      const v = this.toValue(m);
      this.cache.set(v.name, v);
      // Index 65535 marks a value sent on its own (not part of the list).
      if (m.paramIndex !== 65535) {
        byIndex.set(m.paramIndex, v);
        count = m.paramCount;
      }
      if (count >= 0 && byIndex.size >= count) wake?.();
      else arm();
    });
    const quietOrComplete = () => new Promise<void>((resolve) => (wake = resolve));
    try {
      let waiting = quietOrComplete();
      arm();
      this.request(new common.ParamRequestList());
      await waiting;
      for (let round = 0; count < 0 && round < this.o.retries; round++) {
        waiting = quietOrComplete();
        arm();
        this.request(new common.ParamRequestList());
        await waiting;
      }
      if (count < 0) return { ok: false, reason: 'timeout', params: new Map(), missing: [], detail: 'no PARAM_VALUE answered PARAM_REQUEST_LIST' };
      for (let round = 0; round < this.o.listRounds && byIndex.size < count; round++) {
        waiting = quietOrComplete();
        arm();
        for (let i = 0; i < count; i++) {
          if (byIndex.has(i)) continue;
          const r = new common.ParamRequestRead();
          r.paramIndex = i;
          r.paramId = '';
          this.request(r);
        }
        await waiting;
      }
    } finally {
      this.port.clock.clearTimeout(quiet);
      unsubscribe();
    }
    const params = new Map([...byIndex.values()].sort((a, b) => a.index - b.index).map((v) => [v.name, v]));
    const missing: number[] = [];
    for (let i = 0; i < count; i++) if (!byIndex.has(i)) missing.push(i);
    if (missing.length) return { ok: false, reason: 'incomplete', params, missing, detail: `${missing.length} of ${count} parameters never arrived` };
    return { ok: true, params };
  }

  /** Waits for the PARAM_VALUE of `name`, or the PARAM_ERROR that answers for it instead. */
  private answerFor(name: string) {
    const isAnswer = (m: MavLinkData): m is common.ParamValue | ParamError => (m instanceof common.ParamValue || m instanceof ParamError) && sameName(m.paramId, name);
    return waitForAny(this.port, isAnswer, this.o.timeoutMs);
  }

  async read(name: string): Promise<ParamReadResult> {
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      const wait = this.answerFor(name);
      const r = new common.ParamRequestRead();
      r.paramId = name;
      r.paramIndex = -1;
      this.request(r);
      const got = await wait.result;
      if (!got.ok) continue;
      if (got.message instanceof ParamError) return paramErrorFailure(name, got.message);
      const v = this.toValue(got.message);
      this.cache.set(name, v);
      return { ok: true, param: v };
    }
    return { ok: false, reason: 'timeout', detail: `no PARAM_VALUE for ${name}` };
  }

  /**
   * Makes a parameter hold a value: the name in use is looked up first (PARAM_REQUEST_READ of each
   * name in turn; an autopilot answers PARAM_ERROR for a name it lacks — ArduPilot 4.8 — or
   * nothing — older firmware), then it is written with the type the autopilot gave and the echo is
   * compared as that type. A parameter with none of its names is `absent`, not retried.
   */
  async ensure(spec: ParamSpec): Promise<ParamEnsureResult> {
    for (const name of spec.names) {
      const r = await this.read(name);
      if (!r.ok && r.reason === 'rejected') return { ok: false, reason: 'rejected', detail: r.detail };
      if (!r.ok) continue;
      if (sameValue(r.param.value, spec.value, r.param.type)) return { ok: true, name, changed: false };
      const s = await this.set(name, spec.value, r.param.type);
      if (s.ok) return { ok: true, name, changed: true };
      return { ok: false, reason: s.reason, detail: s.detail };
    }
    return { ok: false, reason: 'absent', detail: `no parameter ${spec.names.join(' or ')} on this autopilot (${spec.means})` };
  }

  /** Sets a parameter; the type comes from the cache (read or list first) unless given. */
  async set(name: string, value: number, type?: common.MavParamType): Promise<ParamSetResult> {
    const paramType = type ?? this.cache.get(name)?.type ?? common.MavParamType.REAL32;
    for (let attempt = 0; attempt <= this.o.retries; attempt++) {
      const wait = this.answerFor(name);
      const s = new common.ParamSet();
      s.paramId = name;
      s.paramValue = encodeParamValue(value, paramType, this.o.encoding);
      s.paramType = paramType;
      this.request(s);
      const got = await wait.result;
      if (!got.ok) continue;
      if (got.message instanceof ParamError) return paramErrorFailure(name, got.message);
      const echo = this.toValue(got.message);
      this.cache.set(name, echo);
      if (sameValue(echo.value, value, paramType)) return { ok: true, param: echo };
      return { ok: false, reason: 'rejected', param: echo, detail: `${name} is ${echo.value} after setting ${value}` };
    }
    return { ok: false, reason: 'timeout', detail: `no PARAM_VALUE echo for ${name}` };
  }
}
