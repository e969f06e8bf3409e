/**
 * Flight mode names from HEARTBEAT.custom_mode, and back, for the two autopilots Canopy flies.
 * ArduCopter: custom_mode is the mode number (ArduCopter/mode.h, enum class Number).
 * PX4: custom_mode packs main mode in bits 16-23 and sub mode in bits 24-31
 * (src/modules/commander/px4_custom_mode.h).
 */
import { minimal } from 'mavlink-mappings';
import { MavlinkError } from '../errors.ts';

export const ARDUCOPTER_MODES: Record<string, number> = {
  STABILIZE: 0, ACRO: 1, ALT_HOLD: 2, AUTO: 3, GUIDED: 4, LOITER: 5, RTL: 6, CIRCLE: 7, LAND: 9,
  DRIFT: 11, SPORT: 13, FLIP: 14, AUTOTUNE: 15, POSHOLD: 16, BRAKE: 17, THROW: 18, AVOID_ADSB: 19,
  GUIDED_NOGPS: 20, SMART_RTL: 21, FLOWHOLD: 22, FOLLOW: 23, ZIGZAG: 24, SYSTEMID: 25,
  AUTOROTATE: 26, AUTO_RTL: 27, TURTLE: 28,
};

const PX4_MAIN: Record<string, number> = { MANUAL: 1, ALTCTL: 2, POSCTL: 3, AUTO: 4, ACRO: 5, OFFBOARD: 6, STABILIZED: 7, RATTITUDE: 8 };
const PX4_AUTO_SUB: Record<string, number> = { READY: 1, TAKEOFF: 2, LOITER: 3, MISSION: 4, RTL: 5, LAND: 6, RTGS: 7, FOLLOW_TARGET: 8, PRECLAND: 9 };

/**
 * The generic names the controller uses, in PX4 terms. PX4 has no GUIDED: a go-to there is
 * MAV_CMD_DO_REPOSITION flown in Hold (AUTO.LOITER), which is what QGroundControl does.
 */
const GENERIC_TO_PX4: Record<string, string> = { GUIDED: 'AUTO.LOITER', AUTO: 'AUTO.MISSION', LOITER: 'AUTO.LOITER', RTL: 'AUTO.RTL', LAND: 'AUTO.LAND', STABILIZE: 'STABILIZED' };

const ARDU_BY_NUMBER = new Map(Object.entries(ARDUCOPTER_MODES).map(([k, v]) => [v, k]));
const PX4_MAIN_BY_NUMBER = new Map(Object.entries(PX4_MAIN).map(([k, v]) => [v, k]));
const PX4_SUB_BY_NUMBER = new Map(Object.entries(PX4_AUTO_SUB).map(([k, v]) => [v, k]));

export function decodeMode(autopilot: number, customMode: number): string {
  if (autopilot === minimal.MavAutopilot.PX4) {
    const main = (customMode >>> 16) & 0xff;
    const sub = (customMode >>> 24) & 0xff;
    const mainName = PX4_MAIN_BY_NUMBER.get(main);
    if (!mainName) return `UNKNOWN(${customMode})`;
    if (main === PX4_MAIN.AUTO) return `AUTO.${PX4_SUB_BY_NUMBER.get(sub) ?? sub}`;
    return mainName;
  }
  return ARDU_BY_NUMBER.get(customMode) ?? `UNKNOWN(${customMode})`;
}

export interface EncodedMode {
  baseMode: number;
  customMode: number;
}

/** Mode for MAV_CMD_DO_SET_MODE; accepts the autopilot's own names and the generic ones. */
export function encodeMode(autopilot: number, name: string): EncodedMode {
  const base = minimal.MavModeFlag.CUSTOM_MODE_ENABLED;
  if (autopilot === minimal.MavAutopilot.PX4) {
    const px4 = GENERIC_TO_PX4[name] ?? name;
    const [main, sub] = px4.split('.') as [string, string?];
    const mainNo = PX4_MAIN[main];
    const subNo = sub === undefined ? 0 : PX4_AUTO_SUB[sub];
    if (mainNo === undefined || subNo === undefined || (sub !== undefined && mainNo !== PX4_MAIN.AUTO)) {
      throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `PX4 has no mode "${name}"; known: ${[...Object.keys(PX4_MAIN).filter((m) => m !== 'AUTO'), ...Object.keys(PX4_AUTO_SUB).map((s) => `AUTO.${s}`)].join(', ')}`);
    }
    return { baseMode: base, customMode: ((mainNo << 16) | (subNo << 24)) >>> 0 };
  }
  const n = ARDUCOPTER_MODES[name];
  if (n === undefined) throw new MavlinkError('CANOPY_ERR_BAD_ARGUMENT', `ArduCopter has no mode "${name}"; known: ${Object.keys(ARDUCOPTER_MODES).join(', ')}`);
  return { baseMode: base, customMode: n };
}
