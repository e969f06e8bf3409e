/**
 * What the controller reads from every drone, and the share of the radio each may use.
 */
import { ardupilotmega, common } from 'mavlink-mappings';

/**
 * What the fleet and the power budget read, at the rates they need: position and battery once a
 * second, GPS fix and landed state every five, the wind estimate every ten, attitude and
 * BATTERY_STATUS off (SYS_STATUS carries voltage, current and remaining). Each drone's flavour
 * adds what its readiness needs (ArduPilot: EKF_STATUS_REPORT and HOME_POSITION; autopilots/).
 * About 3.8 frames/s per drone with the HEARTBEAT, so 25 drones leave a third of a 57,600-baud
 * radio for commands and the ground's own traffic.
 */
export const STREAM_RATES: Record<number, number> = {
  [common.GlobalPositionInt.MSG_ID]: 1,
  [common.SysStatus.MSG_ID]: 1,
  [common.GpsRawInt.MSG_ID]: 0.2,
  [common.ExtendedSysState.MSG_ID]: 0.2,
  [common.Attitude.MSG_ID]: 0,
  [common.BatteryStatus.MSG_ID]: 0,
  // The autopilot's wind estimate, for the wind stages (ArduPilot's WIND; the PX4 flavour asks for WIND_COV instead).
  [ardupilotmega.Wind.MSG_ID]: 0.1,
};

/** A radio is planned to this utilisation at most (SiK's TDM shares the air with the ground's own traffic). */
export const RADIO_UTILISATION_GOAL = 0.8;

/** The bytes per second one drone may send on a radio of `baud` shared by `drones` (8N1: 10 bits a byte). */
export function radioShareBytesPerS(baud: number, drones: number): number {
  return (RADIO_UTILISATION_GOAL * baud) / 10 / Math.max(1, drones);
}

