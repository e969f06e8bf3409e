/**
 * How to talk to one autopilot family. Each family's module (ardupilot.ts, px4.ts) says what its
 * firmware needs for the things a ground station does: which telemetry to ask for, when the
 * vehicle may arm, how modes, takeoff, go-to, land and return are sent, which failsafe parameters
 * (under which names) make a swarm safe, and how its battery current reads. Callers ask the
 * flavour and never assume one firmware. Models: MAVSDK's per-autopilot action code and
 * QGroundControl's FirmwarePlugin (APMFirmwarePlugin, PX4FirmwarePlugin).
 */
import type { CommandIntParams, CommandParams } from '../microservices/command/command.ts';
import type { ParamEncoding, ParamSpec } from '../microservices/param/param.ts';

export type { ParamSpec } from '../microservices/param/param.ts';
import type { MessagePort } from '../node.ts';
import type { Vehicle } from '../vehicles/vehicle.ts';

/** The modes a ground station flies with, whatever the firmware calls them. */
export type GenericMode = 'guided' | 'land' | 'rtl';

export type AutopilotFamily = 'ardupilot' | 'px4';

/** The autopilot's own word on whether it may arm now, and if not, why (its latest text). */
export interface Readiness {
  ready: boolean;
  /** Why not (the autopilot's latest pre-arm text, or what has not arrived yet); '' when ready. */
  reason: string;
}

export interface GoToTarget {
  latDeg: number;
  lonDeg: number;
  /** Metres above home. */
  relativeAltM: number;
}

export interface AutopilotFlavour {
  readonly family: AutopilotFamily;
  /** How integer parameter values travel in PARAM_VALUE / PARAM_SET's float (parameter.html "Parameter Encoding"). */
  readonly paramEncoding: ParamEncoding;
  /**
   * The telemetry to ask for, message id → Hz (0 off), from what the ground station wants: the
   * flavour adds what its readiness needs and swaps messages the firmware does not have.
   */
  telemetry(wanted: Readonly<Record<number, number>>): Record<number, number>;
  /**
   * Whether REQUEST_DATA_STREAM(ALL, stop) switches off stream groups saved on the vehicle
   * (ArduPilot's SRn_/MAVn_ rates). It is sent before the message intervals.
   */
  readonly stopsDataStreams: boolean;
  /** The firmware's name of a generic mode, as HEARTBEAT decodes it (vehicles/modes.ts). */
  modeName(mode: GenericMode): string;
  /** Whether the vehicle is in a generic mode now. */
  isMode(v: Vehicle, mode: GenericMode): boolean;
  /** MAV_CMD_DO_SET_MODE in the firmware's form. */
  setMode(mode: GenericMode): CommandParams;
  /** MAV_CMD_NAV_TAKEOFF to `relativeAltM` above home. */
  takeoff(v: Vehicle | undefined, relativeAltM: number): CommandParams;
  /** Sends the vehicle toward a point; no acknowledgement is awaited (the position shows it). */
  goTo(port: MessagePort, v: Vehicle | undefined, target: GoToTarget): void;
  /** The command a go-to is, when the firmware acknowledges it (PX4's DO_REPOSITION), for tests and logs. */
  goToCommand?(v: Vehicle | undefined, target: GoToTarget): CommandIntParams;
  land(): CommandParams;
  returnToLaunch(): CommandParams;
  /** Land in place on data-link loss and on low and critical battery: straight down, where the lattice keeps drones apart. */
  swarmFailsafes(): readonly ParamSpec[];
  /** Whether the autopilot says it can arm now. */
  readiness(v: Vehicle, nowMs: number): Readiness;
  /** Whether a STATUSTEXT is the autopilot explaining why it will not arm (kept as the readiness reason). */
  isArmingText(text: string): boolean;
  /** SYS_STATUS.current_battery (cA) in amperes, or undefined where the firmware means "not measured". */
  batteryCurrentA(currentCa: number): number | undefined;
}
