/**
 * The application's codes, the table of every code of every layer, and the one table that maps a
 * code to the exit code of `canopy` (sysexits.h, so that a script or systemd can tell failures apart).
 */
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
  CANOPY_ERR_STORE_EXISTS: 'a file to restore exists with other content (--overwrite replaces it)',
  CANOPY_ERR_DEFERRED: 'not done now: it waits for the power budget to grant it; try again then',
} as const;

/** Every code of the application, by layer: the library's, the hardware adapters', the controller's. */
export const ERROR_CODES = { ...MAVLINK_ERROR_CODES, ...HARDWARE_ERROR_CODES, ...CONTROLLER_ERROR_CODES } as const;

export type CanopyErrorCode = keyof typeof ERROR_CODES;

/** The controller's (and the simulator's) error: any code of the application. */
export class CanopyError extends CodedError<CanopyErrorCode> {}

/** isCodedError, with the code names checked against the application's. */
export const isCanopyError: <Code extends CanopyErrorCode>(e: unknown, code?: Code) => e is CodedError<Code> = isCodedError;

/** sysexits.h, and 130 for Ctrl-C as shells report it. */
export const EXIT = { usage: 64, data: 65, noInput: 66, unavailable: 69, software: 70, cantCreate: 73, io: 74, tempFail: 75, noPermission: 77, config: 78, interrupted: 130 } as const;

/**
 * The exit code of `canopy` for each code. An invalid canopy.yaml and a port another program holds
 * are EX_CONFIG, which the systemd unit does not restart on (RestartPreventExitStatus); every other
 * failure of `start` restarts.
 */
export const EXIT_CODES: Record<CanopyErrorCode, number> = {
  CANOPY_ERR_BAD_ARGUMENT: EXIT.usage,
  CANOPY_ERR_LINK_URL: EXIT.usage,
  CANOPY_ERR_UNKNOWN_MESSAGE: EXIT.data,
  CANOPY_ERR_TLOG: EXIT.data,
  CANOPY_ERR_STORE_CORRUPT: EXIT.data,
  CANOPY_ERR_STORE_MANIFEST: EXIT.data,
  CANOPY_ERR_STORE_SHARES: EXIT.data,
  CANOPY_ERR_RADIO_REFUSED: EXIT.data,
  CANOPY_ERR_NOT_FOUND: EXIT.noInput,
  CANOPY_ERR_SERIAL_NOT_FOUND: EXIT.noInput,
  CANOPY_ERR_UNKNOWN_VEHICLE: EXIT.noInput,
  CANOPY_ERR_STORE_NOT_FOUND: EXIT.noInput,
  CANOPY_ERR_UNAVAILABLE: EXIT.unavailable,
  CANOPY_ERR_RADIO_NO_ANSWER: EXIT.unavailable,
  CANOPY_ERR_INTERNAL: EXIT.software,
  CANOPY_ERR_STATE: EXIT.software,
  CANOPY_ERR_STORE_SEAL: EXIT.software,
  CANOPY_ERR_CANNOT_OPEN: EXIT.cantCreate,
  CANOPY_ERR_STORE_QUOTA: EXIT.cantCreate,
  CANOPY_ERR_STORE_EXISTS: EXIT.cantCreate,
  CANOPY_ERR_RADIO_VERIFY: EXIT.io,
  CANOPY_ERR_TIMEOUT: EXIT.tempFail,
  CANOPY_ERR_LINK_DOWN: EXIT.tempFail,
  CANOPY_ERR_DEFERRED: EXIT.tempFail,
  CANOPY_ERR_DENIED: EXIT.noPermission,
  CANOPY_ERR_SERIAL_PERMISSION: EXIT.noPermission,
  CANOPY_ERR_STORE_PASSPHRASE: EXIT.noPermission,
  CANOPY_ERR_CONFIG: EXIT.config,
  // A port that another program holds is a clash in the configuration: a restart would only clash
  // again every few seconds (a mosquitto package on 1883, a second Canopy), so it is EX_CONFIG too.
  CANOPY_ERR_PORT_IN_USE: EXIT.config,
  CANOPY_ERR_CANCELLED: EXIT.interrupted,
};

/** The exit code for an error that ends a command; an uncoded one is a bug in Canopy. */
export function exitCodeOf(e: unknown): number {
  return isCodedError(e) && Object.hasOwn(EXIT_CODES, e.code) ? EXIT_CODES[e.code as CanopyErrorCode] : EXIT_CODES.CANOPY_ERR_INTERNAL;
}
