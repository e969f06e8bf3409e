/**
 * Coded errors (fastify's lib/errors.js habit). Every error a user can hit carries a stable `code`
 * and a message that says what was wrong and how to fix it. The base class and its check live here,
 * in the library every layer may import; each layer lists its own codes (this file the library's,
 * hardware/errors.ts the adapters', common/errors.ts the application's and the exit codes).
 */
export class CodedError<Code extends string = string> extends Error {
  readonly code: Code;
  constructor(code: Code, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** True for a coded error of any layer; with `code`, of that code. */
export function isCodedError<Code extends string = string>(e: unknown, code?: Code): e is CodedError<Code> {
  return e instanceof CodedError && (code === undefined || e.code === code);
}

/** The library's codes: links, protocol, vehicles, tlogs, and its own arguments. */
export const MAVLINK_ERROR_CODES = {
  CANOPY_ERR_LINK_URL: 'malformed link URL',
  CANOPY_ERR_SERIAL_NOT_FOUND: 'serial device does not exist',
  CANOPY_ERR_SERIAL_PERMISSION: 'no permission to open the serial device',
  CANOPY_ERR_PORT_IN_USE: 'network port already in use',
  CANOPY_ERR_LINK_DOWN: 'link is down',
  CANOPY_ERR_TIMEOUT: 'no answer before the timeout',
  CANOPY_ERR_DENIED: 'the request was refused (by a vehicle, the broker, a peer or a rule of Canopy)',
  CANOPY_ERR_BAD_ARGUMENT: 'bad argument',
  CANOPY_ERR_UNKNOWN_VEHICLE: 'no such vehicle',
  CANOPY_ERR_UNKNOWN_MESSAGE: 'message id not in the loaded dialects',
  CANOPY_ERR_TLOG: 'unreadable tlog file',
  CANOPY_ERR_CANCELLED: 'cancelled',
} as const;

export type MavlinkErrorCode = keyof typeof MAVLINK_ERROR_CODES;

export class MavlinkError extends CodedError<MavlinkErrorCode> {}
