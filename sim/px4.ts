/**
 * A virtual PX4 multicopter: the virtual copter's airframe, battery and flight behaviours, with
 * PX4's face on the wire as the real firmware shows it (PX4 main, v1.16-dev, SIH in SITL; README
 * "Checked against real firmware"):
 * - HEARTBEAT autopilot 12 (MAV_AUTOPILOT_PX4), custom_mode packed main << 16 | sub << 24;
 *   DO_SET_MODE takes the main mode in param2 and the sub mode in param3 — a packed custom_mode
 *   in param2 is no main mode: TEMPORARILY_REJECTED, "Unsupported main mode", nothing changes;
 * - parameters typed as PX4 types them (INT32 or REAL32), INT32 travelling bytewise; a PARAM_SET
 *   of another type is refused ("param types mismatch") and an unknown name is ignored, neither
 *   echoed;
 * - arming refused until the estimator has a position: TEMPORARILY_REJECTED, then "Arming denied:
 *   Resolve system health failures first" (in two chunks); the failing check itself ("Preflight
 *   Fail: …") is reported when it changes, not at the request;
 *   an armed vehicle that has not taken off disarms after COM_DISARM_PRFLT (10 s);
 * - NAV_TAKEOFF's param7 is AMSL (NaN: MIS_TAKEOFF_ALT above home), lat/lon NaN, climbing at
 *   MPC_TKO_SPEED; a target not above the vehicle is "Already higher than takeoff altitude": it
 *   stays on the ground in AUTO.TAKEOFF and disarms 10 s later ("Disarmed by auto preflight
 *   disarming");
 * - DO_REPOSITION (AMSL) switches to Hold (AUTO.LOITER) and flies there; SET_POSITION_TARGET_* is
 *   obeyed only in OFFBOARD, which is entered only with setpoints coming and fails safe (Hold)
 *   COM_OF_LOSS_T after the last one;
 * - its GCS link streams PX4's "normal" set unasked; REQUEST_DATA_STREAM is not supported;
 * - data-link loss acts by NAV_DLL_ACT after COM_DL_LOSS_T, a low battery by COM_LOW_BAT_ACT.
 */
import { common, minimal, type MavLinkData } from 'mavlink-mappings';
import { PX4_AUTO_MODE, PX4_MAIN_MODE } from '../firmware-bridge/autopilots/px4.ts';
import { decodeMode } from '../firmware-bridge/vehicles/modes.ts';
import { VirtualCopter, type VirtualCopterOptions } from './autopilot.ts';
import { bootArmingFailure } from './boot.ts';
import type { ParamDef } from './params.ts';
import type { Guidance } from './physics.ts';
import { FORCE_MAGIC } from './servers/commands.ts';
import { PX4_PARAMS, type ParamDialect } from './servers/params.ts';

const { ACCEPTED, FAILED, DENIED, TEMPORARILY_REJECTED } = common.MavResult;
const { INT32, REAL32 } = common.MavParamType;

/** The virtual copter's behaviours under PX4's modes (ArduCopter numbers inside, PX4's outside). */
const BEHAVIOUR = { STABILIZE: 0, GUIDED: 4, RTL: 6, LAND: 9, OFFBOARD: 1006 } as const;

/** PX4's default stream set on a GCS link in "normal" mode, message id → Hz (mavlink_main.cpp configure_streams_to_default). */
export const PX4_NORMAL_STREAMS: Record<number, number> = {
  [minimal.Heartbeat.MSG_ID]: 1,
  [common.SysStatus.MSG_ID]: 1,
  [common.SystemTime.MSG_ID]: 1,
  [common.GpsRawInt.MSG_ID]: 1,
  [common.Attitude.MSG_ID]: 4,
  [common.AttitudeTarget.MSG_ID]: 2,
  [common.Altitude.MSG_ID]: 1,
  [common.BatteryStatus.MSG_ID]: 0.5,
  [common.EstimatorStatus.MSG_ID]: 0.5,
  [common.ExtendedSysState.MSG_ID]: 1,
  [common.GlobalPositionInt.MSG_ID]: 5,
  [common.HomePosition.MSG_ID]: 0.5,
  [common.LocalPositionNed.MSG_ID]: 1,
  [common.NavControllerOutput.MSG_ID]: 1,
  [common.PositionTargetGlobalInt.MSG_ID]: 1,
  [common.PositionTargetLocalNed.MSG_ID]: 1.5,
  [common.RcChannels.MSG_ID]: 5,
  [common.ServoOutputRaw.MSG_ID]: 1,
  [common.VfrHud.MSG_ID]: 4,
  [common.Vibration.MSG_ID]: 0.1,
  [common.WindCov.MSG_ID]: 0.5,
};

/** Commander's answer to an arming request while a health check fails (recorded in SITL; 51 characters: two chunks). */
export const ARMING_DENIED = 'Arming denied: Resolve system health failures first';

/** PX4 names for what an estimator still lacks while booting (Commander's health and arming checks). */
function preflightFailure(f: string): string {
  if (f === 'System not initialised' || f === 'AHRS: not using configured AHRS type' || f === 'Accels inconsistent') return 'Preflight Fail: no heading reference';
  if (f === 'GPS 1: Bad fix') return 'Preflight Fail: GPS fix too low';
  if (f === 'AHRS: waiting for home' || f === 'Need Position Estimate') return 'Preflight Fail: horizontal position unstable';
  return `Preflight Fail: ${f}`;
}

export class VirtualPx4 extends VirtualCopter {
  /** PX4's own mode (main, and sub mode of AUTO). */
  private main: number = PX4_MAIN_MODE.AUTO;
  private sub: number = PX4_AUTO_MODE.LOITER;
  private armedAtMs: number | undefined;
  private lastSetpointMs = -Infinity;
  private offboardTarget: { n: number; e: number; u: number } | undefined;
  private dataLinkLost = false;
  /** The failing pre-flight check last reported (undefined: none). */
  private reportedFailure: string | undefined;

  constructor(opts: VirtualCopterOptions) {
    super({ ...opts, firmware: opts.firmware ?? 'PX4 v1.16.0-dev (Canopy sim)' });
    this.customMode = BEHAVIOUR.GUIDED;
  }

  override get mode(): string {
    return decodeMode(minimal.MavAutopilot.PX4, this.packedMode);
  }

  private get packedMode(): number {
    return ((this.main << 16) | (this.sub << 24)) >>> 0;
  }

  protected override firmwareParams(opts: VirtualCopterOptions): Map<string, ParamDef> {
    const cells = this.battery.cells;
    const entries: [string, number, common.MavParamType][] = [
      ['MAV_SYS_ID', opts.sysid, INT32],
      // Defaults as the firmware listed them (PARAM_REQUEST_LIST in SITL).
      ['NAV_DLL_ACT', 0, INT32], // disabled
      ['COM_DL_LOSS_T', 10, INT32], // s
      ['COM_LOW_BAT_ACT', 3, INT32], // return at critical, land at emergency
      ['COM_DISARM_PRFLT', 10, REAL32], // s
      ['COM_DISARM_LAND', 2, REAL32], // s
      ['COM_OF_LOSS_T', 1, REAL32], // s
      ['COM_OBL_RC_ACT', 0, INT32],
      ['MIS_TAKEOFF_ALT', 2.5, REAL32], // m
      ['MPC_XY_CRUISE', 5, REAL32], // m/s
      ['MPC_TKO_SPEED', 1.5, REAL32],
      ['MPC_Z_VEL_MAX_UP', 3, REAL32],
      ['MPC_Z_VEL_MAX_DN', 1.5, REAL32],
      ['MPC_LAND_SPEED', 0.7, REAL32],
      ['RTL_RETURN_ALT', 30, REAL32],
      ['BAT1_N_CELLS', cells, INT32],
      ['BAT_LOW_THR', 0.15, REAL32],
      ['BAT_CRIT_THR', 0.07, REAL32],
      ['BAT_EMERGEN_THR', 0.05, REAL32],
    ];
    return new Map(entries.map(([name, value, type]) => [name, { value, type }]));
  }

  protected override speeds(): { cruiseMs: number; upMs: number } {
    // A takeoff climbs at MPC_TKO_SPEED; other climbs at up to MPC_Z_VEL_MAX_UP.
    const takingOff = this.main === PX4_MAIN_MODE.AUTO && this.sub === PX4_AUTO_MODE.TAKEOFF;
    return { cruiseMs: this.param('MPC_XY_CRUISE'), upMs: this.param(takingOff ? 'MPC_TKO_SPEED' : 'MPC_Z_VEL_MAX_UP') };
  }

  /** Land: MPC_Z_VEL_MAX_DN high up, MPC_LAND_SPEED under MPC_LAND_ALT2 (5 m). */
  protected override landSpeedMs(): number {
    return this.copter.pos.u > 5 ? this.param('MPC_Z_VEL_MAX_DN') : this.param('MPC_LAND_SPEED');
  }

  protected override rtlAltitudeM(): number {
    return this.param('RTL_RETURN_ALT');
  }

  protected override paramDialect(): ParamDialect {
    return PX4_PARAMS;
  }

  protected override alwaysStreamed(): Record<number, number> {
    return Object.fromEntries(Object.entries(PX4_NORMAL_STREAMS).map(([id, hz]) => [id, 1000 / hz]));
  }

  /** PX4 has no stream groups: a boot restores its default set. */
  protected override loadStreamRates(): void {
    this.streams.reset(this.clock.now());
  }

  protected override requestDataStream(): void {
    // Not supported by PX4 (it has no REQUEST_DATA_STREAM groups): ignored.
  }

  override reboot(): void {
    super.reboot();
    this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LOITER);
    this.armedAtMs = undefined;
    this.reportedFailure = undefined;
  }

  // ---- modes ------------------------------------------------------------------------------------

  private setPx4Mode(main: number, sub: number, reason = ''): boolean {
    const behaviour = main === PX4_MAIN_MODE.OFFBOARD ? BEHAVIOUR.OFFBOARD : main !== PX4_MAIN_MODE.AUTO ? BEHAVIOUR.STABILIZE : sub === PX4_AUTO_MODE.LAND ? BEHAVIOUR.LAND : sub === PX4_AUTO_MODE.RTL ? BEHAVIOUR.RTL : BEHAVIOUR.GUIDED;
    if (behaviour !== BEHAVIOUR.OFFBOARD) {
      const keepTarget = this.guidedTarget;
      if (!this.setMode(behaviour, '')) return false;
      if (behaviour === BEHAVIOUR.GUIDED && keepTarget && this.customMode === BEHAVIOUR.GUIDED) this.guidedTarget = keepTarget;
    } else {
      this.customMode = BEHAVIOUR.OFFBOARD;
      this.offboardTarget = { ...this.copter.pos };
    }
    this.main = main;
    this.sub = main === PX4_MAIN_MODE.AUTO ? sub : 0;
    if (reason) this.text(common.MavSeverity.INFO, reason);
    return true;
  }

  protected override guidance(now: number): Guidance | null {
    if (this.armed && this.customMode === BEHAVIOUR.OFFBOARD) {
      return this.offboardTarget ? { kind: 'position', target: this.offboardTarget, speedMs: this.param('MPC_XY_CRUISE') } : { kind: 'hold' };
    }
    const g = super.guidance(now);
    // AUTO.TAKEOFF ends in Hold at the takeoff altitude.
    if (this.main === PX4_MAIN_MODE.AUTO && this.sub === PX4_AUTO_MODE.TAKEOFF && this.takeoffTarget === undefined && !this.copter.onGround) this.sub = PX4_AUTO_MODE.LOITER;
    return g;
  }

  // ---- commands ---------------------------------------------------------------------------------

  protected override runCommand(command: number, p: number[], coordFrame?: number): common.MavResult {
    const C = common.MavCmd;
    switch (command) {
      case C.DO_SET_MODE: {
        // Commander::handle_command: param2 main mode, param3 sub mode. A value that is no main
        // mode (a packed HEARTBEAT custom_mode) is refused (recorded: [1, 0x60000]).
        const main = Math.round(p[1] ?? 0);
        const sub = Math.round(p[2] ?? 0);
        if (!Object.values(PX4_MAIN_MODE).includes(main as never)) {
          this.text(common.MavSeverity.CRITICAL, 'Unsupported main mode');
          return TEMPORARILY_REJECTED;
        }
        if (main === PX4_MAIN_MODE.OFFBOARD && this.clock.now() - this.lastSetpointMs > this.param('COM_OF_LOSS_T') * 1000) {
          this.text(common.MavSeverity.CRITICAL, 'Switching to Offboard is currently not available');
          return TEMPORARILY_REJECTED;
        }
        return this.setPx4Mode(main, main === PX4_MAIN_MODE.AUTO ? sub || PX4_AUTO_MODE.LOITER : 0) ? ACCEPTED : TEMPORARILY_REJECTED;
      }
      case C.COMPONENT_ARM_DISARM: {
        if (p[0] === 1 && !this.armed) {
          if (this.armingFailure()) {
            // Commander's arming check: the health report names the failure; the refusal does not.
            this.text(common.MavSeverity.CRITICAL, ARMING_DENIED);
            return TEMPORARILY_REJECTED;
          }
          const r = super.runCommand(command, [1, FORCE_MAGIC], coordFrame);
          if (r === ACCEPTED) this.armedAtMs = this.clock.now();
          return r;
        }
        return super.runCommand(command, p, coordFrame);
      }
      case C.NAV_TAKEOFF: {
        if (!this.armed || !this.copter.onGround) return TEMPORARILY_REJECTED;
        const homeAmsl = this.origin.altitudeM + this.pad.u;
        const amsl = p[6];
        const targetU = (amsl === undefined || Number.isNaN(amsl) ? homeAmsl + this.param('MIS_TAKEOFF_ALT') : amsl) - this.origin.altitudeM;
        this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.TAKEOFF);
        if (targetU <= this.copter.pos.u + 0.5) {
          // Navigator's takeoff: the altitude is AMSL; a relative one reads as below the vehicle.
          this.text(common.MavSeverity.WARNING, 'Already higher than takeoff altitude');
          return ACCEPTED;
        }
        return super.runCommand(command, [0, 0, 0, NaN, 0, 0, targetU], coordFrame);
      }
      case C.DO_REPOSITION: {
        if (coordFrame === undefined || !this.armed || this.copter.onGround) return DENIED;
        // param7 AMSL; the vehicle switches to Hold and flies there (MAV_DO_REPOSITION_FLAGS_CHANGE_MODE).
        if (this.main !== PX4_MAIN_MODE.AUTO || this.sub !== PX4_AUTO_MODE.LOITER) this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LOITER);
        const amsl = p[6];
        return super.runCommand(command, [p[0] ?? -1, 0, 0, NaN, p[4] ?? 0, p[5] ?? 0, amsl === undefined || Number.isNaN(amsl) ? this.copter.pos.u : amsl - this.origin.altitudeM], coordFrame);
      }
      case C.NAV_LAND:
        return this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LAND) ? ACCEPTED : FAILED;
      case C.NAV_RETURN_TO_LAUNCH:
        return this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.RTL) ? ACCEPTED : FAILED;
      default:
        return super.runCommand(command, p, coordFrame);
    }
  }

  /** PX4 has its own streams, not ArduPilot's ap_messages; it has no WIND (ardupilotmega): its estimate is WIND_COV (recorded: FAILED). */
  protected override refuseInterval(msgid: number): common.MavResult | undefined {
    return msgid === 168 ? FAILED : undefined;
  }

  protected override armingFailure(): string | undefined {
    const booting = bootArmingFailure(this.boot, this.upMs);
    if (booting) return preflightFailure(booting);
    if (this.battery.soc < this.param('BAT_LOW_THR')) return 'Preflight Fail: low battery';
    if (this.copter.failed) return 'Preflight Fail: motor failure';
    return undefined;
  }

  /** PX4's data link counts any GCS's HEARTBEAT. */
  protected override isOurGcs(): boolean {
    return true;
  }

  /** PX4 reports a failing check when the health changes, not every 30 s. */
  protected override prearmReport(): string | undefined {
    return undefined;
  }

  protected override bootProgress(now: number): void {
    super.bootProgress(now);
    // Commander's health report: the failing pre-flight check, each time it changes (recorded:
    // "Preflight Fail: no heading reference" before any arming request).
    const failure = this.armed ? undefined : this.armingFailure();
    if (failure !== this.reportedFailure && failure) this.text(common.MavSeverity.CRITICAL, failure);
    this.reportedFailure = failure;
  }

  protected override setPositionTarget(m: common.SetPositionTargetGlobalInt): void {
    // Offboard setpoints count as the offboard signal wherever they arrive; they move the vehicle only in OFFBOARD.
    this.lastSetpointMs = this.clock.now();
    if (this.customMode !== BEHAVIOUR.OFFBOARD || !this.armed) return;
    const before = this.guidedTarget;
    this.customMode = BEHAVIOUR.GUIDED;
    super.setPositionTarget(m);
    this.offboardTarget = this.guidedTarget;
    this.guidedTarget = before;
    this.customMode = BEHAVIOUR.OFFBOARD;
  }

  // ---- failsafes --------------------------------------------------------------------------------

  protected override checkLanded(now: number): void {
    // COM_DISARM_PRFLT: armed and never taken off.
    if (this.armed && this.copter.onGround && this.takeoffTarget === undefined && this.armedAtMs !== undefined && now - this.armedAtMs > this.param('COM_DISARM_PRFLT') * 1000) {
      this.armedAtMs = undefined;
      this.disarm('Disarmed by auto preflight disarming');
      return;
    }
    if (!this.copter.onGround) this.armedAtMs = undefined;
    super.checkLanded(now);
    // OFFBOARD without setpoints for COM_OF_LOSS_T: failsafe to Hold.
    if (this.customMode === BEHAVIOUR.OFFBOARD && now - this.lastSetpointMs > this.param('COM_OF_LOSS_T') * 1000) {
      this.text(common.MavSeverity.CRITICAL, 'Failsafe activated: offboard signal lost');
      this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LOITER);
    }
  }

  /** NAV_DLL_ACT after COM_DL_LOSS_T without a GCS HEARTBEAT: 1 Hold, 2 Return, 3 Land. */
  protected override checkGcsFailsafe(now: number): void {
    if (this.lastGcsHeartbeatMs === undefined) return;
    const lost = now - this.lastGcsHeartbeatMs > this.param('COM_DL_LOSS_T') * 1000;
    if (!lost) {
      if (this.dataLinkLost) this.text(common.MavSeverity.INFO, 'Data link regained');
      this.dataLinkLost = this.failsafe.gcs = false;
      return;
    }
    if (this.dataLinkLost) return;
    this.dataLinkLost = true;
    this.text(common.MavSeverity.CRITICAL, 'Connection to ground station lost');
    const action = this.param('NAV_DLL_ACT');
    if (!this.armed || action === 0 || this.copter.onGround) return;
    this.failsafe.gcs = true;
    if (action === 1) this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LOITER, 'Failsafe activated: Hold');
    else if (action === 2) this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.RTL, 'Failsafe activated: Return');
    else this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LAND, 'Failsafe activated: Land');
  }

  /** PX4's battery levels by state of charge: low (warning), critical (COM_LOW_BAT_ACT), emergency (land). */
  protected override checkBatteryFailsafe(): void {
    const soc = this.battery.soc;
    if (!this.armed || this.copter.onGround) return;
    if (!this.failsafe.batteryLow && soc < this.param('BAT_LOW_THR')) {
      this.failsafe.batteryLow = true;
      this.text(common.MavSeverity.WARNING, 'Low battery level!');
    }
    const act = this.param('COM_LOW_BAT_ACT');
    if (!this.failsafe.batteryCritical && soc < this.param('BAT_CRIT_THR')) {
      this.failsafe.batteryCritical = true;
      this.text(common.MavSeverity.CRITICAL, 'Critical battery level!');
      if (act === 2 || act === 3) this.setPx4Mode(PX4_MAIN_MODE.AUTO, act === 2 ? PX4_AUTO_MODE.LAND : PX4_AUTO_MODE.RTL, act === 2 ? 'Failsafe activated: Land' : 'Failsafe activated: Return');
    }
    if (soc < this.param('BAT_EMERGEN_THR') && this.customMode !== BEHAVIOUR.LAND && act !== 0) this.setPx4Mode(PX4_MAIN_MODE.AUTO, PX4_AUTO_MODE.LAND, 'Emergency battery level!');
  }

  // ---- telemetry --------------------------------------------------------------------------------

  /** PX4 ends every text with a tab (recorded: "Takeoff detected\t"; its events sent as STATUSTEXT). */
  protected override wireText(text: string): string {
    return `${text}\t`;
  }

  /** PX4 numbers every text, from 0 (recorded: ids 0, 1, 2, … whether chunked or not). */
  protected override statusTextId(): number {
    const id = this.textId;
    this.textId = (this.textId + 1) % 65536;
    return id;
  }

  override build(id: number): MavLinkData | undefined {
    const m = super.build(id);
    if (m instanceof minimal.Heartbeat) {
      m.autopilot = minimal.MavAutopilot.PX4;
      m.customMode = this.packedMode;
      const F = minimal.MavModeFlag;
      m.baseMode = (F.CUSTOM_MODE_ENABLED | (this.armed ? F.SAFETY_ARMED : 0) | (this.main === PX4_MAIN_MODE.AUTO ? F.AUTO_ENABLED | F.GUIDED_ENABLED | F.STABILIZE_ENABLED : 0)) as minimal.MavModeFlag;
    }
    if (id === common.WindCov.MSG_ID) return this.windCov();
    return m;
  }

  private windCov(): common.WindCov {
    const w = new common.WindCov();
    const v = this.windEstimateNE();
    w.timeUsec = BigInt(Math.round(this.clock.now())) * 1000n;
    w.windX = v.n;
    w.windY = v.e;
    w.windZ = 0;
    w.varHoriz = 0.5;
    w.varVert = 0.5;
    w.windAlt = this.origin.altitudeM + this.copter.pos.u;
    w.horizAccuracy = 0.5;
    w.vertAccuracy = 0.5;
    return w;
  }
}
