/**
 * The simulated autopilot's parameter server: the vehicle side of the parameter protocol
 * (https://mavlink.io/en/services/parameter.html). PARAM_REQUEST_LIST is answered with every
 * PARAM_VALUE in index order, PARAM_REQUEST_READ by index or name with that one, and PARAM_SET
 * stores the value and echoes it as PARAM_VALUE. A set is also saved: a reboot reads the stored
 * values back (`loadSaved`), whatever was changed in memory meanwhile.
 *
 * The firmware's dialect decides the details: ArduPilot casts values to float on the wire, takes a
 * set of any type and stores it cast to the parameter's; PX4 carries integers bytewise and refuses
 * a set whose type is not the parameter's. A request the firmware cannot serve (an unknown name or
 * index, a refused set) is answered with PARAM_ERROR to whoever asked (ArduPilot 4.8:
 * GCS_Param.cpp send_param_error; PX4: mavlink_parameters.cpp send_error); older ArduPilot
 * says nothing.
 */
import { common } from 'mavlink-mappings';
import { decodeParamValue, encodeParamValue, type ParamEncoding } from '../../firmware-bridge/microservices/param/param.ts';
import { newMessage, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import { MavParamError, ParamError } from '../../firmware-bridge/protocol/wip.ts';
import type { ParamDef } from '../params.ts';
import type { ServerEndpoint } from './endpoint.ts';

/** How a firmware puts parameter values on the wire and which sets it takes. */
export interface ParamDialect {
  encoding: ParamEncoding;
  /** A PARAM_SET must carry the parameter's own type (PX4: "param types mismatch"); otherwise it is cast. */
  typeMustMatch: boolean;
  /** A failed request is answered with PARAM_ERROR (ArduPilot 4.8, PX4); false: no answer at all (ArduPilot before). */
  paramErrors: boolean;
}

/** ArduPilot 4.8 (GCS_Param.cpp): values cast to float, a set of any type stored cast to the parameter's. */
export const ARDUPILOT_PARAMS: ParamDialect = { encoding: 'cast', typeMustMatch: false, paramErrors: true };
/** ArduPilot before PARAM_ERROR (4.7 and older): an unknown name gets no answer. */
export const LEGACY_ARDUPILOT_PARAMS: ParamDialect = { ...ARDUPILOT_PARAMS, paramErrors: false };
/** PX4 (mavlink_parameters.cpp): MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE, a mismatched type refused. */
export const PX4_PARAMS: ParamDialect = { encoding: 'bytewise', typeMustMatch: true, paramErrors: true };

/** PARAM_*'s param_id: 16 characters, NUL-terminated only when shorter. */
function paramName(paramId: string): string {
  return paramId.replace(/\0.*$/s, '');
}

export class ParamServer {
  /** The parameters as stored (PARAM_SET writes them; a reboot reads them back). */
  private readonly saved: Map<string, number>;

  constructor(
    private readonly endpoint: ServerEndpoint,
    /** The parameters in memory, in index order; shared with the vehicle, which reads them. */
    readonly params: Map<string, ParamDef>,
    private readonly dialect: ParamDialect,
  ) {
    this.saved = new Map([...params].map(([name, def]) => [name, def.value]));
  }

  /** Handles a parameter protocol message; false for any other message. */
  handle(m: unknown, frame: Frame): boolean {
    if (m instanceof common.ParamRequestList) {
      if (this.endpoint.isForUs(m.targetSystem)) this.sendAll();
    } else if (m instanceof common.ParamRequestRead) {
      if (this.endpoint.isForUs(m.targetSystem)) this.read(m, frame);
    } else if (m instanceof common.ParamSet) {
      if (this.endpoint.isForUs(m.targetSystem)) this.set(m, frame);
    } else return false;
    return true;
  }

  /** PARAM_ERROR to the system and component that asked, naming what they asked for. */
  private refuse(error: MavParamError, paramId: string, paramIndex: number, frame: Frame): void {
    if (!this.dialect.paramErrors) return;
    const e = newMessage(ParamError);
    e.targetSystem = frame.sysid;
    e.targetComponent = frame.compid;
    e.paramId = paramId;
    e.paramIndex = paramIndex;
    e.error = error;
    this.endpoint.sendTo(e, frame.sysid);
  }

  /** Puts the stored values back in memory, as a boot does. */
  loadSaved(): void {
    for (const [name, value] of this.saved) this.params.get(name)!.value = value;
  }

  private paramValue(name: string, index: number): common.ParamValue {
    const def = this.params.get(name)!;
    const v = newMessage(common.ParamValue);
    v.paramId = name;
    v.paramValue = encodeParamValue(def.value, def.type, this.dialect.encoding);
    v.paramType = def.type;
    v.paramCount = this.params.size;
    v.paramIndex = index;
    return v;
  }

  private sendAll(): void {
    let i = 0;
    for (const name of this.params.keys()) this.endpoint.broadcast(this.paramValue(name, i++));
  }

  /** By param_index, or by name when the index is -1. An unknown one: DOES_NOT_EXIST, with the name (empty for an index) and index asked for. */
  private read(m: common.ParamRequestRead, frame: Frame): void {
    const names = [...this.params.keys()];
    const index = m.paramIndex >= 0 ? m.paramIndex : names.indexOf(paramName(m.paramId));
    const name = names[index];
    if (name) this.endpoint.broadcast(this.paramValue(name, index));
    else this.refuse(MavParamError.DOES_NOT_EXIST, m.paramIndex >= 0 ? '' : paramName(m.paramId), m.paramIndex, frame);
  }

  private set(m: common.ParamSet, frame: Frame): void {
    const id = paramName(m.paramId);
    const def = this.params.get(id);
    // An unknown name, a value that is no number (ArduPilot), or (PX4) a type that is not the parameter's: refused, not echoed.
    if (!def) return this.refuse(MavParamError.DOES_NOT_EXIST, id, -1, frame);
    if (!this.dialect.typeMustMatch && !Number.isFinite(m.paramValue)) return this.refuse(MavParamError.VALUE_OUT_OF_RANGE, id, -1, frame);
    if (this.dialect.typeMustMatch && m.paramType !== def.type) return this.refuse(MavParamError.TYPE_MISMATCH, id, -1, frame);
    def.value = def.type === common.MavParamType.REAL32 ? Math.fround(m.paramValue) : this.dialect.encoding === 'cast' ? Math.trunc(m.paramValue) : decodeParamValue(m.paramValue, def.type, 'bytewise');
    this.saved.set(id, def.value);
    this.endpoint.broadcast(this.paramValue(id, [...this.params.keys()].indexOf(id)));
  }
}
