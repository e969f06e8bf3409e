/**
 * Coded errors, listed in one place (fastify's lib/errors.js habit). Every error a user can hit
 * carries a stable `code` and a message that says what was wrong and how to fix it.
 */
export const ERROR_CODES = {
  CANOPY_ERR_LINK_URL: 'malformed link URL',
  CANOPY_ERR_SERIAL_NOT_FOUND: 'serial device does not exist',
  CANOPY_ERR_SERIAL_PERMISSION: 'no permission to open the serial device',
  CANOPY_ERR_PORT_IN_USE: 'network port already in use',
  CANOPY_ERR_LINK_DOWN: 'link is down',
  CANOPY_ERR_TIMEOUT: 'no answer before the timeout',
  CANOPY_ERR_DENIED: 'the vehicle refused the request',
  CANOPY_ERR_BAD_ARGUMENT: 'bad argument',
  CANOPY_ERR_UNKNOWN_VEHICLE: 'no such vehicle',
  CANOPY_ERR_UNKNOWN_MESSAGE: 'message id not in the loaded dialects',
  CANOPY_ERR_TLOG: 'unreadable tlog file',
  CANOPY_ERR_CANCELLED: 'cancelled',
  CANOPY_ERR_CONFIG: 'invalid configuration or scenario file',
  CANOPY_ERR_RADIO_NO_ANSWER: 'the radio did not answer in AT command mode',
  CANOPY_ERR_RADIO_REFUSED: 'the radio refused an AT command or value',
  CANOPY_ERR_RADIO_VERIFY: 'a radio setting read back differs from the one written',
  CANOPY_ERR_STORE_NOT_FOUND: 'no such chunk in the store',
  CANOPY_ERR_STORE_CORRUPT: 'stored data does not match its hash or authentication tag',
  CANOPY_ERR_STORE_QUOTA: 'the store class is full',
  CANOPY_ERR_STORE_PASSPHRASE: 'wrong passphrase',
  CANOPY_ERR_STORE_MANIFEST: 'unreadable backup manifest',
  CANOPY_ERR_STORE_SHARES: 'not enough erasure-code shares to rebuild',
  CANOPY_ERR_STORE_SEAL: 'sealing a chunk failed (a seal worker failed or stopped)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class CanopyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'CanopyError';
    this.code = code;
  }
}

export function isCanopyError(e: unknown, code?: ErrorCode): e is CanopyError {
  return e instanceof CanopyError && (code === undefined || e.code === code);
}
