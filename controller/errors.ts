/** The application's codes, and the table of every code of every layer. */
import { CodedError, isCodedError, MAVLINK_ERROR_CODES } from '../firmware-bridge/errors.ts';
import { HARDWARE_ERROR_CODES } from '../hardware/errors.ts';

export const CONTROLLER_ERROR_CODES = {
  CANOPY_ERR_CONFIG: 'invalid configuration or scenario file',
  CANOPY_ERR_STATE: 'not possible in the current state (not started, closed; a drone not faulted or still armed)',
  CANOPY_ERR_UNAVAILABLE: 'not available here (not on this site, or an optional package is not installed)',
  CANOPY_ERR_NOT_FOUND: 'a file, directory or name given does not exist or cannot be read',
  CANOPY_ERR_CANNOT_OPEN: 'a file or database cannot be created or opened',
  CANOPY_ERR_INTERNAL: 'an unexpected failure inside Canopy (a bug: please report it)',
  CANOPY_ERR_STORE_NOT_FOUND: 'no such chunk in the store',
  CANOPY_ERR_STORE_CORRUPT: 'stored data does not match its hash or authentication tag',
  CANOPY_ERR_STORE_QUOTA: 'the store class is full',
  CANOPY_ERR_STORE_PASSPHRASE: 'wrong passphrase',
  CANOPY_ERR_STORE_MANIFEST: 'unreadable backup manifest',
  CANOPY_ERR_STORE_SHARES: 'not enough erasure-code shares to rebuild',
  CANOPY_ERR_STORE_SEAL: 'sealing a chunk failed (a seal worker failed or stopped)',
} as const;

/** Every code of the application, by layer: the library's, the hardware adapters', the controller's. */
export const ERROR_CODES = { ...MAVLINK_ERROR_CODES, ...HARDWARE_ERROR_CODES, ...CONTROLLER_ERROR_CODES } as const;

export type CanopyErrorCode = keyof typeof ERROR_CODES;

/** The controller's (and the simulator's) error: any code of the application. */
export class CanopyError extends CodedError<CanopyErrorCode> {}

/** isCodedError, with the code names checked against the application's. */
export const isCanopyError: <Code extends CanopyErrorCode>(e: unknown, code?: Code) => e is CodedError<Code> = isCodedError;
