/**
 * The actions the controller uses, for one vehicle and for a swarm.
 *
 * Swarm form (`swarmCommand`): over a shared 57,600-baud radio, 25 unicast commands cost 25× the
 * airtime of one broadcast. So the first round is ONE COMMAND_LONG with target_system 0 per
 * channel (ArduPilot's GCS_MAVLINK::accept_packet treats target_system 0 as "all systems"), and
 * only the drones that have not acknowledged get unicast retries, each after a random jitter so
 * their ACKs do not collide on the radio.
 */
import { common } from 'mavlink-mappings';
import type { Channel } from './channel.ts';
import type { MavlinkNode } from './node.ts';
import type { Random } from './random.ts';
import { buildCommandLong, CommandSender, type CommandOptions, type CommandParams, type CommandResult } from './microservices/command/command.ts';
import type { MessagePort } from './node.ts';
import { ardupilot, type AutopilotFlavour, type GenericMode, type GoToTarget } from './autopilots/index.ts';
import { encodeMode } from './vehicles/modes.ts';
import type { Vehicle } from './vehicles/vehicle.ts';

export interface ModeSetting {
  baseMode: number;
  customMode: number;
}

/** MAV_MODE_FLAG_CUSTOM_MODE_ENABLED: param2 of DO_SET_MODE is the autopilot's own mode number. */
const CUSTOM_MODE_ENABLED = 1;

export const actionCommands = {
  arm: (): CommandParams => ({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [1] }),
  disarm: (): CommandParams => ({ command: common.MavCmd.COMPONENT_ARM_DISARM, params: [0] }),
  setMode: (mode: ModeSetting): CommandParams => ({ command: common.MavCmd.DO_SET_MODE, params: [mode.baseMode | CUSTOM_MODE_ENABLED, mode.customMode] }),
  /** ArduPilot's form (autopilots/ardupilot.ts): param7 above home, lat/lon ignored. */
  takeoff: (altitudeM: number): CommandParams => ardupilot.takeoff(undefined, altitudeM),
  returnToLaunch: (): CommandParams => ardupilot.returnToLaunch(),
  land: (): CommandParams => ardupilot.land(),
};

export type { GoToTarget } from './autopilots/index.ts';

/**
 * One vehicle's actions on top of its CommandSender, in its firmware's own form (autopilots/):
 * given the vehicle, its flavour decides how a mode, a takeoff or a go-to is sent; given only a
 * port, the ArduPilot forms are used.
 */
export class VehicleActions {
  readonly commands: CommandSender;
  private readonly flavour: AutopilotFlavour;

  constructor(
    private readonly port: MessagePort,
    defaults: CommandOptions = {},
    private readonly vehicle?: Vehicle,
  ) {
    this.commands = new CommandSender(port, defaults);
    this.flavour = vehicle?.flavour ?? ardupilot;
  }

  /** The actions of a known vehicle, in its firmware's form. */
  static of(vehicle: Vehicle, defaults: CommandOptions = {}): VehicleActions {
    return new VehicleActions(vehicle.port, defaults, vehicle);
  }

  arm(opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(actionCommands.arm(), opts);
  }
  disarm(opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(actionCommands.disarm(), opts);
  }
  setMode(mode: ModeSetting, opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(actionCommands.setMode(mode), opts);
  }
  /** A generic mode (guided, land, rtl) in the firmware's DO_SET_MODE form (PX4: main and sub mode in param2 and param3). */
  mode(mode: GenericMode, opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(this.flavour.setMode(mode), opts);
  }
  /** By name: ArduCopter's ("GUIDED"), PX4's ("AUTO.MISSION") or the generic ones; see vehicles/modes.ts. */
  setModeByName(autopilot: number, name: string, opts?: CommandOptions): Promise<CommandResult> {
    return this.setMode(encodeMode(autopilot, name), opts);
  }
  /** Takeoff to `altitudeM` above home. */
  takeoff(altitudeM: number, opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(this.vehicle ? this.flavour.takeoff(this.vehicle, altitudeM) : actionCommands.takeoff(altitudeM), opts);
  }
  returnToLaunch(opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(this.flavour.returnToLaunch(), opts);
  }
  land(opts?: CommandOptions): Promise<CommandResult> {
    return this.commands.sendLong(this.flavour.land(), opts);
  }

  /**
   * Go-to in the firmware's form (ArduPilot: SET_POSITION_TARGET_GLOBAL_INT, obeyed in GUIDED;
   * PX4: DO_REPOSITION). Nothing is awaited (mavlink.io "Offboard control": position targets have
   * no acknowledgement): success is seen in GLOBAL_POSITION_INT.
   */
  goTo(target: GoToTarget): void {
    if (this.vehicle) this.flavour.goTo(this.port, this.vehicle, target);
    else ardupilot.goTo(this.port, undefined, target);
  }
}

export interface SwarmTarget {
  channel: Channel;
  sysid: number;
  compid: number;
}

export interface SwarmOptions {
  random: Random;
  /** How long to wait for ACKs after the broadcast before unicasting. */
  broadcastWaitMs?: number;
  /** Upper bound of the random delay before each unicast retry. */
  jitterMs?: number;
  /** Unicast options (timeout, retries) for the drones that missed the broadcast. */
  unicast?: CommandOptions;
}

export interface SwarmResult {
  /** Result per target sysid. */
  results: Map<number, CommandResult & { viaBroadcast: boolean }>;
  acknowledged: number;
}

/** Runs one command on many drones: a broadcast per channel, then unicast retries to the silent ones. */
export async function swarmCommand(node: MavlinkNode, targets: SwarmTarget[], cmd: CommandParams, opts: SwarmOptions): Promise<SwarmResult> {
  const clock = node.clock;
  const results: SwarmResult['results'] = new Map();
  const pending = new Map(targets.map((t) => [t.sysid, t]));
  const listener = ({ message, frame }: { message: unknown; frame: { sysid: number } }) => {
    if (!(message instanceof common.CommandAck) || message.command !== cmd.command) return;
    const target = pending.get(frame.sysid);
    if (!target || message.result === common.MavResult.IN_PROGRESS) return;
    pending.delete(frame.sysid);
    const accepted = message.result === common.MavResult.ACCEPTED;
    results.set(
      frame.sysid,
      accepted
        ? { ok: true, result: message.result, attempts: 1, viaBroadcast: true }
        : { ok: false, reason: message.result === common.MavResult.TEMPORARILY_REJECTED ? 'temporarily-rejected' : 'denied', result: message.result, attempts: 1, detail: `refused: ${common.MavResult[message.result]}`, viaBroadcast: true },
    );
  };
  node.on('message', listener);
  try {
    const channels = new Set(targets.map((t) => t.channel));
    for (const channel of channels) {
      channel.send(buildCommandLong({ sysid: 0, compid: 0 }, cmd), node, 0);
    }
    await new Promise<void>((resolve) => clock.setTimeout(resolve, opts.broadcastWaitMs ?? 1500));
  } finally {
    node.off('message', listener);
  }
  const jitter = opts.jitterMs ?? 300;
  await Promise.all(
    [...pending.values()].map(async (t) => {
      await new Promise<void>((resolve) => clock.setTimeout(resolve, opts.random() * jitter));
      const r = await new CommandSender(node.portTo(t.channel, t.sysid, t.compid)).sendLong(cmd, opts.unicast);
      results.set(t.sysid, { ...r, viaBroadcast: false });
    }),
  );
  let acknowledged = 0;
  for (const r of results.values()) if (r.ok) acknowledged++;
  return { results, acknowledged };
}
