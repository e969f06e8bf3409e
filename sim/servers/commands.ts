/**
 * The simulated autopilot's command server: the vehicle side of the command protocol
 * (https://mavlink.io/en/services/command.html). A COMMAND_LONG or COMMAND_INT addressed to the
 * vehicle is executed and answered with one COMMAND_ACK (the command's id and MAV_RESULT) to the
 * system and component that sent it; a command the vehicle does not know is UNSUPPORTED.
 *
 * What each command does, and the result it gives, is the firmware's: `ArduCopterCommands` is
 * ArduCopter's set (GCS_MAVLink_Copter.cpp, GCS_Common.cpp), acting on the vehicle through
 * `CommandedVehicle`; another firmware's vehicle puts its own set in front of it (sim/px4.ts).
 */
import { common, minimal, standard, type MavLinkData } from 'mavlink-mappings';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { newMessage, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import { ARDUCOPTER_MODES } from '../../firmware-bridge/vehicles/modes.ts';
import type { ServerEndpoint } from './endpoint.ts';

const { ACCEPTED, FAILED, DENIED, UNSUPPORTED } = common.MavResult;

/**
 * Executes a command: its id, its seven parameters (COMMAND_INT's x and y are the integer
 * latitude and longitude ×1e7), and COMMAND_INT's coordinate frame (undefined for COMMAND_LONG).
 */
export type CommandHandler = (command: number, params: number[], coordFrame?: number) => common.MavResult;

export class CommandServer {
  /** Every COMMAND_ACK result this server sent, by result. */
  readonly acks = new Map<number, number>();

  constructor(
    private readonly endpoint: ServerEndpoint,
    private readonly execute: CommandHandler,
  ) {}

  /** Handles COMMAND_LONG and COMMAND_INT; false for any other message. */
  handle(m: unknown, frame: Frame): boolean {
    if (m instanceof common.CommandLong) {
      if (this.endpoint.isForUs(m.targetSystem)) this.answer(m.command, [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7], frame);
    } else if (m instanceof common.CommandInt) {
      if (this.endpoint.isForUs(m.targetSystem)) this.answer(m.command, [m._param1, m._param2, m._param3, m._param4, m._param5, m._param6, m._param7], frame, m.frame);
    } else return false;
    return true;
  }

  /** Every copy is executed and acknowledged: COMMAND_LONG's confirmation (the sender's resend count) changes nothing. */
  private answer(command: number, params: number[], frame: Frame, coordFrame?: number): void {
    const result = this.execute(command, params, coordFrame);
    const ack = newMessage(common.CommandAck);
    ack.command = command;
    ack.result = result;
    ack.targetSystem = frame.sysid;
    ack.targetComponent = frame.compid;
    this.acks.set(result, (this.acks.get(result) ?? 0) + 1);
    this.endpoint.sendTo(ack, frame.sysid);
  }
}

/** What ArduCopter's commands act on: the vehicle's state and the actions it takes. */
export interface CommandedVehicle {
  readonly armed: boolean;
  readonly customMode: number;
  readonly copter: { readonly onGround: boolean };
  /** The stored mission, home (item 0) included. */
  readonly mission: readonly unknown[];
  /** Arms after the arming checks (none when forced): the command's result. */
  arm(force: boolean): common.MavResult;
  disarm(reason: string): void;
  /** A mode change with the firmware's entry checks; false when refused. */
  setMode(mode: number, reason: string): boolean;
  /** Climbs where it stands to `altM` above the origin, and holds there. */
  takeoff(altM: number): void;
  /** Flies to a position (GUIDED); `altM` above the origin, undefined to keep its altitude. */
  flyTo(latDeg: number, lonDeg: number, altM: number | undefined): void;
  /** MAV_CMD_SET_MESSAGE_INTERVAL's effect on the streams: the command's result. */
  setMessageInterval(msgid: number, intervalUs: number): common.MavResult;
  /** A message as the vehicle would send it now, or undefined when it cannot. */
  build(id: number): MavLinkData | undefined;
  reboot(): void;
}

/** The magic number that forces arming/disarming (MAV_CMD_COMPONENT_ARM_DISARM param2). */
export const FORCE_MAGIC = 21196;
/** PREFLIGHT_REBOOT_SHUTDOWN: the restart comes this long after the ACK has gone out. */
const REBOOT_DELAY_MS = 200;

/** ArduCopter's command set (GCS_MAVLINK_Copter::handle_command_int_packet and GCS_MAVLINK's common ones). */
export class ArduCopterCommands {
  constructor(
    private readonly vehicle: CommandedVehicle,
    private readonly endpoint: ServerEndpoint,
    private readonly clock: Clock,
  ) {}

  run(command: number, p: number[], coordFrame?: number): common.MavResult {
    const C = common.MavCmd;
    const v = this.vehicle;
    switch (command) {
      case C.COMPONENT_ARM_DISARM: {
        const force = p[1] === FORCE_MAGIC;
        if (p[0] === 1) return v.arm(force);
        if (p[0] !== 0) return DENIED;
        if (!v.armed) return ACCEPTED;
        // ArduCopter refuses to disarm while flying unless forced.
        if (!v.copter.onGround && !force) return FAILED;
        v.disarm('Disarming motors');
        return ACCEPTED;
      }
      case C.DO_SET_MODE: {
        // param1 the base mode, which must say custom; param2 the custom mode.
        if (!((p[0] ?? 0) & minimal.MavModeFlag.CUSTOM_MODE_ENABLED)) return UNSUPPORTED;
        return v.setMode(p[1] ?? -1, 'Mode') ? ACCEPTED : FAILED;
      }
      case C.NAV_TAKEOFF: {
        // ModeGuided::do_user_takeoff: armed, in GUIDED, on the ground; otherwise FAILED.
        const alt = p[6] ?? 0;
        if (!v.armed || v.customMode !== ARDUCOPTER_MODES.GUIDED || !v.copter.onGround || alt <= 0) return FAILED;
        v.takeoff(alt);
        return ACCEPTED;
      }
      case C.NAV_RETURN_TO_LAUNCH:
        return v.setMode(ARDUCOPTER_MODES.RTL, 'Command') ? ACCEPTED : FAILED;
      case C.NAV_LAND:
        return v.setMode(ARDUCOPTER_MODES.LAND, 'Command') ? ACCEPTED : FAILED;
      case C.DO_REPOSITION: {
        // COMMAND_INT only (a position needs its frame), flying; param2 bit 0 (CHANGE_MODE) switches to GUIDED.
        if (coordFrame === undefined || !v.armed || v.copter.onGround) return FAILED;
        if (v.customMode !== ARDUCOPTER_MODES.GUIDED && !(((p[1] ?? 0) & 1) && v.setMode(ARDUCOPTER_MODES.GUIDED, ''))) return FAILED;
        v.flyTo((p[4] ?? 0) / 1e7, (p[5] ?? 0) / 1e7, p[6]);
        return ACCEPTED;
      }
      case C.MISSION_START:
        if (!v.armed || v.mission.length <= 1) return FAILED;
        return v.setMode(ARDUCOPTER_MODES.AUTO, 'Mission start') ? ACCEPTED : FAILED;
      case C.SET_MESSAGE_INTERVAL:
        return v.setMessageInterval(p[0] ?? -1, p[1] ?? 0);
      case C.REQUEST_MESSAGE:
        return this.sendMessage(p[0] ?? -1);
      case C.REQUEST_AUTOPILOT_CAPABILITIES:
        return this.sendMessage(standard.AutopilotVersion.MSG_ID);
      case C.PREFLIGHT_REBOOT_SHUTDOWN:
        // GCS_MAVLINK::handle_preflight_reboot: refused while armed; the ACK goes out, then the restart.
        if ((p[0] ?? 0) !== 1) return UNSUPPORTED;
        if (v.armed) return FAILED;
        this.clock.setTimeout(() => v.reboot(), REBOOT_DELAY_MS);
        return ACCEPTED;
      case C.GET_HOME_POSITION:
        return this.sendMessage(common.HomePosition.MSG_ID);
      default:
        return UNSUPPORTED;
    }
  }

  /** A requested message goes out (broadcast) as the vehicle would stream it; one it cannot send now is FAILED. */
  private sendMessage(id: number): common.MavResult {
    const msg = this.vehicle.build(id);
    if (!msg) return FAILED;
    this.endpoint.broadcast(msg);
    return ACCEPTED;
  }
}
