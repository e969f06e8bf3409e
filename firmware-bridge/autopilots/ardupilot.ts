/**
 * ArduPilot (ArduCopter 4.x): what Canopy needs of it, as checked against the real firmware in
 * SITL (README "Checked against real firmware").
 * - Telemetry: Copter's stream-rate defaults are 0, so nothing but HEARTBEAT and STATUSTEXT comes
 *   until asked. Stream groups a GCS once saved (SRn_* before 4.7, MAVn_* since) come back at
 *   every boot; REQUEST_DATA_STREAM(ALL, stop) switches them off (GCS_Common.cpp
 *   handle_request_data_stream), then SET_MESSAGE_INTERVAL asks for each message Canopy reads.
 * - Readiness: SYS_STATUS's MAV_SYS_STATUS_PREARM_CHECK health bit (the last pre-arm run's
 *   result, AP_Arming), EKF_STATUS_REPORT (attitude, horizontal velocity, absolute position) and a
 *   HOME_POSITION; until then the latest "PreArm:" / "Arm:" text says why.
 * - Modes by number in DO_SET_MODE param2 (ArduCopter/mode.h); takeoff in GUIDED with the altitude
 *   above home in param7; go-to by SET_POSITION_TARGET_GLOBAL_INT, obeyed in GUIDED only.
 */
import { ardupilotmega, common, minimal } from 'mavlink-mappings';
import type { CommandParams } from '../microservices/command/command.ts';
import type { MessagePort } from '../node.ts';
import { ARDUCOPTER_MODES } from '../vehicles/modes.ts';
import type { Vehicle } from '../vehicles/vehicle.ts';
import type { AutopilotFlavour, GenericMode, GoToTarget, ParamSpec, Readiness } from './flavour.ts';

const MODE_NAMES: Record<GenericMode, string> = { guided: 'GUIDED', land: 'LAND', rtl: 'RTL' };

/** Position-only type mask: ignore velocity, acceleration, yaw and yaw rate (bits 3-11). */
export const POSITION_ONLY_TYPE_MASK = 0b0000_1111_1111_1000;

const PREARM = common.MavSysStatusSensor.PREARM_CHECK;
const F = ardupilotmega.EkfStatusFlags;
/** What the EKF must have before ArduCopter arms in a position mode (AP_Arming_Copter: "Need Position Estimate"). */
const EKF_NEEDED = F.ATTITUDE | F.VELOCITY_HORIZ | F.POS_HORIZ_ABS;

/** Land in place on GCS loss (FS_GCS_ENABLE 5) and on low and critical battery (BATT_FS_*_ACT 1). */
const FAILSAFES: readonly ParamSpec[] = [
  { names: ['FS_GCS_ENABLE'], value: 5, means: 'land on GCS loss' },
  { names: ['BATT_FS_LOW_ACT'], value: 1, means: 'land on low battery' },
  { names: ['BATT_FS_CRT_ACT'], value: 1, means: 'land on critical battery' },
];

export const ardupilot: AutopilotFlavour = {
  family: 'ardupilot',
  // ArduPilot sends integer parameters cast to float (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_C_CAST).
  paramEncoding: 'cast',
  stopsDataStreams: true,

  telemetry(wanted) {
    return {
      ...wanted,
      // Readiness: the EKF's state and the home position (neither is sent unless asked).
      [ardupilotmega.EkfStatusReport.MSG_ID]: 0.2,
      [common.HomePosition.MSG_ID]: 0.1,
      // No WIND_COV to switch off: ArduPilot has no ap_message for it (it sends WIND), and asking
      // draws DENIED and "No ap_message for mavlink id (231)" (recorded, ArduCopter 4.8).
    };
  },

  modeName: (mode) => MODE_NAMES[mode],
  isMode: (v, mode) => v.mode === MODE_NAMES[mode],

  setMode(mode): CommandParams {
    return { command: common.MavCmd.DO_SET_MODE, params: [minimal.MavModeFlag.CUSTOM_MODE_ENABLED, ARDUCOPTER_MODES[MODE_NAMES[mode]]!] };
  },

  /** ModeGuided::do_user_takeoff: armed, in GUIDED, on the ground; param7 above home, lat/lon ignored. */
  takeoff: (_v, relativeAltM) => ({ command: common.MavCmd.NAV_TAKEOFF, params: [0, 0, 0, NaN, 0, 0, relativeAltM] }),

  goTo(port: MessagePort, _v: Vehicle | undefined, target: GoToTarget): void {
    const m = new common.SetPositionTargetGlobalInt();
    m.timeBootMs = 0;
    m.targetSystem = port.target.sysid;
    m.targetComponent = port.target.compid;
    m.coordinateFrame = common.MavFrame.GLOBAL_RELATIVE_ALT_INT;
    m.typeMask = POSITION_ONLY_TYPE_MASK as common.PositionTargetTypemask;
    m.latInt = Math.round(target.latDeg * 1e7);
    m.lonInt = Math.round(target.lonDeg * 1e7);
    m.alt = target.relativeAltM;
    port.send(m);
  },

  land: () => ({ command: common.MavCmd.NAV_LAND, params: [0, 0, 0, NaN, 0, 0, 0] }),
  returnToLaunch: () => ({ command: common.MavCmd.NAV_RETURN_TO_LAUNCH }),
  swarmFailsafes: () => FAILSAFES,

  readiness(v: Vehicle): Readiness {
    const s = v.sensors;
    if (!s) return { ready: false, reason: 'waiting for SYS_STATUS' };
    const text = v.armingText?.text;
    if ((s.present & PREARM) !== 0 && (s.health & PREARM) === 0) return { ready: false, reason: text ?? 'pre-arm checks failing' };
    const ekf = v.ekfFlags;
    if (ekf === undefined) return { ready: false, reason: 'waiting for EKF_STATUS_REPORT' };
    if ((ekf & EKF_NEEDED) !== EKF_NEEDED || (ekf & F.UNINITIALIZED) !== 0 || (ekf & F.GPS_GLITCHING) !== 0) {
      return { ready: false, reason: text ?? `EKF has no position estimate (flags 0x${ekf.toString(16)})` };
    }
    if (v.telemetry.homeLatDeg === undefined) return { ready: false, reason: 'waiting for HOME_POSITION' };
    return { ready: true, reason: '' };
  },

  // AP_Arming reports refusals as "PreArm: …" (checks run every few seconds while disarmed) and
  // "Arm: …" (checks at the arming request).
  isArmingText: (text) => /^(PreArm|Arm):/.test(text),

  // SYS_STATUS: -1 means the autopilot does not measure current (common.xml).
  batteryCurrentA: (cA) => (cA === -1 ? undefined : cA / 100),
};
