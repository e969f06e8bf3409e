/**
 * How a simulated ArduCopter comes up after power-on, as the real one does (ArduCopter V4.8.0-dev
 * in SITL, recorded from a cold start with a GCS connected; README "Checked against real
 * firmware"): HEARTBEAT after a second (MAV_STATE_BOOT, STANDBY from 3 s), the barometers, the
 * EKF's tilt and yaw alignment, the GPS detected at 10 s, the EKF origin (and home) at 20 s, and
 * the EKF using GPS somewhere in 30–45 s (41 s in the recording). Until then arming is refused
 * (COMMAND_ACK FAILED) with AP_Arming's own words, in the recorded order: "System not
 * initialised", "AHRS: not using configured AHRS type" until the EKF runs, "Accels inconsistent"
 * while the IMUs settle, "AHRS: waiting for home", "GPS 1: Bad fix" while the GPS starts, "AHRS:
 * waiting for home" again until two seconds after the origin, then "Need Position Estimate"
 * (AP_Arming_Copter) until the EKF uses GPS.
 *
 * The timeline is seeded: each drone of a swarm comes up at its own pace.
 */
import type { Random } from '../firmware-bridge/random.ts';

export interface BootText {
  atMs: number;
  text: string;
}

export interface BootTimeline {
  /** First HEARTBEAT (nothing is sent before). */
  aliveMs: number;
  /** HEARTBEAT system_status goes from MAV_STATE_BOOT to STANDBY. */
  standbyMs: number;
  /** The EKF is initialised (EKF_STATUS_REPORT from then, uninitialised until its tilt alignment). */
  ekfInitMs: number;
  tiltMs: number;
  /** The GPS is detected (its fix follows). */
  gpsMs: number;
  /** The IMUs agree (before: "Accels inconsistent"). */
  imusMs: number;
  /** GPS_RAW_INT reports a 3D fix. */
  gpsFixMs: number;
  /** The EKF origin and home are set (HOME_POSITION is sent once, unasked). */
  originMs: number;
  /** The EKF uses GPS: an absolute position estimate, and the copter can arm. */
  ekfGpsMs: number;
  /** The STATUSTEXTs of the boot, in time order (INFO severity). */
  texts: BootText[];
}

/** The recorded cold start, jittered ±10 % (the EKF's GPS time drawn in 30–45 s). */
export function coldBoot(random: Random, elevationM: number): BootTimeline {
  const j = (ms: number) => Math.round(ms * (0.9 + 0.2 * random()));
  const baro = j(1900);
  const ready = j(2450);
  const ekfInit = j(4450);
  const tilt = ekfInit + j(1350);
  const gps = j(9800);
  const origin = j(20_000);
  const ekfGps = Math.round(30_000 + 15_000 * random());
  const texts: BootText[] = [
    { atMs: baro, text: 'Barometer 1 calibration complete' },
    { atMs: baro, text: 'Barometer 2 calibration complete' },
    { atMs: ready, text: 'ArduPilot Ready' },
    { atMs: ready, text: 'AHRS: DCM active' },
    { atMs: ekfInit, text: 'EKF3 IMU0 initialised' },
    { atMs: ekfInit, text: 'EKF3 IMU1 initialised' },
    { atMs: ekfInit, text: 'AHRS: EKF3 active' },
    { atMs: tilt, text: 'EKF3 IMU0 tilt alignment complete' },
    { atMs: tilt, text: 'EKF3 IMU1 tilt alignment complete' },
    { atMs: tilt + 100, text: 'EKF3 IMU0 MAG0 initial yaw alignment complete' },
    { atMs: tilt + 100, text: 'EKF3 IMU1 MAG0 initial yaw alignment complete' },
    { atMs: gps, text: 'GPS 1: probing for u-blox at 230400 baud' },
    { atMs: gps + 25, text: 'GPS 1: detected u-blox' },
    { atMs: origin, text: 'EKF3 IMU0 origin set' },
    { atMs: origin + 30, text: `Field Elevation Set: ${Math.round(elevationM)}m` },
    { atMs: origin + 190, text: 'EKF3 IMU1 origin set' },
    { atMs: ekfGps, text: 'EKF3 IMU0 is using GPS' },
    { atMs: ekfGps + 200, text: 'EKF3 IMU1 is using GPS' },
  ];
  return { aliveMs: j(1000), standbyMs: j(3050), ekfInitMs: ekfInit, tiltMs: tilt, imusMs: j(8000), gpsMs: gps, gpsFixMs: gps + j(2000), originMs: origin, ekfGpsMs: ekfGps, texts };
}

/** Powered on long ago, or ready `readyAfterMs` after the run starts (a warm site): no boot texts. */
export function warmBoot(readyAfterMs: number): BootTimeline {
  return { aliveMs: 0, standbyMs: 0, ekfInitMs: 0, tiltMs: 0, imusMs: 0, gpsMs: 0, gpsFixMs: readyAfterMs, originMs: readyAfterMs, ekfGpsMs: readyAfterMs, texts: [] };
}

/** What AP_Arming says while the boot is not done (undefined once the EKF uses GPS). */
export function bootArmingFailure(b: BootTimeline, sinceBootMs: number): string | undefined {
  const t = sinceBootMs;
  if (t >= b.ekfGpsMs) return undefined;
  if (t < b.ekfInitMs) return 'System not initialised';
  if (t < b.tiltMs) return 'AHRS: not using configured AHRS type';
  if (t < b.imusMs) return 'Accels inconsistent';
  if (t >= b.gpsMs && t < b.gpsFixMs) return 'GPS 1: Bad fix';
  if (t < b.originMs + 2000) return 'AHRS: waiting for home';
  return 'Need Position Estimate';
}
