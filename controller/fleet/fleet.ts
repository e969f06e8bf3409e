/**
 * The fleet: one role machine per drone (roles.ts), the net's stations, rotation and ground
 * failsafes. The controller composes the parts: each tick it asks the machine what every drone
 * does next, with what its autopilot reports and the fleet around it, and carries out the effects
 * (commands, position targets, token passes, transitions); the transit token (token.ts), the
 * relief energy model (relief.ts), preflight parameter writes (preflight.ts), the wind stages
 * (wind-stage.ts) and pace learning (pace.ts) are its other parts. Every transition is logged with
 * its reason and emitted.
 *
 * Separation (the configured minimum, 5 m by default) is kept by construction, not by luck:
 * - pads lie outside the net's footprint, so climbing or descending over a pad never passes
 *   under a station;
 * - stations are a hexagonal lattice `spacingM` apart (≥ 2 × the minimum);
 * - only one drone moves between pad and net at a time (the transit token); it travels on a
 *   layer `TRANSIT_BELOW_M` below the net going out and `RETURN_ABOVE_M` above it coming back,
 *   and enters or leaves its station vertically;
 * - the next drone to launch does not wait on the ground for the token: it takes off and climbs
 *   over its own pad to a staging level `STAGE_BELOW_M` under the transit layer (pads are apart,
 *   and whoever crosses on the layer passes that far above), and takes the token from there once
 *   no drone landing over its pad is still near the layer — so the climb of one launch overlaps
 *   the transit of the one before;
 * - a replacement waits `HANDOVER_BELOW_M` under the station until the relieved drone has
 *   climbed clear above the net, then rises into the station: the station is never empty.
 */
import { EventEmitter } from 'node:events';
import { minimal } from 'mavlink-mappings';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import { CanopyError } from '../../common/errors.ts';
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import { latLonToOffset, offsetToLatLon } from '../../firmware-bridge/geo.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { CommandResult } from '../../firmware-bridge/microservices/command/command.ts';
import type { Vehicle, VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { MIN_NET_ALTITUDE_M, STAGE_BELOW_M, TRANSIT_BELOW_M, type Point } from './formation.ts';
import { Pace } from './pace.ts';
import { Preflight } from './preflight.ts';
import { DrawMeter, ReliefModel, type Energy } from './relief.ts';
import { ARRIVED_M, discovered, FLEET_ROLES, groundWait, isCrossing, isOutOfPlan, next, paceOfHold, type CommandAction, type DroneInput, type DroneState, type Effect, type FleetRole, type FleetView, type Observed, type TransitionCause } from './roles.ts';
import { nextLaunch, netSize, RESIZE_REASONS, resizeNet } from './stations.ts';
import { MOVE_TOKEN, TransitToken, transitLayerClear } from './token.ts';
import { WindStages, type WindStage } from './wind-stage.ts';

export { FLEET_ROLES, isOutOfPlan, type FleetRole, type TransitionCause } from './roles.ts';
export type { WindStage } from './wind-stage.ts';

export interface FleetOptions {
  clock: Clock;
  vehicles: VehicleManager;
  origin: { latDeg: number; lonDeg: number };
  /** Net altitude above the pads. Default 60 m. */
  altitudeM?: number;
  /** Station spacing. Default 10 m. */
  spacingM?: number;
  minSeparationM?: number;
  /** How many stations to hold (the power budget decides; default: every available drone). */
  stations?: () => number;
  /** Battery capacity of one drone (Wh), for time-to-reserve predictions. */
  batteryWh: number;
  /** Charging drones are ready at this state of charge (%). Default 90. */
  readyPct?: number;
  /** Extra reserve on top of the energy to return and land, as a fraction of capacity. Default 0.1. */
  marginFraction?: number;
  /** At or below this % a drone lands where it is. Default 8. */
  criticalPct?: number;
  /**
   * A station anemometer (m/s at the net's height; undefined while it has no reading). The fleet
   * also reads the wind estimates of its airborne drones' autopilots (WIND, WIND_COV).
   */
  windMs?: () => number | undefined;
  /** Over this sustained wind the net comes down to lowAltitudeM and shrinks to half. Default 0.75 × windLimitMs. */
  windLowerMs?: number;
  /** Over this sustained wind the net shrinks to nothing and everyone lands. Default 12 m/s. */
  windLimitMs?: number;
  /** The net's altitude in the lower stage. Default two thirds of altitudeM. */
  lowAltitudeM?: number;
  tickMs?: number;
  /** A drone on its pad that its autopilot keeps unready this long raises an alert. Default 5 minutes. */
  unreadyAlertMs?: number;
  log?: Logger;
}

export interface Transition {
  sysid: number;
  from: FleetRole | 'new';
  to: FleetRole;
  reason: string;
  /** A failsafe or an operator's action (absent: the fleet's plan). */
  cause?: TransitionCause;
  atMs: number;
}

/** One drone: its vehicle, its place in the role machine, and its own parts. */
interface Drone {
  readonly sysid: number;
  readonly vehicle: Vehicle;
  readonly actions: VehicleActions;
  /** Replaced by every step of the role machine (roles.ts). */
  state: DroneState;
  /** Its swarm-safe failsafe parameters (its flavour's). */
  readonly preflight: Preflight;
  /** Its smoothed battery draw, for relief predictions. */
  readonly draw: DrawMeter;
  /** The machine's questions about the fleet around it (FleetView), answered when asked. */
  readonly asks: Pick<FleetView, 'transitLayerClear' | 'relieveDue'>;
}

/** Something an operator should see (a drone its autopilot keeps unready, say). */
export interface FleetAlert {
  sysid: number;
  message: string;
  atMs: number;
}

export interface FleetEvents {
  transition: [t: Transition];
  alert: [a: FleetAlert];
}

export interface FleetStatus {
  roles: Record<FleetRole, number>;
  stations: number;
  manned: number;
  transits: number;
  denials: number;
  /** The net's altitude now (lower in a strong wind). */
  altitudeM: number;
  /** The sustained wind the fleet acts on (undefined: not measured lately) and what it does about it. */
  windMs: number | undefined;
  windStage: WindStage;
}

export class FleetController extends EventEmitter<FleetEvents> {
  readonly transitions: Transition[] = [];
  /** COMMAND_ACKs that refused (DENIED, FAILED, UNSUPPORTED…): 0 expected in nominal runs. */
  denials = 0;
  /** …of which came on the ground (the drone waited and retried; never a fault). */
  groundRefusals = 0;
  private readonly drones = new Map<number, Drone>();
  private stations: Point[] = [];
  private readonly pace = new Pace();
  /** Who may cross between pads and net now (one at a time). */
  private readonly token = new TransitToken(this.pace);
  private readonly relief: ReliefModel;
  /** The wind stage and the net's altitude. */
  private readonly wind: WindStages;
  private timer: TimerHandle | undefined;
  private readonly o: Required<Omit<FleetOptions, 'stations' | 'windMs' | 'log'>> & Pick<FleetOptions, 'stations' | 'windMs'>;
  private readonly log: Logger;

  constructor(opts: FleetOptions) {
    super();
    const altitudeM = opts.altitudeM ?? 60;
    const windLimitMs = opts.windLimitMs ?? 12;
    const lowAltitudeM = opts.lowAltitudeM ?? Math.max(MIN_NET_ALTITUDE_M, Math.round((altitudeM * 2) / 3));
    if (altitudeM < MIN_NET_ALTITUDE_M || lowAltitudeM < MIN_NET_ALTITUDE_M || lowAltitudeM > altitudeM) {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `fleet altitudes: the net flies at ${MIN_NET_ALTITUDE_M} m or higher (launches stage ${TRANSIT_BELOW_M + STAGE_BELOW_M} m under it) and lowAltitudeM is not above altitudeM; got altitudeM ${altitudeM}, lowAltitudeM ${lowAltitudeM}`);
    }
    this.o = {
      spacingM: 10,
      minSeparationM: 5,
      readyPct: 90,
      marginFraction: 0.1,
      criticalPct: 8,
      tickMs: 500,
      unreadyAlertMs: 5 * 60_000,
      ...opts,
      // Options given as undefined take their defaults too (canopy.yaml leaves them out that way).
      altitudeM,
      windLimitMs,
      windLowerMs: opts.windLowerMs ?? 0.75 * windLimitMs,
      lowAltitudeM,
    };
    this.log = (opts.log ?? silentLogger).child('fleet');
    this.wind = new WindStages(this.o, this.log);
    this.relief = new ReliefModel(this.o);
    if (this.o.spacingM < 2 * this.o.minSeparationM) this.log.warn('station spacing below twice the minimum separation', { spacingM: this.o.spacingM, minSeparationM: this.o.minSeparationM });
  }

  start(): void {
    this.o.vehicles.on('vehicle-rebooted', this.onReboot);
    this.timer = this.o.clock.setInterval(() => this.tick(), this.o.tickMs);
  }

  stop(): void {
    this.o.vehicles.off('vehicle-rebooted', this.onReboot);
    this.o.clock.clearInterval(this.timer);
  }

  private readonly onReboot = (v: Vehicle): void => {
    const d = this.drones.get(v.sysid);
    if (!d || d.vehicle !== v) return;
    this.log.info(`drone d${d.sysid}: autopilot rebooted`, { role: d.state.role.role });
    // What it was told before is gone: failsafe parameters survive in its storage, but read them again.
    d.preflight.reset();
    this.input(d, { kind: 'rebooted' });
  };

  /**
   * Why a drone on the ground is not ready to fly, in words for the operator ('' when it is
   * ready, flying or faulted): its autopilot's own reason first.
   */
  waitingFor(sysid: number): string {
    const d = this.drones.get(sysid);
    const role = d?.state.role.role;
    if (!d || (role !== 'charging' && role !== 'ready')) return '';
    const now = this.o.clock.now();
    return groundWait(d.state, this.observe(d.vehicle, now), this.view(d, now));
  }

  /**
   * An admin clears a fault once the drone stands disarmed: it charges on its pad, or, standing
   * off it, waits to be carried back (away). It comes back by itself when its autopilot reports
   * ready after a reboot.
   */
  clearFault(sysid: number): string {
    const d = this.known(sysid);
    const role = d.state.role.role;
    if (role !== 'fault') throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is not faulted (it is ${role})`);
    if (d.vehicle.armed) throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is still armed: clear its fault once it stands disarmed`);
    this.input(d, { kind: 'fault-cleared' });
    return this.role(sysid) === 'away' ? `drone d${sysid}: fault cleared; it stands away from its pad: carry it back, then mark it carried back` : `drone d${sysid} is back in the plan (charging)`;
  }

  /** An admin's word that a drone which landed away from its pad stands on it again: it charges there, back in the ground pool. */
  carriedBack(sysid: number): string {
    const d = this.known(sysid);
    const role = d.state.role.role;
    if (role !== 'away') throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is not away from its pad (it is ${role})`);
    if (d.vehicle.armed) throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is armed: mark it carried back once it stands disarmed on its pad`);
    this.input(d, { kind: 'carried-back' });
    return `drone d${sysid} is back on its pad (charging)`;
  }

  /**
   * An operator lands a drone where it is (MAV_CMD_NAV_LAND): it leaves the plan as an operator's
   * action, not a failsafe; the promise is its autopilot's answer. Once down it charges on its
   * pad, or waits away from it to be carried back.
   */
  land(sysid: number): Promise<CommandResult> {
    const d = this.known(sysid);
    if (!d.vehicle.alive) throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is out of touch (no HEARTBEAT)`);
    if (!d.vehicle.armed) throw new CanopyError('CANOPY_ERR_STATE', `drone d${sysid} is on the ground (${d.state.role.role}): nothing to land`);
    // Its role first, so that the LAND it switches to is not taken for its autopilot's failsafe.
    this.input(d, { kind: 'land' });
    return d.actions.land();
  }

  private known(sysid: number): Drone {
    const d = this.drones.get(sysid);
    if (!d) throw new CanopyError('CANOPY_ERR_UNKNOWN_VEHICLE', `the fleet has no drone d${sysid}`);
    return d;
  }

  role(sysid: number): FleetRole | undefined {
    return this.drones.get(sysid)?.state.role.role;
  }

  stationPoints(): readonly Point[] {
    return this.stations;
  }

  status(): FleetStatus {
    const roles = Object.fromEntries(FLEET_ROLES.map((r) => [r, 0])) as Record<FleetRole, number>;
    for (const d of this.drones.values()) roles[d.state.role.role]++;
    const manned = new Set([...this.drones.values()].filter((d) => d.state.role.role === 'on-station' && d.state.station !== undefined).map((d) => d.state.station)).size;
    return { roles, stations: this.stations.length, manned, transits: this.token.holder === undefined ? 0 : 1, denials: this.denials, altitudeM: this.wind.netAltM, windMs: this.wind.windMs(this.o.clock.now()), windStage: this.wind.stage };
  }

  /**
   * The measured pace of the transit token: how long one launch (from leaving the staging level to
   * being on station or under it) and one return (from leaving the station to handing the token
   * back over its pad) hold it. The power budget times the evening landing by it.
   */
  transitPace(): { launchMs?: number; landMs?: number } {
    return this.pace.transit();
  }

  // ---- the tick ---------------------------------------------------------------------------------

  tick(): void {
    const now = this.o.clock.now();
    this.discover(now);
    for (const d of this.drones.values()) {
      d.draw.measure(d.vehicle.telemetry.voltageV, d.vehicle.telemetry.currentA, now);
      this.input(d, { kind: 'failsafes' }, now);
    }
    this.judgeWind(now);
    this.planStations(now);
    this.moveNet(now);
    for (const d of this.drones.values()) this.input(d, { kind: 'advance' }, now);
    this.fillStations(now);
  }

  /** One step of a drone's role machine; its effects are carried out in order, before anyone's next step. */
  private input(d: Drone, input: DroneInput, now = this.o.clock.now()): void {
    const step = next(d.state, input, this.observe(d.vehicle, now), this.view(d, now));
    d.state = step.state;
    for (const e of step.effects) this.perform(d, e, now);
  }

  /** Takes a drone out of the plan (an outside fault; the machine faults drones itself otherwise). */
  private fault(d: Drone, reason: string): void {
    this.input(d, { kind: 'fault', reason });
  }

  private perform(d: Drone, e: Effect, now: number): void {
    switch (e.kind) {
      case 'command':
        return this.send(d, e.send);
      case 'goto': {
        const { latDeg, lonDeg } = offsetToLatLon(this.o.origin.latDeg, this.o.origin.lonDeg, e.target.n, e.target.e);
        return d.actions.goTo({ latDeg, lonDeg, relativeAltM: e.target.u });
      }
      case 'return-to-launch':
        return void d.actions.returnToLaunch();
      case 'disarm':
        return void d.actions.disarm();
      case 'token':
        return this.token.pass(e.holder, now, e.pace);
      case 'release-partner': {
        const p = this.drones.get(e.partner);
        if (p && p.state.partner === d.sysid) p.state = { ...p.state, partner: undefined };
        return;
      }
      case 'transition':
        return this.record({ sysid: d.sysid, from: e.from, to: e.to, reason: e.reason, ...(e.cause ? { cause: e.cause } : {}), atMs: now });
      case 'alert': {
        const alert: FleetAlert = { sysid: d.sysid, message: e.message, atMs: now };
        this.log.warn(alert.message);
        this.emit('alert', alert);
        return;
      }
      case 'write-failsafes':
        return d.preflight.write(now);
      case 'relief-done':
        return this.pace.noteRelief(e.ms);
      case 'count':
        if (e.what === 'denial') this.denials++;
        else this.groundRefusals++;
        return;
      case 'log':
        return this.log[e.level](e.message, e.data);
    }
  }

  /** Sends a command; its answer is the machine's next input for the drone. */
  private send(d: Drone, c: CommandAction): void {
    const a = d.actions;
    const sent = c.action === 'takeoff' ? a.takeoff(c.altM) : c.action === 'guided' ? a.mode('guided') : c.action === 'arm' ? a.arm() : a.land();
    void sent.then((result: CommandResult) => this.input(d, { kind: 'settled', result }));
  }

  private record(t: Transition): void {
    this.transitions.push(t);
    if (this.transitions.length > 10_000) this.transitions.shift();
    this.log.info(`drone d${t.sysid}: ${t.from} → ${t.to}`, { reason: t.reason });
    this.emit('transition', t);
  }

  /** What a drone's autopilot reports now, for the machine. */
  private observe(v: Vehicle, now: number): Observed {
    const f = v.flavour;
    return {
      alive: v.alive,
      armed: v.armed,
      here: this.local(v),
      pct: v.telemetry.remainingPct,
      modes: { guided: f.isMode(v, 'guided'), land: f.isMode(v, 'land'), rtl: f.isMode(v, 'rtl') },
      modeName: v.mode,
      guidedName: f.modeName('guided'),
      emergency: v.systemStatus === minimal.MavState.EMERGENCY,
      readiness: v.readiness(now),
      armingText: v.armingText,
    };
  }

  /** The fleet around a drone now, for the machine. */
  private view(d: Drone, now: number): FleetView {
    const s = d.state;
    const holder = this.token.holder;
    const held = holder === undefined ? undefined : this.drones.get(holder);
    const p = s.partner === undefined ? undefined : this.drones.get(s.partner);
    return {
      now,
      netAltM: this.wind.netAltM,
      token: holder,
      tokenPace: held && paceOfHold(held.state.role),
      station: s.station === undefined ? undefined : this.stations[s.station],
      partner: p && { sysid: p.sysid, role: p.state.role, u: p.vehicle.telemetry.relativeAltitudeM ?? 0 },
      preflight: d.preflight,
      windy: this.wind.stage === 'land',
      limits: this.o,
      transitLayerClear: d.asks.transitLayerClear,
      relieveDue: d.asks.relieveDue,
    };
  }

  private *landingAltitudes(): Generator<number> {
    for (const x of this.drones.values()) if (x.state.role.role === 'landing' && x.vehicle.armed) yield x.vehicle.telemetry.relativeAltitudeM ?? 0;
  }

  private energy(d: Drone): Energy {
    return { pct: d.vehicle.telemetry.remainingPct, drawW: d.draw.watts, here: this.local(d.vehicle), pad: d.state.pad };
  }

  /** Whether a drone on station should ask for relief now: the others on station without a replacement yet queue with it. */
  private relieveDue(d: Drone): boolean {
    let relieving = 0;
    const holding: Energy[] = [];
    for (const x of this.drones.values()) {
      const r = x.state.role;
      if (x === d || r.role !== 'on-station' || x.state.partner !== undefined) continue;
      if (r.phase === 'relieve') relieving++;
      else holding.push(this.energy(x));
    }
    return this.relief.due(this.energy(d), { relieving, holding }, this.token.holder !== undefined, this.pace.reliefMs, this.wind.netAltM);
  }

  private discover(now: number): void {
    for (const v of this.o.vehicles.list()) {
      if (v.compid !== minimal.MavComponent.AUTOPILOT1 || this.drones.has(v.sysid)) continue;
      // Its pad is where it stands once its GPS has a fix (before that an autopilot may report 0, 0).
      const t = v.telemetry;
      if (t.latDeg === undefined || t.lonDeg === undefined || (t.gpsFix ?? 0) < 3 || (t.latDeg === 0 && t.lonDeg === 0)) continue;
      const actions = VehicleActions.of(v, { timeoutMs: 1500, retries: 3 });
      const { state, airborne } = discovered(v.sysid, this.observe(v, now), now);
      const d: Drone = {
        sysid: v.sysid,
        vehicle: v,
        actions,
        state,
        preflight: new Preflight(v, this.o.clock, this.log),
        draw: new DrawMeter(),
        asks: {
          transitLayerClear: (layerM) => transitLayerClear(layerM, this.o.minSeparationM, this.landingAltitudes()),
          relieveDue: () => this.relieveDue(d),
        },
      };
      this.drones.set(v.sysid, d);
      this.transitions.push({ sysid: v.sysid, from: 'new', to: airborne ? 'returning' : 'charging', reason: airborne ? 'found in the air' : 'found on its pad', atMs: now });
      if (airborne) this.input(d, { kind: 'found-airborne' }, now);
    }
  }

  private local(v: Vehicle): Point & { u: number } {
    const t = v.telemetry;
    const p = latLonToOffset(this.o.origin.latDeg, this.o.origin.lonDeg, t.latDeg ?? this.o.origin.latDeg, t.lonDeg ?? this.o.origin.lonDeg);
    return { n: p.n, e: p.e, u: t.relativeAltitudeM ?? 0 };
  }

  // ---- the wind ---------------------------------------------------------------------------------

  /** Wind over the limits: lower and shrink, then land (and back, with hysteresis, as it eases). */
  private judgeWind(now: number): void {
    // The holders' estimates: at the net's height, and settled (an EKF's estimate starts from zero at takeoff).
    const holders = [...this.drones.values()].filter((d) => d.state.role.role === 'on-station' && d.vehicle.armed).map((d) => d.vehicle.telemetry);
    this.wind.judge(now, holders, this.o.windMs?.());
  }

  /**
   * Moves the whole net to the altitude its wind stage asks for, vertically and together (the
   * lattice keeps the columns apart), once nobody is between the pads and the net or waiting under
   * a station; the token is held meanwhile, so nobody starts across until every drone is there.
   */
  private moveNet(now: number): void {
    const holding = () => [...this.drones.values()].filter((d) => d.state.role.role === 'on-station' && d.state.station !== undefined && d.state.station < this.stations.length);
    if (this.wind.isMoving) {
      const there = holding().every((d) => Math.abs((d.vehicle.telemetry.relativeAltitudeM ?? 0) - this.wind.netAltM) < ARRIVED_M);
      if (this.wind.endMove(now, there) && this.token.holder === MOVE_TOKEN) this.token.pass(undefined, now, undefined);
      return;
    }
    if (!this.wind.wantsMove() || this.token.holder !== undefined) return;
    if ([...this.drones.values()].some((d) => isCrossing(d.state.role))) return;
    this.token.pass(MOVE_TOKEN, now, undefined);
    this.wind.startMove(now);
    for (const d of holding()) this.input(d, { kind: 'net-moved' }, now);
  }

  // ---- the net's stations -----------------------------------------------------------------------
  /** Sizes the net for the plan and the wind; drones on stations that no longer exist go home (one at a time, through the token). */
  private planStations(now: number): void {
    const usable = [...this.drones.values()].filter((d) => !isOutOfPlan(d.state.role.role)).length;
    const want = netSize(this.o.stations?.(), usable, this.wind.stage);
    const why = RESIZE_REASONS[this.wind.stage];
    if (want !== this.stations.length) {
      this.log.info('net size', { stations: want, was: this.stations.length, reason: why.size });
      const drones = [...this.drones.values()];
      const resized = resizeNet(this.stations, drones.map((d) => d.state), want, this.o.spacingM);
      this.stations = resized.stations;
      drones.forEach((d, i) => (d.state = resized.drones[i]!));
    }
    for (const d of this.drones.values()) if (d.state.station !== undefined && d.state.station >= this.stations.length) this.input(d, { kind: 'station-dropped', reason: why.leave }, now);
  }

  /** Starts the next launch the plan asks for, if any. */
  private fillStations(now: number): void {
    const pct = (d: Drone) => d.vehicle.telemetry.remainingPct ?? 0;
    const atReserve = (d: Drone) => pct(d) <= this.relief.relievePct(this.energy(d), this.wind.netAltM);
    const plan = nextLaunch([...this.drones.values()], this.stations, this.token.holder, pct, atReserve);
    if (plan?.kind === 'relieve') {
      this.input(plan.relieved, { kind: 'relieved-by', replacement: plan.replacement.sysid }, now);
      this.input(plan.replacement, { kind: 'launch', station: plan.station, partner: plan.relieved.sysid, reason: plan.reason }, now);
    } else if (plan?.kind === 'leave') this.input(plan.relieved, { kind: 'return', reason: plan.reason }, now);
    else if (plan?.kind === 'fill') this.input(plan.drone, { kind: 'launch', station: plan.station, reason: plan.reason }, now);
  }
}
