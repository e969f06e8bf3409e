/**
 * The parameter set of a virtual ArduCopter: the parameters Canopy reads and sets, with
 * ArduCopter's names, types, units and defaults (ArduCopter 4.5 parameter reference).
 */
import { common } from 'mavlink-mappings';

const { INT8, INT16, INT32, REAL32 } = common.MavParamType;

export interface ParamDef {
  value: number;
  type: common.MavParamType;
}

/** Defaults, before the profile fills in battery-dependent values. */
export function arducopterParams(sysid: number, battery: { cells: number; capacityMah: number }): Map<string, ParamDef> {
  const cells = battery.cells;
  const entries: [string, number, common.MavParamType][] = [
    ['SYSID_THISMAV', sysid, INT16],
    ['SYSID_MYGCS', 255, INT16],
    ['FRAME_CLASS', 1, INT8], // quad
    ['FRAME_TYPE', 1, INT8], // X
    ['ARMING_CHECK', 1, INT32],
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
    ['FS_GCS_ENABLE', 1, INT8], // RTL
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
    ['SR1_EXT_STAT', 1, INT16],
    ['SR1_POSITION', 1, INT16],
    ['SR1_EXTRA1', 1, INT16],
    ['SR1_EXTRA3', 1, INT16],
    ['SIM_SPEEDUP', 1, REAL32],
  ];
  return new Map(entries.map(([name, value, type]) => [name, { value, type }]));
}

/** ArduCopter battery failsafe actions (BATT_FS_LOW_ACT / BATT_FS_CRT_ACT). */
export const BATT_FS_ACTION = { NONE: 0, LAND: 1, RTL: 2, SMARTRTL_OR_RTL: 3, SMARTRTL_OR_LAND: 4, TERMINATE: 5, AUTO_DO_LAND_START_OR_RTL: 6, BRAKE_OR_LAND: 7 } as const;

/** ArduCopter FS_GCS_ENABLE values. */
export const FS_GCS = { DISABLED: 0, RTL: 1, CONTINUE_AUTO: 2, SMARTRTL_OR_RTL: 3, SMARTRTL_OR_LAND: 4, LAND: 5, AUTO_DO_LAND_START_OR_RTL: 6, BRAKE_OR_LAND: 7 } as const;
