/**
 * A virtual ArduCopter: one per simulated drone, speaking MAVLink 2 over any Link exactly as the
 * firmware does for what Canopy uses. Behaviour follows ArduCopter 4.5 (GCS_MAVLink_Copter.cpp,
 * mode_*.cpp, AP_Arming, AP_BattMonitor, failsafe.cpp): custom modes by number, arming checks,
 * takeoff/guided/RTL/land/AUTO, the message-interval and timesync protocols, signing, and the GCS
 * and battery failsafes. The mission, parameter and command protocols are served by the modules in
 * sim/servers/, which the copter composes: it keeps the vehicle's state and flies it.
 *
 * The world calls `step(dt)` on the simulated clock; the autopilot flies its Multicopter and
 * drains its Battery. Telemetry is scheduled on the same steps.
 */
import { ardupilotmega, common, minimal, standard, type MavLinkData } from 'mavlink-mappings';
import type { Channel } from '../firmware-bridge/channel.ts';
import type { Clock } from '../firmware-bridge/clock.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { MavlinkSigning } from '../firmware-bridge/microservices/signing/index.ts';
import { MavlinkNode } from '../firmware-bridge/node.ts';
import { newMessage, type Frame } from '../firmware-bridge/protocol/frame.ts';
import { ArduCopterCommands, CommandServer, type CommandedVehicle } from './servers/commands.ts';
import { ServerEndpoint } from './servers/endpoint.ts';
import { MissionServer } from './servers/mission.ts';
import { ARDUPILOT_PARAMS, LEGACY_ARDUPILOT_PARAMS, ParamServer, type ParamDialect } from './servers/params.ts';
import { ARDUCOPTER_MODES, decodeMode } from '../firmware-bridge/vehicles/modes.ts';
import { Battery, type BatteryOptions } from './battery.ts';
import { arducopterParams, BATT_FS_ACTION, FS_GCS, paramNames, type ParamDef } from './params.ts';
import { ALWAYS, ARDUPILOT_GROUPS, fillerMessage, GROUP_OF_DATA_STREAM, hasApMessage, StreamSchedule, streamRateParam, type StreamGroup } from './streams.ts';
import { latLonToOffset, offsetToLatLon } from '../firmware-bridge/geo.ts';
import { Multicopter, type AirframeProfile, type Guidance, type Vec3 } from './physics.ts';
import { seededRandom, type Random } from '../firmware-bridge/random.ts';
import { bootArmingFailure, coldBoot, warmBoot, type BootTimeline } from './boot.ts';

const { ACCEPTED, FAILED, DENIED } = common.MavResult;
const MODE = ARDUCOPTER_MODES as Record<'STABILIZE' | 'AUTO' | 'GUIDED' | 'LOITER' | 'RTL' | 'LAND', number>;
/** AP_Arming: RTL and LAND are not armable; AUTO only with AUTO_OPTIONS bit 0 (default off). */
const ARMABLE = new Set([ARDUCOPTER_MODES.STABILIZE, ARDUCOPTER_MODES.ALT_HOLD, ARDUCOPTER_MODES.GUIDED, ARDUCOPTER_MODES.LOITER, ARDUCOPTER_MODES.POSHOLD]);
/** Time constant of the EKF's wind estimate following the true wind. */
const WIND_ESTIMATE_LAG_S = 5;

export interface Origin {
  latDeg: number;
  lonDeg: number;
  /** Ground elevation above mean sea level. */
  altitudeM: number;
}

export interface VirtualCopterOptions {
  sysid: number;
  clock: Clock;
  link: Link;
  airframe: AirframeProfile;
  battery: BatteryOptions;
  /** The ground station's position; the drone's local frame is centred there. */
  origin: Origin;
  /** The drone's charging pad (its home), metres from the origin. */
  pad: Vec3;
  /** GPS needs this long after boot for a 3D fix. */
  gpsFixAfterMs?: number;
  params?: Record<string, number>;
  /** Firmware version text in the boot STATUSTEXT. */
  firmware?: string;
  /**
   * Powered on now (a cold start: the boot timeline runs, the EKF uses GPS 30–45 s later) or long
   * before the run (warmed up). Default: warmed up.
   */
  coldStart?: boolean;
  /** Seeds the boot timeline's jitter (default: the sysid). */
  seed?: number;
  /** Stream-group rates a GCS once saved in the rate parameters (Hz), back at every boot. Default: none (stock: 0). */
  savedStreams?: Partial<Record<StreamGroup, number>>;
  /** The parameter names before ArduPilot 4.7 (SYSID_THISMAV, SRn_*) instead of today's (MAV_SYSID, MAVn_*). */
  legacyParamNames?: boolean;
}

/** The serial port the telemetry radio is on (SERIAL1, TELEM1): its stream-rate parameters are MAV1_* / SR1_*. */
const RADIO_SERIAL = 1;


type Landing = 'none' | 'descending';
type RtlStage = 'climb' | 'return' | 'loiter' | 'descend';

/** The messages build() models from the copter's state; any other streamed message is a filler of its real size (streams.ts). */
const MODELLED: ReadonlySet<number> = new Set([
  minimal.Heartbeat.MSG_ID, common.SysStatus.MSG_ID, common.BatteryStatus.MSG_ID, common.GlobalPositionInt.MSG_ID, common.GpsRawInt.MSG_ID, common.Attitude.MSG_ID,
  common.VfrHud.MSG_ID, common.ExtendedSysState.MSG_ID, ardupilotmega.Wind.MSG_ID, ardupilotmega.EkfStatusReport.MSG_ID, common.MissionCurrent.MSG_ID,
  common.HomePosition.MSG_ID, common.SystemTime.MSG_ID, standard.AutopilotVersion.MSG_ID,
]);

export interface AutopilotEvents {
  statustext: (text: string, severity: common.MavSeverity) => void;
}

/** A reading in an int16 field: saturated, as an autopilot's own conversion does. */
function int16(v: number): number {
  return Math.max(-32768, Math.min(32767, Math.round(v)));
}

export class VirtualCopter implements CommandedVehicle {
  readonly sysid: number;
  readonly node: MavlinkNode;
  readonly channel: Channel;
  readonly copter: Multicopter;
  /** The EKF's wind estimate (the air's velocity, m/s): follows the wind with a few seconds' lag while flying, held on the ground. */
  private readonly windEstimate = { n: 0, e: 0 };
  readonly battery: Battery;
  readonly signing: MavlinkSigning;
  readonly params: Map<string, ParamDef>;
  readonly origin: Origin;
  readonly pad: Vec3;
  readonly statusLog: { atMs: number; severity: number; text: string }[] = [];
  customMode: number = MODE.STABILIZE;
  armed = false;
  /** Net generation credited to this drone, W (set by the world). */
  solarShareW = 0;
  /** Set by the world when the drone's pad charger is on. */
  padChargeW = 0;
  failsafe = { gcs: false, batteryLow: false, batteryCritical: false };
  protected readonly clock: Clock;
  /** Power-on of this boot, and its timeline (sim/boot.ts). */
  protected bootMs: number;
  protected boot: BootTimeline;
  private bootTextsSent = 0;
  protected homeSet = false;
  private lastPrearmTextMs = -Infinity;
  protected readonly random: Random;
  protected readonly firmware: string;
  protected readonly streams: StreamSchedule;
  /** The protocol servers (sim/servers/) on the vehicle's link, and the firmware's command set behind the command server. */
  private readonly endpoint: ServerEndpoint;
  protected readonly paramServer: ParamServer;
  protected readonly missionServer: MissionServer;
  protected readonly commandServer: CommandServer;
  private readonly arducopterCommands: ArduCopterCommands;
  protected readonly legacyNames: boolean;
  protected guidedTarget: Vec3 | undefined;
  protected takeoffTarget: number | undefined;
  protected landing: Landing = 'none';
  protected rtl: { stage: RtlStage; untilMs?: number } | undefined;
  protected landedSinceMs: number | undefined;
  private crashSinceMs: number | undefined;
  protected lastGcsHeartbeatMs: number | undefined;
  protected batteryLowSinceMs: number | undefined;
  protected batteryCrtSinceMs: number | undefined;
  private missionWaitUntilMs: number | undefined;
  protected textId = 0;
  /** A message is being handled: its STATUSTEXTs wait in `heldTexts` until its answer is out (text()). */
  private answering = false;
  private readonly heldTexts: common.StatusText[] = [];

  constructor(opts: VirtualCopterOptions) {
    this.sysid = opts.sysid;
    this.clock = opts.clock;
    this.bootMs = opts.clock.now();
    this.random = seededRandom(opts.seed ?? opts.sysid);
    this.boot = opts.coldStart ? coldBoot(this.random, opts.origin.altitudeM) : warmBoot(opts.gpsFixAfterMs ?? 5000);
    this.firmware = opts.firmware ?? 'ArduCopter V4.8.0-dev (Canopy sim)';
    this.origin = opts.origin;
    this.pad = { ...opts.pad };
    this.copter = new Multicopter(opts.airframe, opts.pad);
    this.battery = new Battery(opts.battery);
    this.legacyNames = opts.legacyParamNames ?? false;
    this.params = this.firmwareParams(opts);
    this.streams = new StreamSchedule(this.alwaysStreamed());
    for (const [name, value] of Object.entries(opts.params ?? {})) {
      const def = this.params.get(name);
      if (def) def.value = value;
    }
    this.signing = new MavlinkSigning({ clock: opts.clock, requireSigned: false });
    this.node = new MavlinkNode({ clock: opts.clock, sysid: opts.sysid, compid: minimal.MavComponent.AUTOPILOT1, heartbeatHz: 0, onlyAddressedToUs: true });
    this.channel = this.node.addLink(opts.link, { signing: this.signing });
    const endpoint = (this.endpoint = new ServerEndpoint(this.node, this.channel));
    this.paramServer = new ParamServer(endpoint, this.params, this.paramDialect());
    this.missionServer = new MissionServer(endpoint, opts.clock);
    this.commandServer = new CommandServer(endpoint, (command, p, coordFrame) => this.runCommand(command, p, coordFrame));
    this.arducopterCommands = new ArduCopterCommands(this, endpoint, opts.clock);
    this.loadStreamRates();
    this.node.on('message', ({ frame, message }) => {
      this.answering = true;
      try {
        this.onMessage(message, frame);
      } finally {
        this.answering = false;
        for (const m of this.heldTexts.splice(0)) this.node.broadcast(m);
      }
    });
  }

  /** The firmware's parameter set, with the streams a GCS once saved (ArduPilot: the radio port's MAVn_/SRn_ rates). */
  protected firmwareParams(opts: VirtualCopterOptions): Map<string, ParamDef> {
    const params = arducopterParams(opts.sysid, { cells: this.battery.cells, capacityMah: this.battery.capacityMah }, { legacyNames: this.legacyNames, serial: RADIO_SERIAL });
    for (const [group, hz] of Object.entries(opts.savedStreams ?? {})) params.get(streamRateParam(group as StreamGroup, RADIO_SERIAL, this.legacyNames))!.value = hz;
    return params;
  }

  /** How the firmware's parameter protocol encodes values and which sets it takes (servers/params.ts). */
  protected paramDialect(): ParamDialect {
    return this.legacyNames ? LEGACY_ARDUPILOT_PARAMS : ARDUPILOT_PARAMS;
  }

  /** Message id → interval (ms) streamed whatever the stream settings (ArduPilot: HEARTBEAT). */
  protected alwaysStreamed(): Record<number, number> {
    return ALWAYS;
  }

  /** ArduPilot sends its banner when a ground station connects (GCS_MAVLINK::send_banner). */
  protected sendBanner(): void {
    this.text(common.MavSeverity.INFO, this.firmware);
    this.text(common.MavSeverity.INFO, 'Frame: QUAD/X');
  }

  /** The EKF's wind estimate (the air's velocity north and east, m/s). */
  protected windEstimateNE(): { n: number; e: number } {
    return this.windEstimate;
  }

  /** Every COMMAND_ACK result this autopilot sent, by result, for tests and reports. */
  get acks(): Map<number, number> {
    return this.commandServer.acks;
  }

  /** The stored mission, home (item 0) first (servers/mission.ts). */
  get mission(): common.MissionItemInt[] {
    return this.missionServer.items;
  }

  set mission(items: common.MissionItemInt[]) {
    this.missionServer.items = items;
  }

  /** The mission item being flown. */
  get missionIndex(): number {
    return this.missionServer.current;
  }

  set missionIndex(seq: number) {
    this.missionServer.current = seq;
  }

  param(name: string): number {
    return this.params.get(name)?.value ?? 0;
  }

  get mode(): string {
    return decodeMode(minimal.MavAutopilot.ARDUPILOTMEGA, this.customMode);
  }

  /** Time since this boot's power-on. */
  protected get upMs(): number {
    return this.clock.now() - this.bootMs;
  }

  get gpsFix(): boolean {
    return this.upMs >= this.boot.gpsFixMs;
  }

  /** The EKF uses GPS: an absolute position, which GUIDED and arming need. */
  get ekfReady(): boolean {
    return this.upMs >= this.boot.ekfGpsMs;
  }

  /** Sending anything (the first HEARTBEAT comes a second after power-on). */
  get alive(): boolean {
    return this.upMs >= this.boot.aliveMs;
  }

  /**
   * Someone carries the drone, disarmed on the ground, back onto its pad (a drone that landed away
   * from it); false, and nothing moves, if it is armed or in the air.
   */
  carryToPad(): boolean {
    if (this.armed || !this.copter.onGround) return false;
    this.copter.pos = { ...this.pad };
    this.copter.vel = { n: 0, e: 0, u: 0 };
    return true;
  }

  /**
   * Power-cycles the autopilot (MAV_CMD_PREFLIGHT_REBOOT_SHUTDOWN, or a scenario's reboot): it
   * goes silent, forgets its mode, its arming and every message interval a GCS set, and boots
   * along a new cold timeline; saved parameters (stream rates too) and the mission survive.
   */
  reboot(): void {
    this.bootMs = this.clock.now();
    this.boot = coldBoot(this.random, this.origin.altitudeM);
    this.bootTextsSent = 0;
    this.homeSet = false;
    this.lastPrearmTextMs = -Infinity;
    this.armed = false;
    this.customMode = MODE.STABILIZE;
    this.guidedTarget = undefined;
    this.takeoffTarget = undefined;
    this.landing = 'none';
    this.rtl = undefined;
    this.failsafe = { gcs: false, batteryLow: false, batteryCritical: false };
    this.lastGcsHeartbeatMs = undefined;
    this.missionIndex = 0;
    this.loadStreamRates();
  }

  /** The boot's STATUSTEXTs as their time comes, home once the origin is set, and the pre-arm report every 30 s. */
  protected bootProgress(now: number): void {
    const up = now - this.bootMs;
    const texts = this.boot.texts;
    while (this.bootTextsSent < texts.length && texts[this.bootTextsSent]!.atMs <= up) this.text(common.MavSeverity.INFO, texts[this.bootTextsSent++]!.text);
    if (!this.homeSet && up >= this.boot.originMs) {
      // AP_AHRS sets home with the EKF origin and sends HOME_POSITION once, unasked.
      this.homeSet = true;
      this.node.broadcast(this.build(common.HomePosition.MSG_ID)!);
    }
    // AP_Arming::update: pre-arm checks at 1 Hz, failures shown every PREARM_DISPLAY_PERIOD (30 s).
    if (!this.armed && up >= this.boot.standbyMs && now - this.lastPrearmTextMs >= 30_000) {
      const failure = this.armingFailure();
      const report = failure && this.prearmReport(failure);
      if (report) {
        this.lastPrearmTextMs = now;
        this.text(common.MavSeverity.CRITICAL, report);
      }
    }
  }

  get flying(): boolean {
    return this.armed && !this.copter.onGround;
  }

  // ---- the world's step -------------------------------------------------------------------------

  step(dtS: number, wind: Vec3): void {
    const now = this.clock.now();
    this.copter.step(dtS, this.guidance(now), wind);
    if (!this.alive) return;
    this.bootProgress(now);
    if (!this.copter.onGround) {
      const k = Math.min(1, dtS / WIND_ESTIMATE_LAG_S);
      this.windEstimate.n += (wind.n - this.windEstimate.n) * k;
      this.windEstimate.e += (wind.e - this.windEstimate.e) * k;
    }
    this.energy(dtS);
    this.checkLanded(now);
    this.checkGcsFailsafe(now);
    this.checkBatteryFailsafe(now);
    this.sendDueStreams(now);
    this.missionServer.tick(now);
  }

  protected guidance(now: number): Guidance | null {
    if (!this.armed) return null;
    const c = this.copter;
    if (this.landing === 'descending') return { kind: 'descend', rateMs: this.landSpeedMs() };
    switch (this.customMode) {
      case MODE.GUIDED:
        if (this.takeoffTarget !== undefined) {
          const t = { n: c.pos.n, e: c.pos.e, u: this.takeoffTarget };
          if (Math.abs(c.pos.u - this.takeoffTarget) < 0.3) this.takeoffTarget = undefined;
          return { kind: 'position', target: t, climbMs: this.speeds().upMs };
        }
        if (c.onGround) return { kind: 'hold' };
        return this.guidedTarget ? { kind: 'position', target: this.guidedTarget, speedMs: this.speeds().cruiseMs } : { kind: 'hold' };
      case MODE.RTL:
        return this.rtlGuidance(now);
      case MODE.AUTO:
        return this.autoGuidance(now);
      case MODE.LAND:
        return { kind: 'descend', rateMs: this.landSpeedMs() };
      default:
        return c.onGround ? { kind: 'hold' } : { kind: 'hold' };
    }
  }

  /** ArduCopter LAND: LAND_SPEED_HIGH (or WPNAV_SPEED_DN) above LAND_ALT_LOW, LAND_SPEED below. */
  protected landSpeedMs(): number {
    const high = this.param('LAND_SPEED_HIGH') || this.param('WPNAV_SPEED_DN');
    return (this.copter.pos.u * 100 > this.param('LAND_ALT_LOW') ? high : this.param('LAND_SPEED')) / 100;
  }

  /** Cruise and climb speeds, m/s (ArduCopter: WPNAV_SPEED, WPNAV_SPEED_UP in cm/s). */
  protected speeds(): { cruiseMs: number; upMs: number } {
    return { cruiseMs: this.param('WPNAV_SPEED') / 100, upMs: this.param('WPNAV_SPEED_UP') / 100 };
  }

  /** RTL's return altitude, m (RTL_ALT, cm). */
  protected rtlAltitudeM(): number {
    return Math.max(this.param('RTL_ALT') / 100, 0);
  }

  /** Mode RTL: climb to RTL_ALT (if below), return home, loiter RTL_LOIT_TIME, then land (mode_rtl.cpp). */
  private rtlGuidance(now: number): Guidance {
    const c = this.copter;
    const rtlAlt = this.rtlAltitudeM();
    const r = (this.rtl ??= { stage: 'climb' });
    if (r.stage === 'climb') {
      const target = Math.max(c.pos.u, rtlAlt);
      if (c.pos.u >= rtlAlt - 0.3) r.stage = 'return';
      else return { kind: 'position', target: { n: c.pos.n, e: c.pos.e, u: target } };
    }
    const home = { n: this.pad.n, e: this.pad.e, u: Math.max(c.pos.u, rtlAlt) };
    if (r.stage === 'return') {
      if (Math.hypot(c.pos.n - home.n, c.pos.e - home.e) < 1) {
        r.stage = 'loiter';
        r.untilMs = now + this.param('RTL_LOIT_TIME');
      }
      return { kind: 'position', target: home, speedMs: this.speeds().cruiseMs };
    }
    if (r.stage === 'loiter') {
      if (now >= (r.untilMs ?? now)) r.stage = 'descend';
      return { kind: 'position', target: home };
    }
    return { kind: 'descend', rateMs: this.landSpeedMs() };
  }

  private autoGuidance(now: number): Guidance {
    const c = this.copter;
    const item = this.mission[this.missionIndex];
    if (!item) return { kind: 'hold' };
    const reached = () => this.advanceMission();
    switch (item.command) {
      case common.MavCmd.NAV_TAKEOFF: {
        const alt = item.z;
        if (Math.abs(c.pos.u - alt) < 0.5) reached();
        return { kind: 'position', target: { n: c.pos.n, e: c.pos.e, u: alt } };
      }
      case common.MavCmd.NAV_WAYPOINT:
      case common.MavCmd.NAV_LOITER_TIME: {
        const off = latLonToOffset(this.origin.latDeg, this.origin.lonDeg, item.x / 1e7, item.y / 1e7);
        const target = { n: off.n, e: off.e, u: item.z };
        const radius = Math.max(this.param('WPNAV_RADIUS') / 100, 0.5);
        const dist = Math.hypot(c.pos.n - target.n, c.pos.e - target.e, c.pos.u - target.u);
        const holdS = item.command === common.MavCmd.NAV_LOITER_TIME ? item.param1 : item.param1;
        if (dist < radius) {
          this.missionWaitUntilMs ??= now + holdS * 1000;
          if (now >= this.missionWaitUntilMs) {
            this.missionWaitUntilMs = undefined;
            reached();
          }
        }
        return { kind: 'position', target, speedMs: this.speeds().cruiseMs };
      }
      case common.MavCmd.NAV_RETURN_TO_LAUNCH:
        this.setMode(MODE.RTL, 'Mission RTL');
        return this.rtlGuidance(now);
      case common.MavCmd.NAV_LAND:
        return { kind: 'descend', rateMs: this.landSpeedMs() };
      default:
        // Commands the sim does not fly are skipped, as ArduCopter skips unsupported DO commands.
        reached();
        return { kind: 'hold' };
    }
  }

  private advanceMission(): void {
    this.missionServer.reached();
    if (this.missionIndex >= this.mission.length) this.text(common.MavSeverity.INFO, 'Mission complete');
  }

  private energy(dtS: number): void {
    const b = this.battery;
    const avionicsW = 4;
    if (this.armed || !this.copter.onGround) {
      const net = this.copter.powerW + avionicsW - this.solarShareW;
      if (net >= 0) {
        if (!b.discharge(net, dtS) && this.flying && !this.copter.failed) {
          this.copter.failed = true;
          this.text(common.MavSeverity.EMERGENCY, 'Battery depleted: motors stopped');
        }
      } else b.charge(-net, dtS);
    } else if (this.padChargeW > 0) {
      b.charge(this.padChargeW, dtS);
    } else {
      b.discharge(avionicsW, dtS);
    }
  }

  protected checkLanded(now: number): void {
    const c = this.copter;
    if (!this.armed) return;
    // crash_check.cpp: attitude lost for CRASH_CHECK_TRIGGER_SEC (2 s) with the motors at their
    // limit → "Crash: Disarming". A failed motor is exactly that.
    if (c.failed) {
      this.crashSinceMs ??= now;
      if (now - this.crashSinceMs >= 2000) this.disarm('Crash: Disarming');
      return;
    }
    if (c.onGround && (this.landing === 'descending' || this.customMode === MODE.LAND || this.rtl?.stage === 'descend' || this.mission[this.missionIndex]?.command === common.MavCmd.NAV_LAND)) {
      this.landing = 'none';
      this.rtl = undefined;
      this.disarm('Land complete');
      return;
    }
    // Armed on the ground with nothing to do: ArduCopter disarms after DISARM_DELAY seconds.
    const idle = c.onGround && this.takeoffTarget === undefined && !(this.customMode === MODE.AUTO && this.mission.length > this.missionIndex);
    if (!idle) {
      this.landedSinceMs = undefined;
      return;
    }
    this.landedSinceMs ??= now;
    const delay = this.param('DISARM_DELAY');
    if (delay > 0 && now - this.landedSinceMs >= delay * 1000) this.disarm('Disarming motors');
  }

  /** failsafe.cpp / events.cpp: no HEARTBEAT from SYSID_MYGCS for FS_GCS_TIMEOUT while armed. */
  protected checkGcsFailsafe(now: number): void {
    const enable = this.param('FS_GCS_ENABLE');
    if (enable === FS_GCS.DISABLED || this.lastGcsHeartbeatMs === undefined) return;
    const lost = now - this.lastGcsHeartbeatMs > this.param('FS_GCS_TIMEOUT') * 1000;
    if (!lost) {
      if (this.failsafe.gcs) {
        this.failsafe.gcs = false;
        this.text(common.MavSeverity.CRITICAL, 'GCS Failsafe Cleared');
      }
      return;
    }
    if (this.failsafe.gcs || !this.armed) return;
    this.failsafe.gcs = true;
    this.text(common.MavSeverity.CRITICAL, 'GCS Failsafe');
    if (this.copter.onGround) return this.disarm('GCS failsafe on the ground');
    if (enable === FS_GCS.CONTINUE_AUTO && this.customMode === MODE.AUTO) return;
    if (enable === FS_GCS.LAND || enable === FS_GCS.SMARTRTL_OR_LAND || enable === FS_GCS.BRAKE_OR_LAND) this.setMode(MODE.LAND, 'GCS failsafe');
    else this.setMode(MODE.RTL, 'GCS failsafe');
  }

  /**
   * AP_BattMonitor: low when the resting voltage stays below BATT_LOW_VOLT for BATT_LOW_TIMER
   * seconds or the remaining capacity falls below BATT_LOW_MAH; critical the same with the CRT
   * values. Each triggers once; critical overrides low.
   */
  protected checkBatteryFailsafe(now: number): void {
    const b = this.battery;
    const resting = b.openCircuitV;
    const remainingMah = b.capacityMah * b.soc;
    const timer = this.param('BATT_LOW_TIMER') * 1000;
    const below = (volt: number, mah: number) => (volt > 0 && resting < volt) || (mah > 0 && remainingMah < mah);
    const crt = below(this.param('BATT_CRT_VOLT'), this.param('BATT_CRT_MAH'));
    const low = crt || below(this.param('BATT_LOW_VOLT'), this.param('BATT_LOW_MAH'));
    this.batteryCrtSinceMs = crt ? (this.batteryCrtSinceMs ?? now) : undefined;
    this.batteryLowSinceMs = low ? (this.batteryLowSinceMs ?? now) : undefined;
    if (!this.armed) return;
    if (!this.failsafe.batteryCritical && this.batteryCrtSinceMs !== undefined && now - this.batteryCrtSinceMs >= timer) {
      this.failsafe.batteryCritical = true;
      this.failsafe.batteryLow = true;
      this.text(common.MavSeverity.CRITICAL, `Battery 1 is critical ${resting.toFixed(2)}V used ${Math.round(b.consumedMah)} mAh`);
      this.batteryAction(this.param('BATT_FS_CRT_ACT'));
    } else if (!this.failsafe.batteryLow && this.batteryLowSinceMs !== undefined && now - this.batteryLowSinceMs >= timer) {
      this.failsafe.batteryLow = true;
      this.text(common.MavSeverity.CRITICAL, `Battery 1 is low ${resting.toFixed(2)}V used ${Math.round(b.consumedMah)} mAh`);
      this.batteryAction(this.param('BATT_FS_LOW_ACT'));
    }
  }

  private batteryAction(action: number): void {
    if (this.copter.onGround) return this.disarm('Battery failsafe on the ground');
    switch (action) {
      case BATT_FS_ACTION.NONE:
        return;
      case BATT_FS_ACTION.LAND:
      case BATT_FS_ACTION.SMARTRTL_OR_LAND:
      case BATT_FS_ACTION.BRAKE_OR_LAND:
        if (this.customMode !== MODE.LAND) this.setMode(MODE.LAND, 'Battery failsafe');
        return;
      case BATT_FS_ACTION.TERMINATE:
        this.copter.failed = true;
        this.armed = false;
        return;
      default:
        if (this.customMode !== MODE.RTL && this.customMode !== MODE.LAND) this.setMode(MODE.RTL, 'Battery failsafe');
    }
  }

  // ---- modes, arming ----------------------------------------------------------------------------

  /** Mode change with ArduCopter's entry checks; returns false (and says why) when refused. */
  setMode(mode: number, reason: string): boolean {
    const name = decodeMode(minimal.MavAutopilot.ARDUPILOTMEGA, mode);
    if (name.startsWith('UNKNOWN') || ![MODE.STABILIZE, MODE.AUTO, MODE.GUIDED, MODE.LOITER, MODE.RTL, MODE.LAND, ARDUCOPTER_MODES.ALT_HOLD, ARDUCOPTER_MODES.POSHOLD, ARDUCOPTER_MODES.BRAKE].includes(mode)) {
      this.text(common.MavSeverity.WARNING, `Mode change to ${name} failed: unsupported`);
      return false;
    }
    // Copter::set_mode ignores the mode's requirements while disarmed (the recording: GUIDED
    // accepted 8 s after boot, with no position); armed, a position mode needs a position estimate.
    const needsPosition = mode !== MODE.STABILIZE && mode !== ARDUCOPTER_MODES.ALT_HOLD && mode !== MODE.LAND;
    if (needsPosition && this.armed && !this.ekfReady) {
      this.text(common.MavSeverity.WARNING, `Mode change to ${name} failed: requires position`);
      return false;
    }
    if (mode === MODE.AUTO && this.mission.length <= 1 && this.copter.onGround) {
      this.text(common.MavSeverity.WARNING, `Mode change to AUTO failed: no mission`);
      return false;
    }
    if (mode === this.customMode) return true;
    this.customMode = mode;
    this.guidedTarget = mode === MODE.GUIDED ? { ...this.copter.pos } : undefined;
    this.takeoffTarget = undefined;
    this.rtl = undefined;
    this.landing = 'none';
    if (mode === MODE.AUTO) {
      this.missionIndex = Math.max(1, this.missionIndex >= this.mission.length ? 1 : this.missionIndex);
      this.missionServer.sendCurrent();
    }
    if (reason) this.text(common.MavSeverity.INFO, `${reason}: ${name}`);
    return true;
  }

  /** AP_Arming checks in the order ArduCopter reports them; returns the failure text or undefined. */
  protected armingFailure(): string | undefined {
    // ARMING_CHECK 0 (before 4.7) or ARMING_SKIPCHK -1 (skip all) turn the checks off.
    const checks = this.param(paramNames(this.legacyNames).armingChecks);
    if (this.legacyNames ? checks === 0 : checks === -1) return undefined;
    const booting = bootArmingFailure(this.boot, this.upMs);
    if (booting) return booting;
    const v = this.battery.openCircuitV;
    if (this.failsafe.batteryLow || v < this.param('BATT_LOW_VOLT')) return 'Battery 1 low voltage failsafe';
    if (v < this.param('BATT_ARM_VOLT')) return `Battery 1 below minimum arming voltage`;
    if (this.copter.failed) return 'Motors: check failed';
    return undefined;
  }

  /** Whether a GCS HEARTBEAT counts for the GCS failsafe (ArduPilot: only MAV_GCS_SYSID's). */
  protected isOurGcs(sysid: number): boolean {
    return sysid === this.param(paramNames(this.legacyNames).gcsSysid);
  }

  /** The periodic report of a failing pre-arm check (AP_Arming::check_failed's "PreArm: " tag), or none. */
  protected prearmReport(failure: string): string | undefined {
    return `PreArm: ${failure}`;
  }

  /** The pre-arm checks pass (SYS_STATUS's MAV_SYS_STATUS_PREARM_CHECK health bit). */
  get prearmOk(): boolean {
    return this.armingFailure() === undefined;
  }

  arm(force: boolean): common.MavResult {
    if (this.armed) return ACCEPTED;
    // AP_Arming::arm: the pre-arm checks, then the arm-time ones ("Arm: …" while they run).
    const failure = force ? undefined : (this.armingFailure() ?? (ARMABLE.has(this.customMode) ? undefined : 'Mode not armable'));
    if (failure) {
      this.text(common.MavSeverity.CRITICAL, `Arm: ${failure}`);
      return FAILED;
    }
    this.armed = true;
    this.failsafe = { gcs: false, batteryLow: false, batteryCritical: false };
    this.landedSinceMs = this.clock.now();
    this.battery.consumedMah = 0;
    return ACCEPTED;
  }

  disarm(reason: string): void {
    if (!this.armed) return;
    this.armed = false;
    this.takeoffTarget = undefined;
    this.landing = 'none';
    this.rtl = undefined;
    this.landedSinceMs = undefined;
    this.text(common.MavSeverity.INFO, reason);
  }

  /** GUIDED takeoff: climb where it stands, then hold at the takeoff altitude until given a target (as ArduCopter). */
  takeoff(altM: number): void {
    this.takeoffTarget = altM;
    this.guidedTarget = { n: this.copter.pos.n, e: this.copter.pos.e, u: altM };
    this.landedSinceMs = undefined;
  }

  flyTo(latDeg: number, lonDeg: number, altM: number | undefined): void {
    const off = latLonToOffset(this.origin.latDeg, this.origin.lonDeg, latDeg, lonDeg);
    this.guidedTarget = { n: off.n, e: off.e, u: altM ?? this.copter.pos.u };
  }

  // ---- incoming MAVLink -------------------------------------------------------------------------

  protected onMessage(m: MavLinkData, frame: Frame): void {
    // Booting (or rebooting): nobody answers yet.
    if (!this.alive) return;
    if (m instanceof minimal.Heartbeat) {
      if (m.type === minimal.MavType.GCS && this.isOurGcs(frame.sysid)) {
        if (this.lastGcsHeartbeatMs === undefined) this.sendBanner();
        this.lastGcsHeartbeatMs = this.clock.now();
      }
      return;
    }
    // Once a key is set, ArduPilot drops unsigned frames (except RADIO_STATUS); the channel's
    // signing policy did that already, so everything here passed it.
    if (this.commandServer.handle(m, frame) || this.paramServer.handle(m, frame) || this.missionServer.handle(m, frame)) return;
    if (m instanceof common.SetMode) {
      if (m.targetSystem === this.sysid) this.setMode(m.customMode, 'SET_MODE');
    } else if (m instanceof common.SetPositionTargetGlobalInt) {
      if (m.targetSystem === this.sysid) this.setPositionTarget(m);
    } else if (m instanceof common.RequestDataStream) {
      if (this.endpoint.isForUs(m.targetSystem)) this.requestDataStream(m);
    } else if (m instanceof common.TimeSync) {
      this.timesync(m);
    } else if (m instanceof common.SetupSigning) {
      if (this.endpoint.isForUs(m.targetSystem)) this.setupSigning(m);
    }
  }

  /** The firmware's command set, behind the command server (ArduCopter's: servers/commands.ts). */
  protected runCommand(command: number, p: number[], coordFrame?: number): common.MavResult {
    return this.arducopterCommands.run(command, p, coordFrame);
  }

  /** Only obeyed in GUIDED (mode_guided.cpp); position-only masks with relative or MSL altitude. */
  protected setPositionTarget(m: common.SetPositionTargetGlobalInt): void {
    if (this.customMode !== MODE.GUIDED || !this.armed || this.copter.onGround) return;
    const off = latLonToOffset(this.origin.latDeg, this.origin.lonDeg, m.latInt / 1e7, m.lonInt / 1e7);
    const u = m.coordinateFrame === common.MavFrame.GLOBAL_INT ? m.alt - this.origin.altitudeM : m.alt;
    this.guidedTarget = { n: off.n, e: off.e, u };
  }

  /** The group rates saved in the rate parameters, as at boot (GCS_MAVLINK::init: streamRates[] from SRn_/MAVn_). */
  protected loadStreamRates(): void {
    const now = this.clock.now();
    // What is in storage: PARAM_SET saves, REQUEST_DATA_STREAM does not.
    this.paramServer.loadSaved();
    for (const g of ARDUPILOT_GROUPS) this.streams.setGroup(g, this.param(streamRateParam(g, RADIO_SERIAL, this.legacyNames)), now);
    this.streams.reset(now);
  }

  /** MAV_CMD_SET_MESSAGE_INTERVAL (GCS_MAVLINK::handle_command_set_message_interval): -1 off, 0 the default, else µs. */
  setMessageInterval(msgid: number, intervalUs: number): common.MavResult {
    const refused = this.refuseInterval(msgid);
    if (refused !== undefined) return refused;
    if (!MODELLED.has(msgid) && !this.build(msgid) && !fillerMessage(msgid, 0)) return FAILED;
    const now = this.clock.now();
    if (intervalUs === -1) this.streams.setInterval(msgid, 0, now);
    else if (intervalUs === 0) this.streams.setInterval(msgid, undefined, now);
    else if (intervalUs > 0) this.streams.setInterval(msgid, intervalUs / 1000, now);
    else return DENIED;
    return ACCEPTED;
  }

  /**
   * A message id the firmware cannot stream, and its answer to SET_MESSAGE_INTERVAL: ArduPilot
   * has no ap_message for it (GCS_MAVLINK::set_message_interval): DENIED, and SITL says so in a
   * STATUSTEXT, which goes out after the ACK (recorded: WIND_COV, PARAM_ERROR).
   */
  protected refuseInterval(msgid: number): common.MavResult | undefined {
    if (hasApMessage(msgid)) return undefined;
    this.text(common.MavSeverity.INFO, `No ap_message for mavlink id (${msgid})`);
    return DENIED;
  }

  /**
   * REQUEST_DATA_STREAM sets a group's rate (ALL: every group but PARAMS) and its rate parameter
   * in memory, and resets the intervals of its messages; the rate is not saved
   * (GCS_MAVLINK::handle_request_data_stream, persist_streamrates() false): the parameter reads the
   * new rate until a reboot brings the saved one back (recorded in SITL).
   */
  protected requestDataStream(m: common.RequestDataStream): void {
    const hz = m.startStop ? m.reqMessageRate : 0;
    const now = this.clock.now();
    const groups = m.reqStreamId === common.MavDataStream.ALL ? ARDUPILOT_GROUPS.filter((g) => g !== 'PARAMS') : [GROUP_OF_DATA_STREAM[m.reqStreamId]].filter((g) => g !== undefined);
    for (const g of groups) {
      const param = this.params.get(streamRateParam(g, RADIO_SERIAL, this.legacyNames));
      if (param) param.value = hz;
      this.streams.setGroup(g, hz, now);
    }
  }

  private timesync(m: common.TimeSync): void {
    // timesync.html: answer requests (tc1 = 0) with our time in tc1 and their ts1 echoed.
    if (m.tc1 !== 0n) return;
    const t = newMessage(common.TimeSync);
    t.tc1 = BigInt(Math.round(this.clock.now() - this.bootMs)) * 1_000_000n;
    t.ts1 = m.ts1;
    this.node.broadcast(t);
  }

  private setupSigning(m: common.SetupSigning): void {
    const key = Buffer.from(m.secretKey);
    if (key.every((b) => b === 0)) {
      // An all-zero key disables signing (ArduPilot GCS_Signing.cpp).
      this.signing.requireSigned = false;
      this.text(common.MavSeverity.INFO, 'Signing disabled');
      return;
    }
    this.signing.setNetworkKey(key);
    // The key comes with the GCS's timestamp, which the vehicle adopts (ArduPilot GCS_Signing.cpp
    // handle_setup_signing: the stored timestamp becomes initial_timestamp).
    this.signing.adoptTimestamp(Number(m.initialTimestamp));
    this.signing.requireSigned = true;
    this.text(common.MavSeverity.INFO, 'Signing key set');
  }

  // ---- telemetry --------------------------------------------------------------------------------

  /**
   * Sends a STATUSTEXT. ArduPilot queues its texts (GCS_SEND_TEXT → the statustext queue, sent by
   * update_send) while a COMMAND_ACK goes out at once, so the texts a command causes follow its
   * ACK (recorded: "Arm: …" after COMMAND_ACK FAILED); PX4's refusal does the same ("Arming
   * denied: …" after TEMPORARILY_REJECTED). Texts from handling a message wait until its answer
   * has gone.
   */
  text(severity: common.MavSeverity, text: string): void {
    this.statusLog.push({ atMs: this.clock.now(), severity, text });
    if (this.statusLog.length > 200) this.statusLog.shift();
    const wire = this.wireText(text);
    // STATUSTEXT carries 50 characters; longer texts go in chunks with a shared id (statustext.html).
    const id = this.statusTextId(wire.length > 50);
    for (let seq = 0; seq * 50 < Math.max(wire.length, 1); seq++) {
      const m = newMessage(common.StatusText);
      m.severity = severity;
      m.text = wire.slice(seq * 50, seq * 50 + 50);
      m.id = id;
      m.chunkSeq = seq;
      if (this.answering) this.heldTexts.push(m);
      else this.node.broadcast(m);
    }
  }

  /** A text as the firmware puts it on the wire (ArduPilot: as it is). */
  protected wireText(text: string): string {
    return text;
  }

  /** STATUSTEXT's id: ArduPilot numbers only chunked texts (GCS_MAVLINK::send_statustext), 0 for one of a single chunk. */
  protected statusTextId(chunked: boolean): number {
    return chunked ? (this.textId = (this.textId % 65535) + 1) : 0;
  }

  private sendDueStreams(now: number): void {
    for (const id of this.streams.due(now)) {
      // A message build() models but cannot send now (HOME_POSITION before home) is skipped; the rest are fillers.
      const msg = this.build(id) ?? (MODELLED.has(id) ? undefined : fillerMessage(id, this.sysid + id));
      if (msg) this.node.broadcast(msg);
    }
  }

  private position(): { latDeg: number; lonDeg: number } {
    return offsetToLatLon(this.origin.latDeg, this.origin.lonDeg, this.copter.pos.n, this.copter.pos.e);
  }

  /** Builds a telemetry message from the current state, or undefined for ids we do not send. */
  build(id: number): MavLinkData | undefined {
    const now = this.clock.now();
    const bootMs = now - this.bootMs;
    const c = this.copter;
    const b = this.battery;
    switch (id) {
      case minimal.Heartbeat.MSG_ID: {
        const hb = newMessage(minimal.Heartbeat);
        hb.type = minimal.MavType.QUADROTOR;
        hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
        const F = minimal.MavModeFlag;
        hb.baseMode = (F.CUSTOM_MODE_ENABLED | F.STABILIZE_ENABLED | (this.customMode === MODE.GUIDED ? F.GUIDED_ENABLED : 0) | (this.customMode === MODE.AUTO ? F.AUTO_ENABLED : 0) | (this.armed ? F.SAFETY_ARMED : 0)) as minimal.MavModeFlag;
        hb.customMode = this.customMode;
        hb.systemStatus = this.failsafe.batteryCritical || this.failsafe.gcs || c.failed ? minimal.MavState.CRITICAL : this.armed ? minimal.MavState.ACTIVE : this.upMs < this.boot.standbyMs ? minimal.MavState.BOOT : minimal.MavState.STANDBY;
        hb.mavlinkVersion = 3;
        return hb;
      }
      case common.SysStatus.MSG_ID: {
        const s = newMessage(common.SysStatus);
        // GCS_MAVLINK::send_sys_status / update_sensor_status_flags: the pre-arm check is always
        // present and enabled, healthy only while the checks pass; GPS healthy with a fix, AHRS once the EKF runs.
        const Sn = common.MavSysStatusSensor;
        const present = Sn.SENSOR_3D_GYRO | Sn.SENSOR_3D_ACCEL | Sn.SENSOR_3D_MAG | Sn.SENSOR_ABSOLUTE_PRESSURE | Sn.SENSOR_GPS | Sn.SENSOR_MOTOR_OUTPUTS | Sn.AHRS | Sn.SENSOR_BATTERY | Sn.PREARM_CHECK;
        let health = present & ~Sn.PREARM_CHECK & ~Sn.SENSOR_GPS & ~Sn.AHRS;
        if (this.gpsFix) health |= Sn.SENSOR_GPS;
        if (this.upMs >= this.boot.ekfInitMs) health |= Sn.AHRS;
        if (this.prearmOk) health |= Sn.PREARM_CHECK;
        s.onboardControlSensorsPresent = present as common.MavSysStatusSensor;
        s.onboardControlSensorsEnabled = present as common.MavSysStatusSensor;
        s.onboardControlSensorsHealth = health as common.MavSysStatusSensor;
        s.voltageBattery = Math.round(b.voltageV * 1000);
        s.currentBattery = int16(b.currentA * 100);
        s.batteryRemaining = Math.round(b.soc * 100);
        s.load = 250;
        return s;
      }
      case common.BatteryStatus.MSG_ID: {
        const s = newMessage(common.BatteryStatus);
        s.id = 0;
        s.batteryFunction = common.MavBatteryFunction.ALL;
        s.type = common.MavBatteryType.LIPO;
        s.temperature = 32767;
        const cell = Math.round((b.voltageV / b.cells) * 1000);
        s.voltages = Array.from({ length: 10 }, (_, i) => (i < b.cells ? cell : 65535));
        s.currentBattery = int16(b.currentA * 100);
        s.currentConsumed = Math.min(2 ** 31 - 1, Math.round(b.consumedMah));
        s.energyConsumed = -1;
        s.batteryRemaining = Math.round(b.soc * 100);
        s.chargeState = this.failsafe.batteryCritical ? common.MavBatteryChargeState.CRITICAL : this.failsafe.batteryLow ? common.MavBatteryChargeState.LOW : common.MavBatteryChargeState.OK;
        return s;
      }
      case common.GlobalPositionInt.MSG_ID: {
        // Before the GPS has a fix there is no position: the autopilot sends zeros.
        const { latDeg, lonDeg } = this.gpsFix ? this.position() : { latDeg: 0, lonDeg: 0 };
        const g = newMessage(common.GlobalPositionInt);
        g.timeBootMs = bootMs;
        g.lat = Math.round(latDeg * 1e7);
        g.lon = Math.round(lonDeg * 1e7);
        g.alt = Math.round((this.origin.altitudeM + c.pos.u) * 1000);
        g.relativeAlt = Math.round((c.pos.u - this.pad.u) * 1000);
        g.vx = Math.round(c.vel.n * 100);
        g.vy = Math.round(c.vel.e * 100);
        g.vz = Math.round(-c.vel.u * 100);
        g.hdg = Math.round(((Math.atan2(c.vel.e, c.vel.n) * 180) / Math.PI + 360) % 360 * 100) % 36000;
        return g;
      }
      case common.GpsRawInt.MSG_ID: {
        const { latDeg, lonDeg } = this.position();
        const g = newMessage(common.GpsRawInt);
        g.timeUsec = BigInt(Math.round(now)) * 1000n;
        g.fixType = this.gpsFix ? common.GpsFixType.GPS_FIX_TYPE_3D_FIX : common.GpsFixType.NO_FIX;
        g.lat = Math.round(latDeg * 1e7);
        g.lon = Math.round(lonDeg * 1e7);
        g.alt = Math.round((this.origin.altitudeM + c.pos.u) * 1000);
        g.eph = 80;
        g.epv = 120;
        g.vel = Math.round(Math.hypot(c.vel.n, c.vel.e) * 100);
        g.cog = 65535;
        g.satellitesVisible = this.gpsFix ? 16 : 3;
        return g;
      }
      case common.Attitude.MSG_ID: {
        const a = newMessage(common.Attitude);
        a.timeBootMs = bootMs;
        // Tilt to hold against wind and acceleration: small-angle from the velocity change.
        a.roll = Math.max(-0.5, Math.min(0.5, c.vel.e * 0.02));
        a.pitch = Math.max(-0.5, Math.min(0.5, -c.vel.n * 0.02));
        a.yaw = 0;
        return a;
      }
      case common.VfrHud.MSG_ID: {
        const v = newMessage(common.VfrHud);
        v.airspeed = c.airspeedMs;
        v.groundspeed = Math.hypot(c.vel.n, c.vel.e);
        v.alt = this.origin.altitudeM + c.pos.u;
        v.climb = c.vel.u;
        v.heading = 0;
        v.throttle = this.armed ? 50 : 0;
        return v;
      }
      case common.ExtendedSysState.MSG_ID: {
        const e = newMessage(common.ExtendedSysState);
        const L = common.MavLandedState;
        e.vtolState = common.MavVtolState.UNDEFINED;
        e.landedState = !this.armed || c.onGround ? L.ON_GROUND : c.vel.u > 0.2 && c.pos.u < 5 ? L.TAKEOFF : this.landing === 'descending' || this.customMode === MODE.LAND ? L.LANDING : L.IN_AIR;
        return e;
      }
      case ardupilotmega.Wind.MSG_ID: {
        // As ArduPilot's GCS_MAVLINK::send_wind: the direction the wind comes from, −180..180 degrees.
        const w = newMessage(ardupilotmega.Wind);
        const v = this.windEstimate;
        w.direction = (Math.atan2(-v.e, -v.n) * 180) / Math.PI;
        w.speed = Math.hypot(v.n, v.e);
        w.speedZ = 0;
        return w;
      }
      case common.MissionCurrent.MSG_ID:
        return this.missionServer.currentMessage();
      case ardupilotmega.EkfStatusReport.MSG_ID: {
        // NavEKF3 flags as the recording shows them: uninitialised, then attitude and vertical
        // estimates in constant-position mode, then the absolute position once it uses GPS.
        const e = newMessage(ardupilotmega.EkfStatusReport);
        const F = ardupilotmega.EkfStatusFlags;
        const up = this.upMs;
        if (up < this.boot.ekfInitMs) return undefined;
        // 0x0400 until the tilt alignment, 0x00a7 in constant-position mode, 0x033f using GPS (recorded).
        e.flags = (up < this.boot.tiltMs ? F.UNINITIALIZED : this.ekfReady ? F.ATTITUDE | F.VELOCITY_HORIZ | F.VELOCITY_VERT | F.POS_HORIZ_REL | F.POS_HORIZ_ABS | F.POS_VERT_ABS | F.PRED_POS_HORIZ_REL | F.PRED_POS_HORIZ_ABS : F.ATTITUDE | F.VELOCITY_HORIZ | F.VELOCITY_VERT | F.POS_VERT_ABS | F.CONST_POS_MODE) as ardupilotmega.EkfStatusFlags;
        e.velocityVariance = 0.02;
        e.posHorizVariance = this.ekfReady ? 0.01 : 0;
        e.posVertVariance = 0.01;
        e.compassVariance = 0.01;
        e.terrainAltVariance = 0;
        return e;
      }
      case common.HomePosition.MSG_ID: {
        if (!this.homeSet) return undefined;
        const { latDeg, lonDeg } = offsetToLatLon(this.origin.latDeg, this.origin.lonDeg, this.pad.n, this.pad.e);
        const h = newMessage(common.HomePosition);
        h.latitude = Math.round(latDeg * 1e7);
        h.longitude = Math.round(lonDeg * 1e7);
        h.altitude = Math.round((this.origin.altitudeM + this.pad.u) * 1000);
        h.q = [1, 0, 0, 0];
        return h;
      }
      case common.SystemTime.MSG_ID: {
        const s = newMessage(common.SystemTime);
        s.timeUnixUsec = BigInt(Math.round(now)) * 1000n;
        s.timeBootMs = bootMs;
        return s;
      }
      case standard.AutopilotVersion.MSG_ID:
        return this.autopilotVersion();
      default:
        return undefined;
    }
  }

  private autopilotVersion(): standard.AutopilotVersion {
    const v = new standard.AutopilotVersion();
    const P = standard.MavProtocolCapability;
    v.capabilities = BigInt(P.MISSION_FLOAT | P.PARAM_FLOAT | P.MISSION_INT | P.COMMAND_INT | P.SET_POSITION_TARGET_GLOBAL_INT | P.MAVLINK2 | P.MISSION_FENCE | P.MISSION_RALLY) as unknown as standard.MavProtocolCapability;
    v.flightSwVersion = (4 << 24) | (5 << 16) | (7 << 8) | 255;
    v.uid = BigInt(this.sysid);
    return v;
  }
}
