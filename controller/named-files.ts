/** Files a user names (a flag, a config field): a failure names the file, who named it and why. */
import { readFileSync, writeFileSync } from 'node:fs';
import { CanopyError } from '../common/errors.ts';

/** The bytes of `path`; CANOPY_ERR_NOT_FOUND when it is not there or cannot be read. */
export function readNamedFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_NOT_FOUND', `${what}: cannot read "${path}" (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
}

/** Writes `path`; CANOPY_ERR_CANNOT_OPEN when it cannot be created or written. */
export function writeNamedFile(path: string, data: Uint8Array | string, what: string): void {
  try {
    writeFileSync(path, data);
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `${what}: cannot write "${path}" (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
}
