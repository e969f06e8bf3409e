import { minimal } from 'mavlink-mappings';
import { ardupilot } from './ardupilot.ts';
import type { AutopilotFlavour } from './flavour.ts';
import { px4 } from './px4.ts';

export * from './flavour.ts';
export { ardupilot } from './ardupilot.ts';
export { px4 } from './px4.ts';

/** The flavour for a HEARTBEAT's autopilot field: PX4 (12), else ArduPilot's (3, and the MAVLink-standard behaviour others share). */
export function flavourOf(autopilot: number): AutopilotFlavour {
  return autopilot === minimal.MavAutopilot.PX4 ? px4 : ardupilot;
}
