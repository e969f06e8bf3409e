/**
 * The fleet: one role state machine per drone, the net's stations, rotation and ground failsafes.
 *
 * Roles: charging → ready → launching → on-station → (handing-over) → returning → landing →
 * charging; fault and lost from anywhere. Every transition is logged with its reason and emitted.
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
import type { GenericMode } from '../../firmware-bridge/autopilots/index.ts';
import { CanopyError } from '../../firmware-bridge/errors.ts';
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import { latLonToOffset, offsetToLatLon } from '../../firmware-bridge/geo.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { CommandResult } from '../../firmware-bridge/microservices/command/command.ts';
import type { Vehicle, VehicleManager } from '../../firmware-bridge/vehicles/index.ts';
import { assignStations, HANDOVER_BELOW_M, MIN_NET_ALTITUDE_M, RETURN_ABOVE_M, STAGE_BELOW_M, stationLattice, TRANSIT_BELOW_M, type Point } from './formation.ts';
import { leftS, NO_BACKOFF, refuse, waiting, type Backoff } from './ground-backoff.ts';
import { Pace, type PaceKind } from './pace.ts';
import { Preflight } from './preflight.ts';
import { DrawMeter, ReliefModel, type Energy } from './relief.ts';
import { MOVE_TOKEN, TransitToken, transitLayerClear } from './token.ts';
import { WindStages, type WindStage } from './wind-stage.ts';

export const FLEET_ROLES = ['charging', 'ready', 'launching', 'on-station', 'handing-over', 'returning', 'landing', 'fault', 'lost'] as const;
export type FleetRole = (typeof FLEET_ROLES)[number];

/** Launch phases before the token: ground checks, takeoff and the climb to the staging level. */
const STAGING_PHASES: ReadonlySet<string> = new Set(['mode', 'arm', 'takeoff', 'climb', 'staged']);
/** …of which these keep the drone still: on its pad, or waiting at the staging level. */
const STILL_STAGING_PHASES: ReadonlySet<string> = new Set(['mode', 'arm', 'staged']);

const RESEND_GOTO_MS = 10_000;
/** Further than this from its station, a drone on station is sent there again. */
const OFF_STATION_M = 3;
/** Within this of a target counts as there. */
const ARRIVED_M = 1.5;
/** Landed within this of its pad counts as on it (and charging). */
const PAD_RADIUS_M = 3;
const COMMAND_TRIES = 3;
const CLIMB_TIMEOUT_MS = 60_000;

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
  atMs: number;
}

interface Drone {
  sysid: number;
  vehicle: Vehicle;
  actions: VehicleActions;
  role: FleetRole;
  since: number;
  pad?: Point;
  station?: number;
  phase: string;
  /** The drone this one relieves (replacement) or is relieved by (on station). */
  partner?: number;
  /** When its relief began (set on the relieved drone until it lands). */
  reliefStartedAt?: number;
  busy: boolean;
  failures: number;
  lastGotoMs?: number;
  offSinceMs?: number;
  /** The station this drone held when the net shrank away from it (until it has left). */
  droppedFrom?: Point;
  /** The swarm-safe failsafe parameters (its flavour's, preflight.ts). */
  preflight: Preflight;
  /** Refusals on the ground: the drone waits, and is never faulted for them. */
  backoff: Backoff;
  /** The autopilot's reason for the latest ground refusal. */
  refusal?: string;
  /** Since when its autopilot has kept it unready on the ground, and whether that raised its alert. */
  unreadySince?: number;
  unreadyAlerted?: boolean;
  /** It left the ground since its launch began (a disarm before that is a refusal, not a crash). */
  leftGround?: boolean;
  /** Its autopilot rebooted since it was faulted (a faulted drone comes back once it reports ready after one). */
  rebootedSinceFault?: boolean;
  draw: DrawMeter;
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

export type { WindStage } from './wind-stage.ts';

export class FleetController extends EventEmitter<FleetEvents> {
  readonly transitions: Transition[] = [];
  /** COMMAND_ACKs that refused (DENIED, FAILED, UNSUPPORTED…): 0 expected in nominal runs. */
  denials = 0;
  /** …of which came on the ground (the drone waited and retried; never a fault). */
  groundRefusals = 0;
  private readonly drones = new Map<number, Drone>();
  private stations: Point[] = [];
  private readonly pace = new Pace();
  private readonly transit = new TransitToken(this.pace);
  private readonly relief: ReliefModel;
  private timer: TimerHandle | undefined;


  private readonly o: Required<Omit<FleetOptions, 'stations' | 'windMs' | 'log'>> & Pick<FleetOptions, 'stations' | 'windMs'>;
  /** The wind stage and the net's altitude (wind-stage.ts). */
  private readonly wind: WindStages;
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
    this.log.info(`drone ${d.sysid}: autopilot rebooted`, { role: d.role });
    // What it was told before is gone: failsafe parameters survive in its storage, but read them again.
    d.preflight.reset();
    d.backoff = NO_BACKOFF;
    d.refusal = undefined;
    if (d.role === 'fault') d.rebootedSinceFault = true;
  };

  /**
   * Why a drone on the ground is not ready to fly, in words for the operator ('' when it is
   * ready or flying): its autopilot's own reason first.
   */
  waitingFor(sysid: number): string {
    const d = this.drones.get(sysid);
    if (!d || (d.role !== 'charging' && d.role !== 'ready' && d.role !== 'fault')) return '';
    return d.role === 'fault' ? '' : this.notReady(d, this.o.clock.now());
  }

  /**
   * An admin clears a fault: the drone is back in the plan (charging) once it stands disarmed. It
   * comes back by itself when its autopilot reports ready after a reboot.
   */
  clearFault(sysid: number): string {
    const d = this.drones.get(sysid);
    if (!d) throw new CanopyError('CANOPY_ERR_UNKNOWN_VEHICLE', `the fleet has no drone ${sysid}`);
    if (d.role !== 'fault') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `drone ${sysid} is not faulted (it is ${d.role})`);
    if (d.vehicle.armed) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `drone ${sysid} is still armed: clear its fault once it stands disarmed`);
    d.rebootedSinceFault = false;
    d.backoff = NO_BACKOFF;
    // Where it stands now is its pad (it may have been carried back to another).
    d.pad = this.local(d.vehicle);
    this.setRole(d, 'charging', 'fault cleared by an admin');
    return `drone ${sysid} is back in the plan (charging)`;
  }

  role(sysid: number): FleetRole | undefined {
    return this.drones.get(sysid)?.role;
  }

  stationPoints(): readonly Point[] {
    return this.stations;
  }

  status(): FleetStatus {
    const roles = Object.fromEntries(FLEET_ROLES.map((r) => [r, 0])) as Record<FleetRole, number>;
    for (const d of this.drones.values()) roles[d.role]++;
    const manned = new Set([...this.drones.values()].filter((d) => d.role === 'on-station' && d.station !== undefined).map((d) => d.station)).size;
    return { roles, stations: this.stations.length, manned, transits: this.token === undefined ? 0 : 1, denials: this.denials, altitudeM: this.wind.netAltM, windMs: this.wind.windMs(this.o.clock.now()), windStage: this.wind.stage };
  }

  /**
   * The measured pace of the transit token: how long one launch (from leaving the staging level to
   * being on station or under it) and one return (from leaving the station to handing the token
   * back over its pad) hold it. The power budget times the evening landing by it.
   */
  transitPace(): { launchMs?: number; landMs?: number } {
    return this.pace.transit();
  }

  /** The drone allowed to cross between pads and net now (one at a time). */
  private get token(): number | undefined {
    return this.transit.holder;
  }

  private set token(sysid: number | undefined) {
    const holder = this.transit.holder;
    const held = holder === undefined ? undefined : this.drones.get(holder);
    this.transit.pass(sysid, this.o.clock.now(), held && paceOfHold(held));
  }

  // ---- the tick ---------------------------------------------------------------------------------

  tick(): void {
    const now = this.o.clock.now();
    this.discover(now);
    for (const d of this.drones.values()) {
      d.draw.measure(d.vehicle.telemetry.voltageV, d.vehicle.telemetry.currentA, now);
      this.failsafes(d);
    }
    this.judgeWind(now);
    this.planStations();
    this.moveNet(now);
    for (const d of this.drones.values()) this.advance(d, now);
    this.fillStations();
  }

  private setRole(d: Drone, to: FleetRole, reason: string, phase = ''): void {
    const t: Transition = { sysid: d.sysid, from: d.role, to, reason, atMs: this.o.clock.now() };
    if (d.role !== to) {
      this.transitions.push(t);
      if (this.transitions.length > 10_000) this.transitions.shift();
      this.log.info(`drone ${d.sysid}: ${d.role} → ${to}`, { reason });
      this.emit('transition', t);
    }
    d.role = to;
    d.since = t.atMs;
    d.phase = phase;
    d.failures = 0;
    if (to === 'launching') d.leftGround = false;
    if (to === 'charging' || to === 'ready' || to === 'fault' || to === 'lost' || to === 'landing') {
      if (this.token === d.sysid && to !== 'landing') this.token = undefined;
    }
  }

  private discover(now: number): void {
    for (const v of this.o.vehicles.list()) {
      if (v.compid !== minimal.MavComponent.AUTOPILOT1 || this.drones.has(v.sysid)) continue;
      // Its pad is where it stands once its GPS has a fix (before that an autopilot may report 0, 0).
      const t = v.telemetry;
      if (t.latDeg === undefined || t.lonDeg === undefined || (t.gpsFix ?? 0) < 3 || (t.latDeg === 0 && t.lonDeg === 0)) continue;
      const d: Drone = { sysid: v.sysid, vehicle: v, actions: VehicleActions.of(v, { timeoutMs: 1500, retries: 3 }), role: 'charging', since: now, phase: '', busy: false, failures: 0, preflight: new Preflight(v, this.o.clock, this.log), backoff: NO_BACKOFF, draw: new DrawMeter() };
      this.drones.set(v.sysid, d);
      const airborne = (v.telemetry.relativeAltitudeM ?? 0) > 1 && v.armed;
      if (!airborne) d.pad = this.local(v);
      this.transitions.push({ sysid: v.sysid, from: 'new', to: airborne ? 'returning' : 'charging', reason: airborne ? 'found in the air' : 'found on its pad', atMs: now });
      if (airborne) this.setRole(d, 'returning', 'found in the air', 'up');
    }
  }

  private local(v: Vehicle): Point & { u: number } {
    const t = v.telemetry;
    const p = latLonToOffset(this.o.origin.latDeg, this.o.origin.lonDeg, t.latDeg ?? this.o.origin.latDeg, t.lonDeg ?? this.o.origin.lonDeg);
    return { n: p.n, e: p.e, u: t.relativeAltitudeM ?? 0 };
  }

  // ---- failsafes --------------------------------------------------------------------------------

  private failsafes(d: Drone): void {
    const v = d.vehicle;
    if (!v.alive) {
      if (d.role !== 'lost') {
        // The autopilot's own GCS failsafe (RTL/land) takes over; the net holds with the rest.
        if (this.token === d.sysid) this.token = undefined;
        this.releasePartner(d);
        d.station = undefined;
        this.setRole(d, 'lost', 'no HEARTBEAT (link lost); expecting the autopilot failsafe');
      }
      return;
    }
    if (d.role === 'lost') {
      // Back in touch: on the ground it charges; in the air, a drone in its own failsafe landing
      // (LAND or RTL) is left to finish it — ArduCopter does not resume when the failsafe clears —
      // and any other is brought home through the token.
      if (!v.armed) this.setRole(d, 'charging', 'heard again');
      else if (this.isMode(d, 'land') || this.isMode(d, 'rtl')) this.setRole(d, 'landing', `heard again, finishing its ${v.mode}`);
      else this.setRole(d, 'returning', 'heard again', 'up');
      return;
    }
    const pct = v.telemetry.remainingPct ?? 100;
    // Disarmed while it should be flying (ArduCopter's crash check disarms a drone that lost its
    // attitude, e.g. a motor failure), or the autopilot reporting an emergency: out of the plan.
    const inFlightRole = (d.role === 'launching' && d.phase !== 'mode' && d.phase !== 'arm') || d.role === 'on-station' || d.role === 'handing-over' || (d.role === 'returning' && d.phase !== 'land');
    if (d.role === 'launching' && (v.telemetry.relativeAltitudeM ?? 0) > 1) d.leftGround = true;
    if (inFlightRole && !v.armed && this.o.clock.now() - d.since > 5000) {
      // A launch that never left the pad disarmed there (PX4 disarms an armed vehicle that has not
      // taken off within COM_DISARM_PRFLT): a refusal on the ground, not a crash.
      if (d.role === 'launching' && !d.leftGround) return this.groundRefusal(d, 'takeoff', 'disarmed on its pad before taking off');
      return this.fault(d, 'disarmed in flight (crash)');
    }
    if (inFlightRole && v.systemStatus === minimal.MavState.EMERGENCY) return this.fault(d, 'autopilot reports an emergency');
    const flying = v.armed && d.role !== 'charging' && d.role !== 'ready';
    if (flying && pct <= this.o.criticalPct && d.role !== 'landing') {
      d.station = undefined;
      this.releasePartner(d);
      this.command(d, 'land', (a) => a.land());
      this.setRole(d, 'landing', `battery critical (${pct} %): land now`);
      return;
    }
    // The autopilot's own failsafe switched it to RTL or LAND: follow it, free the station.
    if (flying && (this.isMode(d, 'rtl') || this.isMode(d, 'land')) && d.role !== 'landing' && !(d.role === 'returning' && d.phase === 'land')) {
      d.station = undefined;
      this.releasePartner(d);
      this.setRole(d, 'landing', `autopilot switched to ${v.mode}`);
    }
  }

  private releasePartner(d: Drone): void {
    if (d.partner === undefined) return;
    const p = this.drones.get(d.partner);
    d.partner = undefined;
    if (p && p.partner === d.sysid) p.partner = undefined;
  }

  // ---- formation --------------------------------------------------------------------------------

  private windy(): boolean {
    return this.wind.stage === 'land';
  }

  /** Wind over the limits: lower and shrink, then land (and back, with hysteresis, as it eases). */
  private judgeWind(now: number): void {
    // The holders' estimates: at the net's height, and settled (an EKF's estimate starts from zero at takeoff).
    const holders = [...this.drones.values()].filter((d) => d.role === 'on-station' && d.vehicle.armed).map((d) => d.vehicle.telemetry);
    this.wind.judge(now, holders, this.o.windMs?.());
  }

  /**
   * Moves the whole net to the altitude its wind stage asks for, vertically and together (the
   * lattice keeps the columns apart), once nobody is between the pads and the net or waiting under
   * a station; the token is held meanwhile, so nobody starts across until every drone is there.
   */
  private moveNet(now: number): void {
    const holding = () => [...this.drones.values()].filter((d) => d.role === 'on-station' && d.station !== undefined && d.station < this.stations.length);
    if (this.wind.isMoving) {
      if (this.wind.endMove(now, holding().every((d) => Math.abs(this.local(d.vehicle).u - this.wind.netAltM) < ARRIVED_M)) && this.token === MOVE_TOKEN) this.token = undefined;
      return;
    }
    if (!this.wind.wantsMove() || this.token !== undefined) return;
    const crossing = [...this.drones.values()].some((d) => d.role === 'handing-over' || d.role === 'returning' || (d.role === 'launching' && !STILL_STAGING_PHASES.has(d.phase)));
    if (crossing) return;
    this.token = MOVE_TOKEN;
    this.wind.startMove(now);
    for (const d of holding()) {
      d.lastGotoMs = now;
      this.goTo(d, { ...this.stations[d.station!]!, u: this.wind.netAltM });
    }
  }

  private planStations(): void {
    const usable = [...this.drones.values()].filter((d) => d.role !== 'fault' && d.role !== 'lost').length;
    let want = Math.min(this.o.stations?.() ?? usable, usable);
    // A strong wind: at most half the net (it lands in half the time if the wind keeps rising), or none.
    if (this.wind.stage === 'lower') want = Math.min(want, Math.max(3, Math.ceil(want / 2)));
    if (this.windy()) want = 0;
    if (want !== this.stations.length) {
      this.log.info('net size', { stations: want, was: this.stations.length, reason: this.windy() ? 'wind over the limit' : this.wind.stage === 'lower' ? 'strong wind' : 'plan' });
      this.resize(want);
    }
    // Drones on stations that no longer exist go home (one at a time, through the token). A
    // relief in progress on such a station is called off first: the replacement (which holds the
    // token) turns back, and the relieved drone no longer waits for it.
    for (const d of this.drones.values()) {
      if (d.station !== undefined && d.station >= this.stations.length && d.partner !== undefined) {
        this.releasePartner(d);
        if (d.role === 'handing-over') {
          d.station = undefined;
          this.startReturn(d, 'net shrank during a relief');
          continue;
        }
      }
      if (d.station !== undefined && d.station >= this.stations.length && d.role === 'on-station' && d.partner === undefined) this.startReturn(d, this.windy() ? 'wind over the limit: shrinking the net' : this.wind.stage === 'lower' ? 'strong wind: shrinking the net' : 'net shrinks');
      else if (d.station !== undefined && d.station >= this.stations.length && d.role === 'launching') {
        d.station = undefined;
        if (this.isStaging(d)) this.standDown(d, 'net shrank before it left its pad');
        // On its way (or rising into a station that is gone): turn back. It holds the token.
        else this.startReturn(d, 'net shrank before arrival');
      }
    }
  }

  /**
   * Grows the net with the lattice's next free points, or shrinks it by dropping empty stations
   * first (a drone lost or landed leaves a hole) and then the outermost manned ones, so the drones
   * still holding the net keep their places. Station indices are renumbered; a drone whose station
   * is dropped gets an index past the end, which sends it home.
   */
  private resize(want: number): void {
    if (want > this.stations.length) {
      // Drones still waiting (for the token) to leave a dropped station take it back first: a new
      // station at the same point would send another drone into them.
      for (const d of this.drones.values()) {
        if (this.stations.length >= want) break;
        if (d.role === 'on-station' && d.station !== undefined && d.station >= this.stations.length && d.droppedFrom) {
          this.stations.push(d.droppedFrom);
          d.station = this.stations.length - 1;
          d.droppedFrom = undefined;
        }
      }
      const taken = new Set(this.stations.map((p) => `${p.n.toFixed(3)},${p.e.toFixed(3)}`));
      // …and so are the points of drones that are still there on their way out.
      for (const d of this.drones.values()) if (d.droppedFrom && (d.role === 'on-station' || (d.role === 'returning' && d.phase === 'up'))) taken.add(`${d.droppedFrom.n.toFixed(3)},${d.droppedFrom.e.toFixed(3)}`);
      for (const p of stationLattice(want + this.stations.length, this.o.spacingM)) {
        if (this.stations.length >= want) break;
        if (!taken.has(`${p.n.toFixed(3)},${p.e.toFixed(3)}`)) this.stations.push(p);
      }
      return;
    }
    const held = new Set<number>();
    for (const d of this.drones.values()) if (d.station !== undefined && ['launching', 'on-station', 'handing-over'].includes(d.role)) held.add(d.station);
    const byDistance = (a: number, b: number) => Math.hypot(this.stations[a]!.n, this.stations[a]!.e) - Math.hypot(this.stations[b]!.n, this.stations[b]!.e) || a - b;
    const all = this.stations.map((_, i) => i);
    const manned = all.filter((i) => held.has(i)).sort(byDistance);
    const empty = all.filter((i) => !held.has(i)).sort(byDistance);
    const keep = [...manned.slice(0, want), ...empty.slice(0, Math.max(0, want - manned.length))].sort((a, b) => a - b);
    const renumber = new Map(keep.map((old, i) => [old, i]));
    const before = this.stations;
    this.stations = keep.map((i) => before[i]!);
    for (const d of this.drones.values()) {
      if (d.station === undefined) continue;
      const to = renumber.get(d.station);
      if (to === undefined) d.droppedFrom = before[d.station];
      d.station = to ?? Number.MAX_SAFE_INTEGER;
    }
  }

  /** Stations someone holds or is on the way to, a relief's pair included (its station is not empty). */
  private occupied(): Set<number> {
    const s = new Set<number>();
    for (const d of this.drones.values()) if (d.station !== undefined && (d.role === 'launching' || d.role === 'on-station' || d.role === 'handing-over')) s.add(d.station);
    return s;
  }

  private fillStations(): void {
    // One drone stages at a time (it hovers on its battery while it waits for the token).
    if ([...this.drones.values()].some((d) => this.isStaging(d))) return;
    const occupied = this.occupied();
    const empty = this.stations.map((_, i) => i).filter((i) => !occupied.has(i));
    const ready = [...this.drones.values()].filter((d) => d.role === 'ready' && d.pad);
    // Relief first: a drone that must leave soon and has no replacement yet.
    const due = [...this.drones.values()].filter((d) => d.role === 'on-station' && d.partner === undefined && d.phase === 'relieve' && d.station !== undefined && d.station < this.stations.length).sort((a, b) => (a.vehicle.telemetry.remainingPct ?? 0) - (b.vehicle.telemetry.remainingPct ?? 0));
    if (due.length) {
      const old = due[0]!;
      const best = ready.sort((a, b) => (b.vehicle.telemetry.remainingPct ?? 0) - (a.vehicle.telemetry.remainingPct ?? 0))[0];
      if (best) {
        best.station = old.station;
        best.partner = old.sysid;
        old.partner = best.sysid;
        old.reliefStartedAt = this.o.clock.now();
        this.startLaunch(best, `relieves drone ${old.sysid} at station ${old.station}`);
      } else if ((old.vehicle.telemetry.remainingPct ?? 0) <= this.relief.relievePct(this.energy(old), this.wind.netAltM)) {
        this.startReturn(old, 'battery at reserve and no replacement ready: station left empty');
      }
      return;
    }
    if (!empty.length || !ready.length) return;
    const assignment = assignStations(
      ready.map((d) => d.pad!),
      this.stations,
      occupied,
    );
    // One launch per tick: the token admits one transit at a time.
    const [idx, station] = [...assignment.entries()].sort((a, b) => a[1] - b[1])[0] ?? [];
    if (idx === undefined || station === undefined) return;
    const d = ready[idx]!;
    d.station = station;
    this.startLaunch(d, `fills station ${station}`);
  }

  /** A launching drone that has not taken the token yet (on its pad, or climbing or waiting over it). */
  private isStaging(d: Drone): boolean {
    return d.role === 'launching' && this.token !== d.sysid && STAGING_PHASES.has(d.phase);
  }

  /** Whether a staged drone may cross on the transit layer (token.ts). */
  private transitLayerClear(layer: number): boolean {
    return transitLayerClear(layer, this.o.minSeparationM, this.landingAltitudes());
  }

  private *landingAltitudes(): Generator<number> {
    for (const x of this.drones.values()) if (x.role === 'landing' && x.vehicle.armed) yield this.local(x.vehicle).u;
  }

  /** Why a drone on the ground cannot fly now ('' when it can): the autopilot's own word first. */
  private notReady(d: Drone, now: number): string {
    const v = d.vehicle;
    if (d.preflight.state !== 'yes') return d.preflight.error ?? 'writing its failsafe parameters';
    const r = v.readiness(now);
    if (!r.ready) return r.reason;
    if (waiting(d.backoff, now)) return `${d.refusal ?? 'refused'} (again in ${leftS(d.backoff, now)} s)`;
    const pct = v.telemetry.remainingPct ?? 0;
    if (pct < this.o.readyPct) return `charging (${pct} % of ${this.o.readyPct} %)`;
    if (this.windy()) return 'wind over the limit';
    return '';
  }

  private isMode(d: Drone, mode: GenericMode): boolean {
    return d.vehicle.flavour.isMode(d.vehicle, mode);
  }

  /**
   * A command refused (or unanswered) while the drone is on its pad: it waits (GroundBackoff) with
   * the autopilot's reason shown, gives its station to another drone, and is never faulted for it.
   * An armed drone is disarmed first (it would disarm itself, or take off later unasked).
   */
  private groundRefusal(d: Drone, what: string, detail: string): void {
    const now = this.o.clock.now();
    const v = d.vehicle;
    const text = v.armingText && now - v.armingText.atMs < 5000 ? v.armingText.text : undefined;
    const { backoff, waitMs: wait } = refuse(d.backoff, now);
    d.backoff = backoff;
    d.refusal = `${what} refused: ${text ?? detail}`;
    this.groundRefusals++;
    this.log.warn(`drone ${d.sysid}: ${d.refusal}; waiting ${wait / 1000} s`);
    if (this.token === d.sysid) this.token = undefined;
    d.station = undefined;
    this.releasePartner(d);
    if (v.armed) void d.actions.disarm();
    this.setRole(d, 'charging', `${d.refusal} (again in ${wait / 1000} s)`);
  }

  /** A drone on the ground (on its pad, not yet off it in this launch). */
  private onGround(d: Drone): boolean {
    return !d.leftGround && (!d.vehicle.armed || (d.vehicle.telemetry.relativeAltitudeM ?? 0) < 1);
  }

  private energy(d: Drone): Energy {
    return { pct: d.vehicle.telemetry.remainingPct, drawW: d.draw.watts, here: this.local(d.vehicle), pad: d.pad };
  }

  /** Whether a drone on station should ask for relief now (relief.ts): the others on station without a replacement yet queue with it. */
  private relieveDue(d: Drone): boolean {
    let relieving = 0;
    const holding: Energy[] = [];
    for (const x of this.drones.values()) {
      if (x === d || x.role !== 'on-station' || x.partner !== undefined) continue;
      if (x.phase === 'relieve') relieving++;
      else holding.push(this.energy(x));
    }
    return this.relief.due(this.energy(d), { relieving, holding }, this.token !== undefined, this.pace.reliefMs, this.wind.netAltM);
  }

  // ---- moving drones ----------------------------------------------------------------------------

  /** Starts a launch: the drone stages over its pad and takes the token from there (advanceLaunch). */
  private startLaunch(d: Drone, reason: string): void {
    this.setRole(d, 'launching', reason, 'mode');
  }

  private startReturn(d: Drone, reason: string): void {
    if (this.token !== undefined && this.token !== d.sysid) {
      // Wait for the token; stay (or keep the role) until it is free.
      return;
    }
    this.token = d.sysid;
    d.station = undefined;
    this.setRole(d, 'returning', reason, 'up');
  }

  /** A staging drone is not needed after all: it lands straight down on its pad (or stays there). */
  private standDown(d: Drone, reason: string): void {
    if (!d.vehicle.armed || (d.vehicle.telemetry.relativeAltitudeM ?? 0) < 0.5) return this.setRole(d, 'ready', reason);
    this.command(d, 'land', (a) => a.land());
    this.setRole(d, 'landing', reason, 'pad');
  }

  private goTo(d: Drone, p: Point & { u: number }): void {
    const { latDeg, lonDeg } = offsetToLatLon(this.o.origin.latDeg, this.o.origin.lonDeg, p.n, p.e);
    d.actions.goTo({ latDeg, lonDeg, relativeAltM: p.u });
  }

  private at(d: Drone, p: Point & { u: number }): boolean {
    const h = this.local(d.vehicle);
    return Math.hypot(h.n - p.n, h.e - p.e, h.u - p.u) < ARRIVED_M;
  }

  /**
   * Sends a command once at a time; on success moves to `next`, on refusal counts and retries.
   * `done` says whether the vehicle already does what was asked: a command whose ACK was lost is
   * resent (with the confirmation counter raised), and ArduCopter refuses a repeated takeoff once
   * it is climbing — that refusal is the first one's success arriving late, not a denial.
   */
  private command(d: Drone, what: string, send: (a: VehicleActions) => Promise<CommandResult>, next?: string, done?: () => boolean): void {
    if (d.busy) return;
    d.busy = true;
    const grounded = this.onGround(d);
    void send(d.actions).then((r) => {
      d.busy = false;
      if (r.ok || (r.reason !== 'timeout' && r.attempts > 1 && done?.())) {
        if (r.ok) d.backoff = NO_BACKOFF;
        if (next !== undefined) d.phase = next;
        return;
      }
      if (r.reason !== 'timeout') this.denials++;
      // On the pad a refusal (an autopilot still warming up, say) is a wait, not a fault.
      if (grounded && d.role === 'launching') return this.groundRefusal(d, what, r.detail);
      d.failures++;
      this.log.warn(`drone ${d.sysid}: ${what} refused`, { reason: r.reason, detail: r.detail });
      if (d.failures >= COMMAND_TRIES) this.fault(d, `${what} failed ${COMMAND_TRIES} times (${r.reason})`);
    });
  }

  /** Takes a drone out of the plan; one still in the air is sent home on its own RTL. */
  private fault(d: Drone, reason: string): void {
    if (this.token === d.sysid) this.token = undefined;
    d.station = undefined;
    this.releasePartner(d);
    this.setRole(d, 'fault', reason);
    if (d.vehicle.armed || (d.vehicle.telemetry.relativeAltitudeM ?? 0) > 1) void d.actions.returnToLaunch();
  }

  private advance(d: Drone, now: number): void {
    const v = d.vehicle;
    const alt = this.wind.netAltM;
    const pct = v.telemetry.remainingPct ?? 0;
    switch (d.role) {
      case 'charging': {
        if (d.preflight.state === 'no') d.preflight.write(now);
        // Ready only when its autopilot says it can arm (its flavour reads the pre-arm health bit,
        // the EKF and home), it has charged, and no refusal is being waited out.
        const why = v.armed ? 'armed' : this.notReady(d, now);
        this.watchUnready(d, now, v.readiness(now));
        if (why === '') this.setRole(d, 'ready', `charged to ${pct} %, autopilot ready`);
        return;
      }
      case 'ready': {
        const r = v.readiness(now);
        this.watchUnready(d, now, r);
        if (pct < this.o.readyPct - 5) this.setRole(d, 'charging', `discharged to ${pct} % on the ground`);
        else if (!r.ready) this.setRole(d, 'charging', `autopilot not ready: ${r.reason}`);
        return;
      }
      case 'launching':
        return this.advanceLaunch(d, alt, now);
      case 'handing-over': {
        const old = d.partner !== undefined ? this.drones.get(d.partner) : undefined;
        const station = this.stations[d.station ?? -1];
        if (!station) return this.startReturn(d, 'station gone');
        // Rise into the station once the relieved drone is clear above the net (or gone).
        if (!old || old.role !== 'returning' || this.local(old.vehicle).u > alt + RETURN_ABOVE_M - 1 || old.phase !== 'up') {
          this.goTo(d, { ...station, u: alt });
          this.releasePartner(d);
          this.setRole(d, 'on-station', `took over station ${d.station}`);
        }
        return;
      }
      case 'on-station': {
        // Position targets are not acknowledged: one lost on the radio (or a handover's last move)
        // leaves a drone off its station for good, so one that stays off for RESEND_GOTO_MS is told
        // again. Gusts push drones about for a few seconds; answering each push would fill the
        // ground radio's share of the air (its HEARTBEATs then queue, and the drones' GCS failsafe fires).
        const st = this.stations[d.station ?? -1];
        const h = this.local(v);
        if (!st || d.phase === 'relieve' || Math.hypot(h.n - st.n, h.e - st.e, h.u - alt) <= OFF_STATION_M) d.offSinceMs = undefined;
        else {
          d.offSinceMs ??= now;
          if (now - d.offSinceMs > RESEND_GOTO_MS && now - (d.lastGotoMs ?? 0) > RESEND_GOTO_MS) {
            d.lastGotoMs = now;
            this.goTo(d, { ...st, u: alt });
          }
        }
        if (d.partner === undefined && d.phase !== 'relieve' && this.relieveDue(d)) d.phase = 'relieve';
        if (d.phase === 'relieve' && d.partner !== undefined) {
          const p = this.drones.get(d.partner);
          if (p?.role === 'handing-over') {
            // Hand the token from the replacement to the relieved drone and leave upwards.
            this.token = undefined;
            this.startReturn(d, `relieved by drone ${p.sysid}`);
          }
        }
        return;
      }
      case 'returning':
        return this.advanceReturn(d, alt);
      case 'landing':
        // A landing drone that is not landing (a mode changed under it) is told to land.
        if (v.armed && !this.isMode(d, 'land') && !this.isMode(d, 'rtl') && now - d.since > 3000) this.command(d, 'land', (a) => a.land());
        // Pipelined returns: once it has sunk the minimum separation (and a metre) under the return
        // layer over its own pad (outside the net's footprint), the next drone may cross on that
        // layer: a drone in LAND only goes down. Crossing on the transit layer waits until it is
        // clear of that one too (transitLayerClear).
        if (this.token === d.sysid && d.phase === 'pad' && (v.telemetry.relativeAltitudeM ?? 0) < alt + RETURN_ABOVE_M - (this.o.minSeparationM + 1)) this.token = undefined;
        if (!v.armed && (v.telemetry.relativeAltitudeM ?? 0) < 1) {
          if (this.token === d.sysid) this.token = undefined;
          if (d.reliefStartedAt !== undefined) {
            this.pace.noteRelief(now - d.reliefStartedAt);
            d.reliefStartedAt = undefined;
          }
          // A failsafe landing in place puts a drone down under the net, away from its charger;
          // it stays out of the plan until someone carries it back (and never takes off under the net).
          const here = this.local(v);
          if (d.pad && Math.hypot(here.n - d.pad.n, here.e - d.pad.e) > PAD_RADIUS_M) this.fault(d, `landed away from its pad (${here.n.toFixed(0)} m N, ${here.e.toFixed(0)} m E): carry it back to its pad`);
          else this.setRole(d, 'charging', 'landed');
        }
        return;
      case 'fault': {
        // Back by itself once its autopilot reports ready after a reboot (someone carried it back
        // and power-cycled it, or it restarted on its pad).
        if (!d.rebootedSinceFault || v.armed || !v.readiness(now).ready) return;
        d.rebootedSinceFault = false;
        d.pad = this.local(v);
        this.setRole(d, 'charging', 'rebooted and reports ready');
        return;
      }
      case 'lost':
        return;
    }
  }

  /** A drone its autopilot keeps unready on the ground for unreadyAlertMs raises an alert (once per spell). */
  private watchUnready(d: Drone, now: number, r: { ready: boolean; reason: string }): void {
    if (r.ready) {
      d.unreadySince = undefined;
      d.unreadyAlerted = false;
      return;
    }
    d.unreadySince ??= now;
    if (d.unreadyAlerted || now - d.unreadySince < this.o.unreadyAlertMs) return;
    d.unreadyAlerted = true;
    const alert: FleetAlert = { sysid: d.sysid, message: `drone ${d.sysid} not ready for ${Math.round((now - d.unreadySince) / 60_000)} min: ${r.reason}`, atMs: now };
    this.log.warn(alert.message);
    this.emit('alert', alert);
  }

  private advanceLaunch(d: Drone, alt: number, now: number): void {
    const v = d.vehicle;
    const station = this.stations[d.station ?? -1];
    const pad = d.pad!;
    const layer = alt - TRANSIT_BELOW_M;
    const stage = layer - STAGE_BELOW_M;
    if (!station) return;
    switch (d.phase) {
      case 'mode':
        return this.isMode(d, 'guided') ? void (d.phase = 'arm') : this.command(d, `set ${v.flavour.modeName('guided')}`, (a) => a.mode('guided'), 'arm');
      case 'arm':
        return v.armed ? void (d.phase = 'takeoff') : this.command(d, 'arm', (a) => a.arm(), 'takeoff');
      case 'takeoff':
        // ArduCopter disarms an idle armed copter after DISARM_DELAY; on a busy radio that can
        // happen before the takeoff arrives, and takeoff is then refused: arm again first.
        if (!v.armed) return void (d.phase = 'arm');
        return this.command(d, 'takeoff', (a) => a.takeoff(stage), 'climb', () => v.armed && (v.telemetry.relativeAltitudeM ?? 0) > 0.3);
      case 'climb':
        // HEARTBEAT lags the ACKs by up to a second, so progress is judged by position only.
        if (now - d.since > CLIMB_TIMEOUT_MS && (v.telemetry.relativeAltitudeM ?? 0) < 1) return d.leftGround ? this.fault(d, 'did not climb after takeoff') : this.groundRefusal(d, 'takeoff', 'did not leave its pad after the takeoff was accepted');
        if (this.at(d, { ...pad, u: stage })) d.phase = 'staged';
        return;
      case 'staged':
        // Over its own pad, under the transit layer: the token, once it is free and the layer is clear.
        if (this.token !== undefined || !this.transitLayerClear(layer)) return;
        this.token = d.sysid;
        d.phase = 'ascend';
        this.goTo(d, { ...pad, u: layer });
        return;
      case 'ascend':
        if (this.at(d, { ...pad, u: layer })) {
          d.phase = 'transit';
          this.goTo(d, { ...station, u: layer });
        } else this.goTo(d, { ...pad, u: layer });
        return;
      case 'transit':
        if (this.at(d, { ...station, u: layer })) {
          d.phase = 'rise';
          this.goTo(d, { ...station, u: d.partner !== undefined ? alt - HANDOVER_BELOW_M : alt });
        } else this.goTo(d, { ...station, u: layer });
        return;
      case 'rise': {
        const target = { ...station, u: d.partner !== undefined ? alt - HANDOVER_BELOW_M : alt };
        if (!this.at(d, target)) {
          // SET_POSITION_TARGET has no acknowledgement: say it again until the drone is there.
          this.goTo(d, target);
          return;
        }
        if (d.partner !== undefined) this.setRole(d, 'handing-over', `under station ${d.station}, waiting for drone ${d.partner} to leave`);
        else {
          this.setRole(d, 'on-station', `on station ${d.station}`);
          if (this.token === d.sysid) this.token = undefined;
        }
        return;
      }
    }
  }

  private advanceReturn(d: Drone, alt: number): void {
    const v = d.vehicle;
    const pad = d.pad ?? { n: 0, e: 0 };
    const layer = alt + RETURN_ABOVE_M;
    const here = this.local(v);
    switch (d.phase) {
      case 'up':
        if (!v.armed) return this.setRole(d, 'charging', 'on the ground');
        if (!this.isMode(d, 'guided')) return this.command(d, `set ${v.flavour.modeName('guided')}`, (a) => a.mode('guided'));
        if (this.at(d, { n: here.n, e: here.e, u: layer }) || here.u >= layer - 0.5) {
          d.phase = 'home';
          d.droppedFrom = undefined;
          this.goTo(d, { ...pad, u: layer });
        } else this.goTo(d, { n: here.n, e: here.e, u: layer });
        return;
      case 'home':
        if (this.at(d, { ...pad, u: layer })) {
          d.phase = 'land';
        } else this.goTo(d, { ...pad, u: layer });
        return;
      case 'land':
        if (this.isMode(d, 'land')) return this.setRole(d, 'landing', 'over its pad', 'pad');
        return this.command(d, 'land', (a) => a.land());
    }
  }
}

/** What a token hold that ends now counts as: a launch that reached its station, a return landing over its pad, or neither (cut short by a fault or a change of plan). */
function paceOfHold(d: Drone): PaceKind | undefined {
  return d.role === 'on-station' || d.role === 'handing-over' ? 'launch' : d.role === 'landing' && d.phase === 'pad' ? 'return' : undefined;
}
