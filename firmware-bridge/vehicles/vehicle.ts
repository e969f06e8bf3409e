/**
 * One vehicle session: a (channel, sysid, compid) that sent an autopilot HEARTBEAT, with the
 * state its telemetry describes. Units are in the field names.
 */
import { ardupilotmega, common, minimal, type MavLinkData } from 'mavlink-mappings';
import type { Channel } from '../channel.ts';
import type { MessagePort } from '../node.ts';
import { flavourOf, type AutopilotFlavour, type Readiness } from '../autopilots/index.ts';
import { StatusTextAssembler } from '../microservices/statustext.ts';
import { decodeMode } from './modes.ts';
import { SequenceTracker, type RadioStatusReading } from './link-quality.ts';

export interface StatusTextEntry {
  severity: number;
  text: string;
  atMs: number;
}

export interface Telemetry {
  latDeg?: number;
  lonDeg?: number;
  /** Above mean sea level. */
  altitudeM?: number;
  /** Above home. */
  relativeAltitudeM?: number;
  velocityNorthMs?: number;
  velocityEastMs?: number;
  velocityDownMs?: number;
  headingDeg?: number;
  rollRad?: number;
  pitchRad?: number;
  yawRad?: number;
  groundSpeedMs?: number;
  climbRateMs?: number;
  voltageV?: number;
  /** Undefined when the autopilot does not measure it (-1 on the wire). */
  currentA?: number;
  remainingPct?: number;
  consumedMah?: number;
  gpsFix?: number;
  satellites?: number;
  homeLatDeg?: number;
  homeLonDeg?: number;
  homeAltitudeM?: number;
  landedState?: number;
  /** The autopilot's wind estimate (ArduPilot WIND, PX4 WIND_COV): speed, the direction it blows from, and when it came. */
  windSpeedMs?: number;
  windFromDeg?: number;
  windAtMs?: number;
}

const STATUSTEXT_KEEP = 20;

/** SYS_STATUS onboard_control_sensors_{present,enabled,health} (MAV_SYS_STATUS_SENSOR bits). */
export interface SensorBits {
  present: number;
  enabled: number;
  health: number;
}

/** A time since boot going back by more than this is a reboot (not reordering on the radio). */
const REBOOT_BACKSTEP_MS = 2000;
/** SYS_STATUS older than this does not tell whether the vehicle can arm now (it comes at 1 Hz). */
const READINESS_FRESH_MS = 5000;

export class Vehicle {
  readonly key: string;
  type: number;
  autopilot: number;
  customMode = 0;
  mode = '';
  armed = false;
  systemStatus = 0;
  alive = true;
  lastHeartbeatMs: number;
  readonly telemetry: Telemetry = {};
  readonly statusTexts: StatusTextEntry[] = [];
  readonly sequence = new SequenceTracker();
  /** The radio this vehicle is heard through (RADIO_STATUS of its channel). */
  radio: RadioStatusReading | undefined;
  /** The latest SYS_STATUS sensor bits (the pre-arm check's health bit among them). */
  sensors: SensorBits | undefined;
  /** The latest EKF_STATUS_REPORT flags (ArduPilot). */
  ekfFlags: number | undefined;
  /** The latest STATUSTEXT in which the autopilot said why it will not arm (its flavour decides which). */
  armingText: StatusTextEntry | undefined;
  /** When the newest position and SYS_STATUS arrived (undefined: never since discovery or the last reboot). */
  lastPositionMs: number | undefined;
  lastSysStatusMs: number | undefined;
  /** The autopilot's time since boot as its telemetry last said (ms), and how often it went back (reboots). */
  bootTimeMs: number | undefined;
  reboots = 0;
  private readonly chunks = new StatusTextAssembler();

  constructor(
    readonly channel: Channel,
    readonly sysid: number,
    readonly compid: number,
    readonly port: MessagePort,
    hb: minimal.Heartbeat,
    nowMs: number,
  ) {
    this.key = `${channel.name}/${sysid}/${compid}`;
    this.type = hb.type;
    this.autopilot = hb.autopilot;
    this.lastHeartbeatMs = nowMs;
  }

  /** How to talk to this vehicle's firmware (autopilots/). */
  get flavour(): AutopilotFlavour {
    return flavourOf(this.autopilot);
  }

  /**
   * Forgets what a rebooted autopilot no longer holds: its readiness, its home and the telemetry
   * it was asked for (it must be asked again).
   */
  rebooted(): void {
    this.reboots++;
    this.sensors = undefined;
    this.ekfFlags = undefined;
    this.armingText = undefined;
    this.lastPositionMs = undefined;
    this.lastSysStatusMs = undefined;
    const t = this.telemetry;
    t.homeLatDeg = t.homeLonDeg = t.homeAltitudeM = undefined;
  }

  /**
   * Whether the autopilot says it can arm now (its flavour reads its own signals), judged on fresh
   * telemetry only: a readiness heard before the telemetry stopped says nothing of now.
   */
  readiness(nowMs: number): Readiness {
    if (this.lastPositionMs === undefined) return { ready: false, reason: 'waiting for telemetry' };
    if (this.lastSysStatusMs === undefined || nowMs - this.lastSysStatusMs > READINESS_FRESH_MS) return { ready: false, reason: 'waiting for SYS_STATUS' };
    return this.flavour.readiness(this, nowMs);
  }

  /** Notes a time since boot; true when it went back (the autopilot rebooted). */
  private bootTime(ms: number): boolean {
    const back = this.bootTimeMs !== undefined && ms + REBOOT_BACKSTEP_MS < this.bootTimeMs;
    this.bootTimeMs = ms;
    if (back) this.rebooted();
    return back;
  }

  /** Applies a HEARTBEAT; returns what changed, for the manager's events. */
  heartbeat(hb: minimal.Heartbeat, nowMs: number): { modeChanged: boolean; armedChanged: boolean } {
    this.lastHeartbeatMs = nowMs;
    this.type = hb.type;
    this.autopilot = hb.autopilot;
    this.systemStatus = hb.systemStatus;
    const mode = decodeMode(hb.autopilot, hb.customMode);
    const armed = (hb.baseMode & minimal.MavModeFlag.SAFETY_ARMED) !== 0;
    const modeChanged = mode !== this.mode;
    const armedChanged = armed !== this.armed;
    this.customMode = hb.customMode;
    this.mode = mode;
    this.armed = armed;
    return { modeChanged, armedChanged };
  }

  /** Applies a telemetry message; returns a completed STATUSTEXT, if this message finished one. */
  apply(m: MavLinkData, nowMs: number): StatusTextEntry | undefined {
    const t = this.telemetry;
    if (m instanceof common.GlobalPositionInt) {
      this.bootTime(m.timeBootMs);
      this.lastPositionMs = nowMs;
      t.latDeg = m.lat / 1e7;
      t.lonDeg = m.lon / 1e7;
      t.altitudeM = m.alt / 1000;
      t.relativeAltitudeM = m.relativeAlt / 1000;
      t.velocityNorthMs = m.vx / 100;
      t.velocityEastMs = m.vy / 100;
      t.velocityDownMs = m.vz / 100;
      if (m.hdg !== 65535) t.headingDeg = m.hdg / 100;
    } else if (m instanceof common.SysStatus) {
      this.lastSysStatusMs = nowMs;
      this.sensors = { present: m.onboardControlSensorsPresent, enabled: m.onboardControlSensorsEnabled, health: m.onboardControlSensorsHealth };
      if (m.voltageBattery !== 65535) t.voltageV = m.voltageBattery / 1000;
      t.currentA = this.flavour.batteryCurrentA(m.currentBattery);
      if (m.batteryRemaining !== -1) t.remainingPct = m.batteryRemaining;
    } else if (m instanceof common.BatteryStatus) {
      if (m.currentConsumed !== -1) t.consumedMah = m.currentConsumed;
      if (m.batteryRemaining !== -1) t.remainingPct = m.batteryRemaining;
    } else if (m instanceof ardupilotmega.EkfStatusReport) {
      this.ekfFlags = m.flags;
    } else if (m instanceof common.SystemTime) {
      this.bootTime(m.timeBootMs);
    } else if (m instanceof common.Attitude) {
      this.bootTime(m.timeBootMs);
      t.rollRad = m.roll;
      t.pitchRad = m.pitch;
      t.yawRad = m.yaw;
    } else if (m instanceof common.GpsRawInt) {
      t.gpsFix = m.fixType;
      t.satellites = m.satellitesVisible === 255 ? undefined : m.satellitesVisible;
    } else if (m instanceof common.VfrHud) {
      t.groundSpeedMs = m.groundspeed;
      t.climbRateMs = m.climb;
    } else if (m instanceof common.HomePosition) {
      t.homeLatDeg = m.latitude / 1e7;
      t.homeLonDeg = m.longitude / 1e7;
      t.homeAltitudeM = m.altitude / 1000;
    } else if (m instanceof common.ExtendedSysState) {
      t.landedState = m.landedState;
    } else if (m instanceof ardupilotmega.Wind) {
      // ardupilotmega.xml WIND: direction the wind is coming from (deg), horizontal speed (m/s).
      t.windSpeedMs = m.speed;
      t.windFromDeg = ((m.direction % 360) + 360) % 360;
      t.windAtMs = nowMs;
    } else if (m instanceof common.WindCov) {
      // common.xml WIND_COV: wind_x / wind_y are the air's velocity north / east (NaN unknown); it blows from the opposite way.
      if (Number.isFinite(m.windX) && Number.isFinite(m.windY)) {
        t.windSpeedMs = Math.hypot(m.windX, m.windY);
        t.windFromDeg = (((Math.atan2(-m.windY, -m.windX) * 180) / Math.PI) % 360 + 360) % 360;
        t.windAtMs = nowMs;
      }
    } else if (m instanceof common.StatusText) {
      return this.statusText(m, nowMs);
    }
    return undefined;
  }

  /** A STATUSTEXT, once whole (chunks joined: microservices/statustext.ts). */
  private statusText(m: common.StatusText, nowMs: number): StatusTextEntry | undefined {
    const full = this.chunks.push(m);
    if (full === undefined) return undefined;
    const entry = { severity: m.severity, text: full, atMs: nowMs };
    if (this.flavour.isArmingText(full)) this.armingText = entry;
    this.statusTexts.push(entry);
    if (this.statusTexts.length > STATUSTEXT_KEEP) this.statusTexts.shift();
    return entry;
  }
}
