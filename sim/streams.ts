/**
 * What a simulated autopilot streams, and at what rate: ArduPilot's stream groups (the SRn_ /
 * MAVn_ rate parameters of the serial port the radio is on, GCS_MAVLink's stream_entries tables),
 * message intervals set by SET_MESSAGE_INTERVAL on top, and PX4's per-link stream set.
 *
 * Stock ArduCopter's group rates are 0: nothing but HEARTBEAT (and STATUSTEXT) goes out until a
 * ground station asks. A GCS that once set the rates saved them, and they come back at every boot.
 */
import { ardupilotmega, common, minimal, type MavLinkData } from 'mavlink-mappings';
import { messageInfo, messageInfoByName } from '../firmware-bridge/protocol/dialect.ts';

/** ArduPilot's stream groups, in the order of the MAV_DATA_STREAM ids they answer to. */
export const ARDUPILOT_GROUPS = ['RAW_SENS', 'EXT_STAT', 'RC_CHAN', 'RAW_CTRL', 'POSITION', 'EXTRA1', 'EXTRA2', 'EXTRA3', 'PARAMS', 'ADSB'] as const;
export type StreamGroup = (typeof ARDUPILOT_GROUPS)[number];

const S = common.MavDataStream;
/** REQUEST_DATA_STREAM's req_stream_id → group (GCS_MAVLINK::handle_request_data_stream). */
export const GROUP_OF_DATA_STREAM: Record<number, StreamGroup> = {
  [S.RAW_SENSORS]: 'RAW_SENS',
  [S.EXTENDED_STATUS]: 'EXT_STAT',
  [S.RC_CHANNELS]: 'RC_CHAN',
  [S.RAW_CONTROLLER]: 'RAW_CTRL',
  [S.POSITION]: 'POSITION',
  [S.EXTRA1]: 'EXTRA1',
  [S.EXTRA2]: 'EXTRA2',
  [S.EXTRA3]: 'EXTRA3',
};

/**
 * The messages of each group a copter like ours sends (ArduCopter GCS_MAVLink_Parameters.cpp
 * STREAM_*_msgs), as the SITL recording of 2 Hz saved groups shows them (52 frames/s, 1.8 kB/s),
 * less what only SITL has (SIMSTATE) or hardware ours lacks (ESC telemetry, a second GPS).
 */
export const ARDUPILOT_GROUP_MESSAGES: Record<StreamGroup, number[]> = {
  RAW_SENS: [common.RawImu.MSG_ID, common.ScaledImu2.MSG_ID, common.ScaledImu3.MSG_ID, common.ScaledPressure.MSG_ID, common.ScaledPressure2.MSG_ID],
  EXT_STAT: [common.SysStatus.MSG_ID, common.PowerStatus.MSG_ID, ardupilotmega.MemInfo.MSG_ID, common.MissionCurrent.MSG_ID, common.GpsRawInt.MSG_ID, common.NavControllerOutput.MSG_ID],
  RC_CHAN: [common.ServoOutputRaw.MSG_ID, common.RcChannels.MSG_ID],
  RAW_CTRL: [],
  POSITION: [common.GlobalPositionInt.MSG_ID, common.LocalPositionNed.MSG_ID],
  EXTRA1: [common.Attitude.MSG_ID, ardupilotmega.Ahrs2.MSG_ID],
  EXTRA2: [common.VfrHud.MSG_ID],
  EXTRA3: [ardupilotmega.Ahrs.MSG_ID, common.SystemTime.MSG_ID, common.TerrainReport.MSG_ID, common.BatteryStatus.MSG_ID, ardupilotmega.EkfStatusReport.MSG_ID, common.Vibration.MSG_ID, ardupilotmega.Wind.MSG_ID],
  PARAMS: [],
  ADSB: [],
};

/**
 * The MAVLink messages ArduPilot can stream by SET_MESSAGE_INTERVAL: those it has an ap_message
 * for (GCS_MAVLINK::mavlink_id_to_ap_message_id, GCS_Common.cpp, ArduPilot master of 2026-03),
 * by name; names outside our dialects are left out. Any other id is DENIED.
 */
const ARDUPILOT_AP_MESSAGE_NAMES = [
  'HEARTBEAT', 'HOME_POSITION', 'GPS_GLOBAL_ORIGIN', 'SYS_STATUS', 'POWER_STATUS', 'MCU_STATUS', 'MEMINFO', 'NAV_CONTROLLER_OUTPUT', 'MISSION_CURRENT',
  'SERVO_OUTPUT_RAW', 'RC_CHANNELS', 'RC_CHANNELS_RAW', 'RAW_IMU', 'SCALED_IMU', 'SCALED_IMU2', 'SCALED_IMU3', 'HIGHRES_IMU', 'SCALED_PRESSURE', 'SCALED_PRESSURE2',
  'SCALED_PRESSURE3', 'GPS_RAW_INT', 'GPS_RTK', 'GPS2_RAW', 'GPS2_RTK', 'SYSTEM_TIME', 'PARAM_VALUE', 'FENCE_STATUS', 'SIMSTATE', 'SIM_STATE', 'AHRS2', 'AHRS',
  'ATTITUDE', 'ATTITUDE_QUATERNION', 'GLOBAL_POSITION_INT', 'LOCAL_POSITION_NED', 'VFR_HUD', 'HWSTATUS', 'WIND', 'RANGEFINDER', 'DISTANCE_SENSOR', 'TERRAIN_REQUEST',
  'TERRAIN_REPORT', 'CAMERA_FEEDBACK', 'CAMERA_INFORMATION', 'CAMERA_SETTINGS', 'CAMERA_FOV_STATUS', 'CAMERA_CAPTURE_STATUS', 'CAMERA_THERMAL_RANGE',
  'VIDEO_STREAM_INFORMATION', 'GIMBAL_DEVICE_ATTITUDE_STATUS', 'AUTOPILOT_STATE_FOR_GIMBAL_DEVICE', 'GIMBAL_MANAGER_INFORMATION', 'GIMBAL_MANAGER_STATUS',
  'OPTICAL_FLOW', 'MAG_CAL_PROGRESS', 'MAG_CAL_REPORT', 'EKF_STATUS_REPORT', 'PID_TUNING', 'VIBRATION', 'RPM', 'MISSION_ITEM_REACHED', 'ATTITUDE_TARGET',
  'POSITION_TARGET_GLOBAL_INT', 'POSITION_TARGET_LOCAL_NED', 'ADSB_VEHICLE', 'BATTERY_STATUS', 'AOA_SSA', 'DEEPSTALL', 'EXTENDED_SYS_STATE', 'AUTOPILOT_VERSION',
  'EFI_STATUS', 'GENERATOR_STATUS', 'WINCH_STATUS', 'ESC_TELEMETRY_1_TO_4', 'WATER_DEPTH', 'HIGH_LATENCY2', 'AIS_VESSEL', 'UAVIONIX_ADSB_OUT_STATUS', 'RELAY_STATUS',
  'AIRSPEED', 'AVAILABLE_MODES', 'AVAILABLE_MODES_MONITOR', 'FLIGHT_INFORMATION',
];
const ARDUPILOT_AP_MESSAGES: ReadonlySet<number> = new Set(ARDUPILOT_AP_MESSAGE_NAMES.map((n) => messageInfoByName(n)?.id).filter((id) => id !== undefined));

/** Whether ArduPilot has an ap_message for a MAVLink id, so SET_MESSAGE_INTERVAL can set it. */
export function hasApMessage(msgid: number): boolean {
  return ARDUPILOT_AP_MESSAGES.has(msgid);
}

const GROUP_OF_MESSAGE = new Map<number, StreamGroup>();
for (const g of ARDUPILOT_GROUPS) for (const id of ARDUPILOT_GROUP_MESSAGES[g]) GROUP_OF_MESSAGE.set(id, g);

/** The group a message streams in (undefined: sent only on request, or never). */
export function groupOf(msgid: number): StreamGroup | undefined {
  return GROUP_OF_MESSAGE.get(msgid);
}

/**
 * The stream-rate parameter of a group on link `serial`: MAVn_<group> since ArduPilot 4.7 (n the
 * MAVLink instance, from 1: the SITL link on SERIAL0 is MAV1_), SRn_<group> before (n the serial port).
 */
export function streamRateParam(group: StreamGroup, serial: number, legacy: boolean): string {
  return `${legacy ? 'SR' : 'MAV'}${serial}_${group}`;
}

interface Due {
  intervalMs: number;
  dueMs: number;
}

/**
 * The schedule of one autopilot's streams: a rate per group and, over it, an interval per message
 * (SET_MESSAGE_INTERVAL; -1 off). `due(now)` returns the message ids to send now.
 */
export class StreamSchedule {
  private readonly groupHz = new Map<StreamGroup, number>();
  private readonly intervals = new Map<number, number>();
  private readonly schedule = new Map<number, Due>();

  constructor(private readonly always: Record<number, number>) {
    this.rebuild(0);
  }

  /** Sets a group's rate; its messages' own intervals are reset (GCS_MAVLINK::initialise_message_intervals_for_stream). */
  setGroup(group: StreamGroup, hz: number, nowMs: number): void {
    this.groupHz.set(group, Math.max(0, hz));
    for (const id of ARDUPILOT_GROUP_MESSAGES[group]) this.intervals.delete(id);
    this.rebuild(nowMs);
  }

  groupRate(group: StreamGroup): number {
    return this.groupHz.get(group) ?? 0;
  }

  /** A message's own interval (ms; 0 off), or undefined to restore its default. */
  setInterval(msgid: number, intervalMs: number | undefined, nowMs: number): void {
    if (intervalMs === undefined) this.intervals.delete(msgid);
    else this.intervals.set(msgid, intervalMs);
    this.rebuild(nowMs);
  }

  /** Everything back to the group rates alone (a reboot forgets the intervals). */
  reset(nowMs: number): void {
    this.intervals.clear();
    this.rebuild(nowMs);
  }

  intervalOf(msgid: number): number {
    const own = this.intervals.get(msgid);
    if (own !== undefined) return own;
    if (this.always[msgid] !== undefined) return this.always[msgid]!;
    const g = groupOf(msgid);
    const hz = g === undefined ? 0 : (this.groupHz.get(g) ?? 0);
    return hz > 0 ? 1000 / hz : 0;
  }

  private rebuild(nowMs: number): void {
    const ids = new Set<number>([...Object.keys(this.always).map(Number), ...this.intervals.keys(), ...GROUP_OF_MESSAGE.keys()]);
    for (const id of ids) {
      const intervalMs = this.intervalOf(id);
      const was = this.schedule.get(id);
      if (intervalMs <= 0) this.schedule.delete(id);
      else if (!was || was.intervalMs !== intervalMs) this.schedule.set(id, { intervalMs, dueMs: nowMs });
    }
  }

  /** Message ids due at `nowMs` (each then scheduled one interval on). */
  due(nowMs: number): number[] {
    const out: number[] = [];
    for (const [id, s] of this.schedule) {
      if (nowMs < s.dueMs) continue;
      s.dueMs = Math.max(s.dueMs + s.intervalMs, nowMs);
      out.push(id);
    }
    return out;
  }
}

/** HEARTBEAT goes out at 1 Hz whatever the stream rates (GCS_MAVLINK::update_send). */
export const ALWAYS: Record<number, number> = { [minimal.Heartbeat.MSG_ID]: 1000 };

/**
 * A message Canopy does not read, with every field set to a plausible non-zero value, so it takes
 * the air time the real one takes (MAVLink 2 trims trailing zero bytes).
 */
export function fillerMessage(msgid: number, seed: number): MavLinkData | undefined {
  const cls = messageInfo(msgid)?.clazz;
  if (!cls) return undefined;
  const m = new cls() as MavLinkData & Record<string, unknown>;
  let k = seed;
  for (const f of cls.FIELDS) {
    const value = (type: string): number | bigint | string => {
      k = (k * 1103515245 + 12345) & 0x7fff;
      if (type.startsWith('char')) return 'x';
      if (type.includes('64')) return BigInt(k + 1);
      if (type === 'float' || type === 'double') return (k % 1000) / 10 + 0.5;
      if (type.startsWith('uint8') || type.startsWith('int8')) return (k % 100) + 1;
      return (k % 20000) + 1;
    };
    if (f.length > 0 && !f.type.startsWith('char')) m[f.name] = Array.from({ length: f.length }, () => value(f.type));
    else m[f.name] = value(f.type);
  }
  return m;
}
