/**
 * The hardware adapters' codes (the SiK radio's AT command mode). An adapter also throws the
 * library's codes where they fit: a bad argument, a link URL, a serial device that is not there.
 */
import { CodedError, type MavlinkErrorCode } from '../firmware-bridge/errors.ts';

export const HARDWARE_ERROR_CODES = {
  CANOPY_ERR_RADIO_NO_ANSWER: 'the radio did not answer in AT command mode',
  CANOPY_ERR_RADIO_REFUSED: 'the radio refused an AT command or value',
  CANOPY_ERR_RADIO_VERIFY: 'a radio setting read back differs from the one written',
} as const;

export type HardwareErrorCode = keyof typeof HARDWARE_ERROR_CODES;

export class HardwareError extends CodedError<HardwareErrorCode | MavlinkErrorCode> {}
