/**
 * PX4 (v1.14+ multicopter): what Canopy needs of it, as checked against the real firmware in SITL
 * (README "Checked against real firmware").
 * - Modes: DO_SET_MODE takes the main mode in param2 and the sub mode in param3
 *   (px4_custom_mode.h; Commander::handle_command). A packed HEARTBEAT custom_mode in param2 is
 *   answered ACCEPTED and changes nothing.
 * - Parameters are bytewise (MAV_PROTOCOL_CAPABILITY_PARAM_ENCODE_BYTEWISE): an INT32 is its
 *   four bytes in the float, and a PARAM_SET of another type than the parameter's is refused.
 * - Takeoff: NAV_TAKEOFF's param7 is AMSL and lat/lon NaN (current position); a relative
 *   altitude reads as "already higher than takeoff altitude" and the vehicle disarms on the ground.
 * - Go-to: MAV_CMD_DO_REPOSITION (COMMAND_INT, AMSL) switches to Hold (AUTO.LOITER) and flies
 *   there. SET_POSITION_TARGET_* is obeyed only in OFFBOARD, which needs a setpoint stream of at
 *   least 2 Hz from every flying drone and fails safe half a second after the last; over a shared
 *   57,600-baud radio that is a third of the air for 25 drones and one lost burst from a failsafe,
 *   so Canopy repositions (as QGroundControl's "Go to location" does).
 * - Readiness: SYS_STATUS's MAV_SYS_STATUS_PREARM_CHECK health bit (Commander's pre-flight checks),
 *   refusals as "Preflight Fail: …" / "Arming denied: …".
 * - Battery current: the battery driver's "-1 if unknown" (uORB battery_status.current_a) goes out
 *   as -100 cA in SYS_STATUS.
 */
import { common, minimal } from 'mavlink-mappings';
import { buildCommandInt, type CommandIntParams, type CommandParams } from '../microservices/command/command.ts';
import type { MessagePort } from '../node.ts';
import type { Vehicle } from '../vehicles/vehicle.ts';
import type { AutopilotFlavour, GenericMode, GoToTarget, ParamSpec, Readiness } from './flavour.ts';

/** PX4 main modes and AUTO sub modes (px4_custom_mode.h). */
export const PX4_MAIN_MODE = { MANUAL: 1, ALTCTL: 2, POSCTL: 3, AUTO: 4, ACRO: 5, OFFBOARD: 6, STABILIZED: 7, RATTITUDE: 8 } as const;
export const PX4_AUTO_MODE = { READY: 1, TAKEOFF: 2, LOITER: 3, MISSION: 4, RTL: 5, LAND: 6, RTGS: 7, FOLLOW_TARGET: 8, PRECLAND: 9 } as const;

const MODES: Record<GenericMode, { name: string; main: number; sub: number }> = {
  guided: { name: 'AUTO.LOITER', main: PX4_MAIN_MODE.AUTO, sub: PX4_AUTO_MODE.LOITER },
  land: { name: 'AUTO.LAND', main: PX4_MAIN_MODE.AUTO, sub: PX4_AUTO_MODE.LAND },
  rtl: { name: 'AUTO.RTL', main: PX4_MAIN_MODE.AUTO, sub: PX4_AUTO_MODE.RTL },
};

/** MAV_DO_REPOSITION_FLAGS_CHANGE_MODE: switch to the mode that flies the reposition (Hold). */
const REPOSITION_CHANGE_MODE = 1;
const PREARM = common.MavSysStatusSensor.PREARM_CHECK;

/** Land in place on data-link loss (NAV_DLL_ACT 3 "Land mode") and on low battery (COM_LOW_BAT_ACT 2 "Land mode"). */
const FAILSAFES: readonly ParamSpec[] = [
  { names: ['NAV_DLL_ACT'], value: 3, means: 'land on data-link loss' },
  { names: ['COM_LOW_BAT_ACT'], value: 2, means: 'land on low battery' },
];

/** The vehicle's home altitude above mean sea level (HOME_POSITION, else where it stands now less its height above home). */
function homeAmslM(v: Vehicle | undefined): number {
  const t = v?.telemetry ?? {};
  if (t.homeAltitudeM !== undefined) return t.homeAltitudeM;
  return (t.altitudeM ?? 0) - (t.relativeAltitudeM ?? 0);
}

function reposition(v: Vehicle | undefined, target: GoToTarget): CommandIntParams {
  return { command: common.MavCmd.DO_REPOSITION, frame: common.MavFrame.GLOBAL_INT, params: [-1, REPOSITION_CHANGE_MODE, 0, NaN], x: target.latDeg, y: target.lonDeg, z: homeAmslM(v) + target.relativeAltM };
}

export const px4: AutopilotFlavour = {
  family: 'px4',
  paramEncoding: 'bytewise',
  // PX4 has no REQUEST_DATA_STREAM groups: what it streams unasked is switched off message by message.
  stopsDataStreams: false,

  telemetry(wanted) {
    const out: Record<number, number> = { ...wanted, [common.HomePosition.MSG_ID]: 0.1 };
    // PX4 refuses WIND (ardupilotmega); its estimate is WIND_COV.
    const wind = out[168];
    if (wind !== undefined) {
      delete out[168];
      out[common.WindCov.MSG_ID] = wind;
    }
    return out;
  },

  modeName: (mode) => MODES[mode].name,
  isMode: (v, mode) => v.mode === MODES[mode].name,

  setMode(mode): CommandParams {
    const m = MODES[mode];
    return { command: common.MavCmd.DO_SET_MODE, params: [minimal.MavModeFlag.CUSTOM_MODE_ENABLED, m.main, m.sub] };
  },

  takeoff: (v, relativeAltM) => ({ command: common.MavCmd.NAV_TAKEOFF, params: [NaN, 0, 0, NaN, NaN, NaN, homeAmslM(v) + relativeAltM] }),

  goTo(port: MessagePort, v: Vehicle | undefined, target: GoToTarget): void {
    const m = buildCommandInt(port.target, reposition(v, target));
    // The ACK is not awaited: the fleet resends until the position shows the drone there.
    port.send(m);
  },
  goToCommand: reposition,

  land: () => ({ command: common.MavCmd.NAV_LAND, params: [0, 0, 0, NaN, NaN, NaN, NaN] }),
  returnToLaunch: () => ({ command: common.MavCmd.NAV_RETURN_TO_LAUNCH }),
  swarmFailsafes: () => FAILSAFES,

  readiness(v: Vehicle): Readiness {
    const s = v.sensors;
    if (!s) return { ready: false, reason: 'waiting for SYS_STATUS' };
    if ((s.health & PREARM) === 0) return { ready: false, reason: v.armingText?.text ?? 'pre-flight checks failing' };
    if (v.telemetry.homeLatDeg === undefined) return { ready: false, reason: 'waiting for HOME_POSITION' };
    return { ready: true, reason: '' };
  },

  isArmingText: (text) => /^(Preflight Fail|Arming denied|Preflight)/i.test(text),

  batteryCurrentA: (cA) => (cA === -1 || cA === -100 ? undefined : cA / 100),
};
