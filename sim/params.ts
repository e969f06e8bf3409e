/**
 * The parameter set of a virtual ArduCopter: the parameters Canopy reads and sets, with
 * ArduCopter's names, types, units and defaults (ArduCopter 4.8 parameter tables, checked against
 * the firmware's own PARAM_REQUEST_LIST in SITL). ArduPilot 4.7 renamed some: SYSID_THISMAV is
 * MAV_SYSID, SYSID_MYGCS MAV_GCS_SYSID, SRn_* MAVn_*, and ARMING_CHECK became ARMING_SKIPCHK
 * (the checks to skip: 0 skips none); `legacyNames` gives the older set.
 */
import { common } from 'mavlink-mappings';
import { ARDUPILOT_GROUPS, streamRateParam } from './streams.ts';

const { INT8, INT16, INT32, REAL32 } = common.MavParamType;

export interface ParamDef {
  value: number;
  type: common.MavParamType;
}

/** Defaults, before the profile fills in battery-dependent values. */
/** The names of the parameters whose name depends on the firmware version. */
export function paramNames(legacy: boolean): { sysid: string; gcsSysid: string; armingChecks: string } {
  return legacy ? { sysid: 'SYSID_THISMAV', gcsSysid: 'SYSID_MYGCS', armingChecks: 'ARMING_CHECK' } : { sysid: 'MAV_SYSID', gcsSysid: 'MAV_GCS_SYSID', armingChecks: 'ARMING_SKIPCHK' };
}

export function arducopterParams(sysid: number, battery: { cells: number; capacityMah: number }, opts: { legacyNames: boolean; serial: number }): Map<string, ParamDef> {
  const cells = battery.cells;
  const names = paramNames(opts.legacyNames);
  const entries: [string, number, common.MavParamType][] = [
    [names.sysid, sysid, INT16],
    [names.gcsSysid, 255, INT16],
    ['FRAME_CLASS', 1, INT8], // quad
    ['FRAME_TYPE', 1, INT8], // X
    // ARMING_CHECK 1: all checks; ARMING_SKIPCHK 0: none skipped.
    [names.armingChecks, opts.legacyNames ? 1 : 0, INT32],
    ['DISARM_DELAY', 10, INT8],
    ['BATT_MONITOR', 4, INT8], // analog voltage and current
    ['BATT_CAPACITY', Math.round(battery.capacityMah), INT32],
    ['BATT_ARM_VOLT', +(3.6 * cells).toFixed(2), REAL32],
    ['BATT_LOW_VOLT', +(3.5 * cells).toFixed(2), REAL32],
    ['BATT_CRT_VOLT', +(3.4 * cells).toFixed(2), REAL32],
    ['BATT_LOW_MAH', 0, REAL32],
    ['BATT_CRT_MAH', 0, REAL32],
    ['BATT_LOW_TIMER', 10, INT8],
    ['BATT_FS_LOW_ACT', 2, INT8], // RTL
    ['BATT_FS_CRT_ACT', 1, INT8], // Land
    ['FS_GCS_ENABLE', 0, INT8], // disabled (ArduCopter 4.8's default)
    ['FS_GCS_TIMEOUT', 5, REAL32],
    ['FS_OPTIONS', 0, INT32],
    ['WPNAV_SPEED', 500, REAL32], // cm/s
    ['WPNAV_SPEED_UP', 250, REAL32],
    ['WPNAV_SPEED_DN', 150, REAL32],
    ['WPNAV_ACCEL', 250, REAL32],
    ['WPNAV_RADIUS', 200, REAL32],
    ['RTL_ALT', 1500, INT32], // cm
    ['RTL_ALT_FINAL', 0, INT32],
    ['RTL_LOIT_TIME', 5000, INT32], // ms
    ['LAND_SPEED', 50, INT16], // cm/s, final descent
    ['LAND_SPEED_HIGH', 0, INT16], // 0: WPNAV_SPEED_DN
    ['LAND_ALT_LOW', 1000, INT16], // cm
    ['PILOT_TKOFF_ALT', 0, REAL32],
    ['FENCE_ENABLE', 0, INT8],
    ['GPS_TYPE', 1, INT8],
    // The radio's stream rates (Hz): 0 on Copter, until a GCS saves others.
    ...ARDUPILOT_GROUPS.map((g): [string, number, common.MavParamType] => [streamRateParam(g, opts.serial, opts.legacyNames), 0, INT16]),
    ['SIM_SPEEDUP', 1, REAL32],
  ];
  return new Map(entries.map(([name, value, type]) => [name, { value, type }]));
}

/** ArduCopter battery failsafe actions (BATT_FS_LOW_ACT / BATT_FS_CRT_ACT). */
export const BATT_FS_ACTION = { NONE: 0, LAND: 1, RTL: 2, SMARTRTL_OR_RTL: 3, SMARTRTL_OR_LAND: 4, TERMINATE: 5, AUTO_DO_LAND_START_OR_RTL: 6, BRAKE_OR_LAND: 7 } as const;

/** ArduCopter FS_GCS_ENABLE values. */
export const FS_GCS = { DISABLED: 0, RTL: 1, CONTINUE_AUTO: 2, SMARTRTL_OR_RTL: 3, SMARTRTL_OR_LAND: 4, LAND: 5, AUTO_DO_LAND_START_OR_RTL: 6, BRAKE_OR_LAND: 7 } as const;
