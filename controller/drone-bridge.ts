/**
 * Drones on the mesh, zigbee2mqtt style: each vehicle session becomes retained
 * `<base>/drones/<id>` state (throttled by the mesh), `<base>/drones/<id>/availability`
 * online/offline as the session lives and is lost, and admins' `<base>/drones/<id>/set` commands
 * become MAVLink actions. A command's result goes to the log (as zigbee2mqtt does for device
 * sets); its effect shows in the drone's next state.
 */
import { minimal } from 'mavlink-mappings';
import { VehicleActions } from '../firmware-bridge/actions.ts';
import type { CommandResult } from '../firmware-bridge/microservices/command/command.ts';
import type { MavlinkNode } from '../firmware-bridge/node.ts';
import type { Logger } from '../firmware-bridge/log.ts';
import type { Vehicle, VehicleManager } from '../firmware-bridge/vehicles/index.ts';
import type { Mesh } from './mesh/mesh.ts';
import type { DroneCommand, DroneState } from './mesh/topics.ts';

/** The mesh id of a drone: its MAVLink system id, prefixed so topics read well ("d7"). */
export function droneId(sysid: number): string {
  return `d${sysid}`;
}

export function droneState(v: Vehicle, nowMs: number, role?: string): DroneState {
  const t = v.telemetry;
  return {
    id: droneId(v.sysid),
    sysid: v.sysid,
    mode: v.mode,
    armed: v.armed,
    position: t.latDeg !== undefined && t.lonDeg !== undefined ? { lat: t.latDeg, lon: t.lonDeg, altM: t.relativeAltitudeM ?? 0 } : undefined,
    battery: t.voltageV !== undefined ? { voltageV: t.voltageV, currentA: t.currentA, remainingPct: t.remainingPct } : undefined,
    link: { rssi: v.radio?.rssiDbm, lossPct: v.sequence.recentLossPct },
    role,
    heartbeatAt: v.lastHeartbeatMs,
    updatedAt: nowMs,
  };
}

export class DroneBridge {
  private readonly actions = new Map<Vehicle, VehicleActions>();
  private readonly offs: (() => void)[] = [];
  /** Command results, for tests and the status line. */
  readonly results: { id: string; command: DroneCommand['command']; result: CommandResult }[] = [];
  /** The fleet's role of a drone, published in its state (set by the site controller when it flies a fleet). */
  roleOf: ((sysid: number) => string | undefined) | undefined;

  constructor(
    private readonly node: MavlinkNode,
    private readonly vehicles: VehicleManager,
    private readonly mesh: Mesh,
    private readonly log: Logger,
  ) {}

  start(): void {
    const publish = (v: Vehicle) => this.mesh.publishDroneState(droneState(v, this.node.clock.now(), this.roleOf?.(v.sysid)));
    const onMessage = ({ frame, channel }: { frame: { sysid: number; compid: number }; channel: Vehicle['channel'] }) => {
      const v = this.vehicles.bySysid(frame.sysid);
      if (v && v.channel === channel && v.compid === frame.compid) publish(v);
    };
    this.node.on('message', onMessage);
    this.offs.push(() => this.node.off('message', onMessage));
    const online = (v: Vehicle) => void this.mesh.publishAvailability(droneId(v.sysid), 'online');
    const offline = (v: Vehicle) => void this.mesh.publishAvailability(droneId(v.sysid), 'offline');
    this.vehicles.on('vehicle-added', online);
    this.vehicles.on('vehicle-alive', online);
    this.vehicles.on('vehicle-lost', offline);
    this.offs.push(() => {
      this.vehicles.off('vehicle-added', online);
      this.vehicles.off('vehicle-alive', online);
      this.vehicles.off('vehicle-lost', offline);
    });
    this.offs.push(this.mesh.onDroneSet((id, command) => void this.command(id, command)));
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private actionsFor(v: Vehicle): VehicleActions {
    let a = this.actions.get(v);
    if (!a) this.actions.set(v, (a = new VehicleActions(v.port)));
    return a;
  }

  /** Runs an admin's command; an unknown drone is logged, never thrown. */
  async command(id: string, command: DroneCommand): Promise<CommandResult | undefined> {
    const v = this.vehicles.list().find((x) => droneId(x.sysid) === id);
    if (!v) {
      this.log.warn('command for an unknown drone', { id, command: command.command });
      return undefined;
    }
    const a = this.actionsFor(v);
    let result: CommandResult;
    switch (command.command) {
      case 'arm':
        result = await a.arm();
        break;
      case 'disarm':
        result = await a.disarm();
        break;
      case 'takeoff':
        // ArduCopter takes off only in GUIDED; PX4 takes off from its own AUTO.TAKEOFF.
        if (v.autopilot === minimal.MavAutopilot.ARDUPILOTMEGA && v.mode !== 'GUIDED') {
          const mode = await a.setModeByName(v.autopilot, 'GUIDED');
          if (!mode.ok) {
            result = mode;
            break;
          }
        }
        result = await a.takeoff(command.altM);
        break;
      case 'goto':
        a.goTo({ latDeg: command.lat, lonDeg: command.lon, relativeAltM: command.altM });
        result = { ok: true, result: 0, attempts: 1 };
        break;
      case 'land':
        result = await a.land();
        break;
      case 'rtl':
        result = await a.returnToLaunch();
        break;
    }
    this.results.push({ id, command: command.command, result });
    if (!result.ok) this.log.warn('drone refused a command', { id, command: command.command, reason: result.reason, detail: result.detail });
    else this.log.info('drone command accepted', { id, command: command.command });
    return result;
  }
}
