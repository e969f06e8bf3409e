/**
 * Drones on the mesh, zigbee2mqtt style: each vehicle session becomes retained
 * `<base>/drones/<id>` state (throttled by the mesh), `<base>/drones/<id>/availability`
 * online/offline as the session lives and is lost, and admins' `<base>/drones/<id>/set` commands
 * become MAVLink actions. A command's result goes to the log (as zigbee2mqtt does for device
 * sets); its effect shows in the drone's next state.
 */
import { VehicleActions } from '../firmware-bridge/actions.ts';
import type { CommandResult } from '../firmware-bridge/microservices/command/command.ts';
import type { MavlinkNode } from '../firmware-bridge/node.ts';
import type { Logger } from '../firmware-bridge/log.ts';
import type { StreamKeeper, Vehicle, VehicleManager } from '../firmware-bridge/vehicles/index.ts';
import type { EventBus } from './app/bus.ts';
import type { Mesh } from './mesh/mesh.ts';
import { tenths, type BridgeEvent, type DroneCommand, type DroneState } from '../common/topics.ts';
import { radioShareBytesPerS } from './telemetry.ts';

/** The mesh id of a drone: its MAVLink system id, prefixed so topics read well ("d7"). */
export function droneId(sysid: number): string {
  return `d${sysid}`;
}

/** The system id in a mesh id ("d7" → 7; undefined if it is none). */
export function sysidOfDroneId(id: string): number | undefined {
  const m = /^d([1-9]\d*)$/.exec(id);
  return m ? Number(m[1]) : undefined;
}

/** What the fleet says of one drone, for its state. */
export interface FleetView {
  role?: string;
  waiting?: string;
}

/** The measured traffic of a drone against its share of its radio. */
export interface LinkLoad {
  framesPerS: number;
  bytesPerS: number;
  shareBytesPerS: number;
  overShare: boolean;
}

export function droneState(v: Vehicle, nowMs: number, fleet?: FleetView, load?: LinkLoad): DroneState {
  const t = v.telemetry;
  const readiness = v.readiness(nowMs);
  // Before its GPS has a fix an autopilot sends GLOBAL_POSITION_INT with 0, 0: that is no position.
  const located = t.latDeg !== undefined && t.lonDeg !== undefined && !(t.latDeg === 0 && t.lonDeg === 0);
  return {
    id: droneId(v.sysid),
    sysid: v.sysid,
    mode: v.mode,
    armed: v.armed,
    autopilot: v.flavour.family,
    telemetry: located ? 'ok' : 'waiting for telemetry',
    readiness: readiness.ready ? { ready: true } : { ready: false, reason: readiness.reason },
    position: located ? { lat: t.latDeg!, lon: t.lonDeg!, altM: t.relativeAltitudeM ?? 0 } : undefined,
    battery: t.voltageV !== undefined ? { voltageV: t.voltageV, currentA: t.currentA, remainingPct: t.remainingPct } : undefined,
    link: { rssi: v.radio?.rssiDbm, lossPct: v.sequence.recentLossPct, ...load },
    role: fleet?.role,
    waiting: fleet?.waiting || undefined,
    heartbeatAt: v.lastHeartbeatMs,
    updatedAt: nowMs,
  };
}

/** Each radio's air rate when its link does not say (the SiK radios the product ships: 57,600 baud). */
export const DEFAULT_RADIO_BAUD = 57_600;
/** A drone over its share for this long is named (a saved stream group is switched off within seconds). */
const OVER_SHARE_AFTER_MS = 30_000;

export interface DroneBridgeOptions {
  node: MavlinkNode;
  vehicles: VehicleManager;
  mesh: Mesh;
  /** Sessions found and lost, and each drone's telemetry, come from it (the bridge extension puts them there). */
  bus: EventBus;
  log: Logger;
  streams?: StreamKeeper;
  /** Air rate of each drone channel (by channel name), baud. */
  radioBaud?: (channel: string) => number;
  /** The fleet's view of a drone, published in its state, when Canopy flies a fleet. */
  fleetView?: (sysid: number) => FleetView | undefined;
  /**
   * Lands a drone the fleet flies as an operator's action (the fleet knows it is no failsafe);
   * undefined for a drone it does not fly, which its autopilot lands directly.
   */
  operatorLand?: (sysid: number) => Promise<CommandResult> | undefined;
}

export class DroneBridge {
  private readonly actions = new Map<Vehicle, VehicleActions>();
  private readonly offs: (() => void)[] = [];
  /** Command results, for tests and the status line. */
  readonly results: { id: string; command: DroneCommand['command']; result: CommandResult }[] = [];
  /** Since when each drone has been over its share of its radio, and whether it was named. */
  private readonly overShare = new Map<Vehicle, { since: number; named: boolean }>();
  private readonly node: MavlinkNode;
  private readonly vehicles: VehicleManager;
  private readonly mesh: Mesh;
  private readonly log: Logger;

  constructor(private readonly opts: DroneBridgeOptions) {
    this.node = opts.node;
    this.vehicles = opts.vehicles;
    this.mesh = opts.mesh;
    this.log = opts.log;
  }

  /**
   * A drone's measured traffic against its share of its radio (the radio's capacity at the
   * utilisation goal, split between the drones heard on it). One over its share for
   * OVER_SHARE_AFTER_MS is named in the log and on the mesh (an alert event).
   */
  linkLoad(v: Vehicle): LinkLoad | undefined {
    const stats = this.opts.streams?.stats(v);
    if (!stats) return undefined;
    const now = this.node.clock.now();
    const onRadio = this.vehicles.list().filter((x) => x.channel === v.channel && x.alive).length;
    const share = radioShareBytesPerS((this.opts.radioBaud ?? (() => DEFAULT_RADIO_BAUD))(v.channel.name), onRadio);
    const over = stats.bytesPerS > share;
    let spell = this.overShare.get(v);
    if (!over) this.overShare.delete(v);
    else if (!spell) this.overShare.set(v, (spell = { since: now, named: false }));
    const named = over && spell !== undefined && now - spell.since >= OVER_SHARE_AFTER_MS;
    if (named && !spell!.named) {
      spell!.named = true;
      const message = `drone ${droneId(v.sysid)} sends ${Math.round(stats.bytesPerS)} B/s (${stats.framesPerS.toFixed(1)} frames/s), over its share of ${v.channel.name} (${Math.round(share)} B/s)`;
      this.log.warn(message);
      const event: BridgeEvent = { type: 'alert', data: { sysid: v.sysid, message, atMs: now } };
      void this.mesh.publish(this.mesh.topics.event, JSON.stringify(event)).catch(() => {});
    }
    return { framesPerS: tenths(stats.framesPerS), bytesPerS: Math.round(stats.bytesPerS), shareBytesPerS: Math.round(share), overShare: named };
  }

  start(): void {
    const bus = this.opts.bus;
    bus.on('drone-state', 'telemetry', (v) => this.mesh.publishDroneState(droneState(v, this.node.clock.now(), this.opts.fleetView?.(v.sysid), this.linkLoad(v))));
    const online = (v: Vehicle) => void this.mesh.publishAvailability(droneId(v.sysid), 'online');
    bus.on('drone-state', 'vehicle-found', online);
    bus.on('drone-state', 'vehicle-back', online);
    bus.on('drone-state', 'vehicle-lost', (v) => void this.mesh.publishAvailability(droneId(v.sysid), 'offline'));
    this.offs.push(() => bus.removeOwner('drone-state'));
    this.offs.push(this.mesh.onDroneSet((id, command) => void this.command(id, command)));
  }

  stop(): void {
    for (const off of this.offs.splice(0)) off();
  }

  private actionsFor(v: Vehicle): VehicleActions {
    let a = this.actions.get(v);
    if (!a) this.actions.set(v, (a = VehicleActions.of(v)));
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
        // ArduCopter takes off only in GUIDED; PX4 from Hold (its flavour's "guided") with an AMSL altitude.
        if (!v.flavour.isMode(v, 'guided')) {
          const mode = await a.mode('guided');
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
        try {
          result = await (this.opts.operatorLand?.(v.sysid) ?? a.land());
        } catch (e) {
          // The fleet refuses a land it cannot do (a drone on the ground, out of touch): said, not thrown.
          this.log.warn('drone land refused', { id, error: (e as Error).message });
          return undefined;
        }
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
