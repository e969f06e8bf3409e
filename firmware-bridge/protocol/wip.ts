/**
 * Messages of MAVLink's common.xml that mavlink-mappings lacks because they are marked WIP there,
 * but that autopilots send. Defined as mavlink-mappings defines its own (fields in wire order:
 * sorted by type size, MAVLink 1 part first), with CRC_EXTRA computed from the definition as the
 * spec says (crc.ts crcExtra), so the framer checks their CRCs like any other message's.
 */
import { MavLinkData, MavLinkPacketField, type MavLinkPacketRegistry } from 'mavlink-mappings';
import { crcExtra } from './crc.ts';

/** MAV_PARAM_ERROR (common.xml, WIP): why a parameter request failed. 6–8 are in PX4's newer copy of common.xml, and PX4 sends them. */
export enum MavParamError {
  NO_ERROR = 0,
  DOES_NOT_EXIST = 1,
  VALUE_OUT_OF_RANGE = 2,
  PERMISSION_DENIED = 3,
  COMPONENT_NOT_FOUND = 4,
  READ_ONLY = 5,
  TYPE_UNSUPPORTED = 6,
  TYPE_MISMATCH = 7,
  READ_FAIL = 8,
}

/**
 * PARAM_ERROR (345, common.xml, WIP): the answer to a parameter request that failed, to the system
 * and component that asked, with the name and index of the request. ArduPilot (since October
 * 2025, 4.8) sends it for a PARAM_REQUEST_READ or PARAM_SET of a name it does not have
 * (GCS_Param.cpp send_param_error); PX4 main also for a PARAM_SET of the wrong type
 * (mavlink_parameters.cpp send_error).
 */
export class ParamError extends MavLinkData {
  static override MSG_ID = 345;
  static override MSG_NAME = 'PARAM_ERROR';
  static override PAYLOAD_LENGTH = 21;
  static override FIELDS = [
    new MavLinkPacketField('param_index', 'paramIndex', 0, false, 2, 'int16_t', ''),
    new MavLinkPacketField('target_system', 'targetSystem', 2, false, 1, 'uint8_t', ''),
    new MavLinkPacketField('target_component', 'targetComponent', 3, false, 1, 'uint8_t', ''),
    new MavLinkPacketField('param_id', 'paramId', 4, false, 1, 'char[]', '', 16),
    new MavLinkPacketField('error', 'error', 20, false, 1, 'uint8_t', ''),
  ];
  static override MAGIC_NUMBER = crcExtra(ParamError);
  targetSystem = 0;
  targetComponent = 0;
  /** 16 characters, NUL-terminated only when shorter. */
  paramId = '';
  /** -1 when the request named the parameter. */
  paramIndex = 0;
  error: MavParamError = MavParamError.NO_ERROR;
}

export const REGISTRY: MavLinkPacketRegistry = { [ParamError.MSG_ID]: ParamError };
