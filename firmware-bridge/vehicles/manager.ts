/**
 * Finds vehicles and keeps their sessions. A session starts with the first HEARTBEAT from a
 * component that is an autopilot (autopilot ≠ MAV_AUTOPILOT_INVALID, so GCSs, cameras, gimbals
 * and radios are not vehicles), is not a GCS and is not us. It is lost after `lostAfterMs`
 * without a HEARTBEAT (default 5 s, the same as ArduPilot's FS_GCS_TIMEOUT default) and alive
 * again with the next one.
 */
import { EventEmitter } from 'node:events';
import { common, minimal } from 'mavlink-mappings';
import type { Channel } from '../channel.ts';
import type { TimerHandle } from '../clock.ts';
import type { Inbound, MavlinkNode } from '../node.ts';
import type { Frame } from '../protocol/frame.ts';
import { sikToDbm, type RadioStatusReading } from './link-quality.ts';
import { Vehicle, type StatusTextEntry } from './vehicle.ts';

export interface VehicleEvents {
  'vehicle-added': [vehicle: Vehicle];
  'vehicle-lost': [vehicle: Vehicle];
  'vehicle-alive': [vehicle: Vehicle];
  'mode-changed': [vehicle: Vehicle, previous: string];
  'armed-changed': [vehicle: Vehicle];
  /** Its time since boot went back: the autopilot restarted and has forgotten what it was asked. */
  'vehicle-rebooted': [vehicle: Vehicle];
  statustext: [vehicle: Vehicle, entry: StatusTextEntry];
}

export interface VehicleManagerOptions {
  lostAfterMs?: number;
  /** Sessions kept at most: noise that passes a CRC by chance must not grow memory. */
  maxVehicles?: number;
  /**
   * Sessions only from channels of kind 'vehicles' (the drone radios): a HEARTBEAT of a quadrotor
   * on a pilot's GCS link is not a drone of the fleet. Default false (every channel: tools, tests).
   */
  vehicleChannelsOnly?: boolean;
}

/** SiK radios report from sysid 51 (the "radio" system id of the SiK firmware). */
const SIK_SYSID = 51;

export class VehicleManager extends EventEmitter<VehicleEvents> {
  private readonly byChannel = new Map<Channel, Map<number, Vehicle>>();
  private readonly all: Vehicle[] = [];
  private readonly radios = new Map<Channel, RadioStatusReading>();
  private readonly lostAfterMs: number;
  private readonly maxVehicles: number;
  private timer: TimerHandle | undefined;
  /** Messages from components without a session (not an error: GCSs, cameras, radios). */
  unknownSenders = 0;
  refusedOverCap = 0;
  /** Autopilot HEARTBEATs heard on a non-vehicle channel with vehicleChannelsOnly (no session made). */
  refusedFromGcs = 0;
  private readonly vehicleChannelsOnly: boolean;
  private readonly onMessage = (m: Inbound) => this.handle(m);
  private readonly onFrame = (f: Frame, ch: Channel) => this.byChannel.get(ch)?.get((f.sysid << 8) | f.compid)?.sequence.observe(f.seq);

  constructor(
    private readonly node: MavlinkNode,
    opts: VehicleManagerOptions = {},
  ) {
    super();
    this.lostAfterMs = opts.lostAfterMs ?? 5000;
    this.maxVehicles = opts.maxVehicles ?? 255;
    this.vehicleChannelsOnly = opts.vehicleChannelsOnly ?? false;
  }

  start(): void {
    this.node.on('frame', this.onFrame);
    this.node.on('message', this.onMessage);
    this.timer = this.node.clock.setInterval(() => this.checkLost(), Math.max(100, this.lostAfterMs / 5));
  }

  stop(): void {
    this.node.off('frame', this.onFrame);
    this.node.off('message', this.onMessage);
    this.node.clock.clearInterval(this.timer);
  }

  list(): Vehicle[] {
    return [...this.all];
  }

  get(key: string): Vehicle | undefined {
    return this.all.find((v) => v.key === key);
  }

  bySysid(sysid: number): Vehicle | undefined {
    return this.all.find((v) => v.sysid === sysid);
  }

  radioOf(channel: Channel): RadioStatusReading | undefined {
    return this.radios.get(channel);
  }

  private handle({ frame, message, channel }: Inbound): void {
    const id = (frame.sysid << 8) | frame.compid;
    let vehicle = this.byChannel.get(channel)?.get(id);
    const now = this.node.clock.now();
    if (message instanceof minimal.Heartbeat) {
      if (!vehicle) {
        vehicle = this.discover(channel, frame, message, now);
        if (!vehicle) return;
      }
      const { modeChanged, armedChanged } = vehicle.heartbeat(message, now);
      if (!vehicle.alive) {
        vehicle.alive = true;
        this.emit('vehicle-alive', vehicle);
      }
      if (modeChanged) this.emit('mode-changed', vehicle, '');
      if (armedChanged) this.emit('armed-changed', vehicle);
      return;
    }
    if (message instanceof common.RadioStatus && frame.sysid === SIK_SYSID) {
      this.radioStatus(channel, message, now);
      return;
    }
    if (!vehicle) {
      this.unknownSenders++;
      return;
    }
    const reboots = vehicle.reboots;
    const text = vehicle.apply(message, now);
    if (vehicle.reboots !== reboots) this.emit('vehicle-rebooted', vehicle);
    if (text) this.emit('statustext', vehicle, text);
  }

  private discover(channel: Channel, frame: Frame, hb: minimal.Heartbeat, now: number): Vehicle | undefined {
    if (hb.type === minimal.MavType.GCS || hb.autopilot === minimal.MavAutopilot.INVALID || frame.sysid === this.node.sysid) return undefined;
    if (this.vehicleChannelsOnly && channel.kind !== 'vehicles') {
      this.refusedFromGcs++;
      return undefined;
    }
    if (this.all.length >= this.maxVehicles) {
      this.refusedOverCap++;
      return undefined;
    }
    const vehicle = new Vehicle(channel, frame.sysid, frame.compid, this.node.portTo(channel, frame.sysid, frame.compid), hb, now);
    vehicle.sequence.observe(frame.seq);
    let map = this.byChannel.get(channel);
    if (!map) this.byChannel.set(channel, (map = new Map()));
    map.set((frame.sysid << 8) | frame.compid, vehicle);
    this.all.push(vehicle);
    vehicle.radio = this.radios.get(channel);
    this.emit('vehicle-added', vehicle);
    return vehicle;
  }

  private radioStatus(channel: Channel, m: common.RadioStatus, now: number): void {
    const reading: RadioStatusReading = {
      rssiDbm: sikToDbm(m.rssi),
      remoteRssiDbm: sikToDbm(m.remrssi),
      noiseDbm: sikToDbm(m.noise),
      remoteNoiseDbm: sikToDbm(m.remnoise),
      txbufPct: m.txbuf,
      rxErrors: m.rxerrors,
      fixed: m.fixed,
      atMs: now,
    };
    this.radios.set(channel, reading);
    const vehicles = this.byChannel.get(channel);
    if (vehicles) for (const v of vehicles.values()) v.radio = reading;
  }

  private checkLost(): void {
    const now = this.node.clock.now();
    for (const v of this.all) {
      if (v.alive && now - v.lastHeartbeatMs > this.lostAfterMs) {
        v.alive = false;
        this.emit('vehicle-lost', v);
      }
    }
  }
}
