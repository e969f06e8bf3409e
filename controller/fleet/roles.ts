/**
 * The role machine of one drone: charging → ready → launching → on-station → (handing-over) →
 * returning → landing → charging; fault and lost from anywhere; away once it lands off its pad (a
 * failsafe's or an operator's landing where it was) until someone carries it back.
 *
 * `next` is a pure function of the drone's state, an input (a tick's failsafe check or step, a
 * command's answer, a decision of the fleet's plan) and what is known now: what its autopilot
 * reports (`Observed`) and the fleet around it (`FleetView`). It reads no clock, sends nothing and
 * emits nothing: it returns the drone's next state and the effects to carry out, in order —
 * commands and position targets to send, token passes, transitions and alerts to emit — which the
 * controller (fleet.ts) performs.
 */
import type { GenericMode, Readiness } from '../../firmware-bridge/autopilots/index.ts';
import type { CommandResult } from '../../firmware-bridge/microservices/command/command.ts';
import { HANDOVER_BELOW_M, RETURN_ABOVE_M, STAGE_BELOW_M, TRANSIT_BELOW_M, type Point } from './formation.ts';
import { leftS, NO_BACKOFF, refuse, waiting, type Backoff } from './ground-backoff.ts';
import type { PaceKind } from './pace.ts';
import type { PreflightStatus } from './preflight.ts';

export const FLEET_ROLES = ['charging', 'ready', 'launching', 'on-station', 'handing-over', 'returning', 'landing', 'away', 'fault', 'lost'] as const;
export type FleetRole = (typeof FLEET_ROLES)[number];

/** Roles out of the plan: they hold no station and count for none. */
const OUT_OF_PLAN_ROLES: ReadonlySet<FleetRole> = new Set(['away', 'fault', 'lost']);

export function isOutOfPlan(role: FleetRole): boolean {
  return OUT_OF_PLAN_ROLES.has(role);
}

/**
 * Why a transition happened, where it is not the fleet's own plan: a failsafe (the ground's or
 * the autopilot's, a fault, a lost link) or an operator's action (Land, carried back, clear fault).
 */
export type TransitionCause = 'failsafe' | 'operator';

/**
 * Launch phases. Before the token (staging): the ground checks (mode, arm), the takeoff, the climb
 * to the staging level over its own pad and the wait there (staged). With it: up to the transit
 * layer (ascend), across it to under the station (transit), and up into the station or under it (rise).
 */
export type LaunchPhase = 'mode' | 'arm' | 'takeoff' | 'climb' | 'staged' | 'ascend' | 'transit' | 'rise';
/** Return phases: up to the return layer, home on it to over its pad, and the switch to LAND there. */
export type ReturnPhase = 'up' | 'home' | 'land';

/** A role, with its phase where it has phases. */
export type RoleState =
  | { readonly role: 'charging' }
  | { readonly role: 'ready' }
  | { readonly role: 'launching'; readonly phase: LaunchPhase }
  // relieve: due for relief; it leaves once its replacement is under the station.
  | { readonly role: 'on-station'; readonly phase: 'holding' | 'relieve' }
  | { readonly role: 'handing-over' }
  | { readonly role: 'returning'; readonly phase: ReturnPhase }
  // over-pad: the fleet lands it over its pad; failsafe: it lands where it is (its autopilot's
  // failsafe, or a critical battery); operator: an operator landed it where it is.
  | { readonly role: 'landing'; readonly phase: 'over-pad' | 'failsafe' | 'operator' }
  // On the ground off its pad (no charger, perhaps under the net): out of the plan until carried back.
  | { readonly role: 'away' }
  | { readonly role: 'fault' }
  | { readonly role: 'lost' };

/** Launch phases before the token: ground checks, takeoff and the climb to the staging level. */
const STAGING_PHASES: ReadonlySet<LaunchPhase> = new Set(['mode', 'arm', 'takeoff', 'climb', 'staged']);
/** …of which these keep the drone still: on its pad, or waiting at the staging level. */
const STILL_STAGING_PHASES: ReadonlySet<LaunchPhase> = new Set(['mode', 'arm', 'staged']);

const RESEND_GOTO_MS = 10_000;
/** Further than this from its station, a drone on station is sent there again. */
const OFF_STATION_M = 3;
/** Within this of a target counts as there. */
export const ARRIVED_M = 1.5;
/** Landed within this of its pad counts as on it (and charging). */
const PAD_RADIUS_M = 3;
const COMMAND_TRIES = 3;
const CLIMB_TIMEOUT_MS = 60_000;
/** The autopilot's latest arming text counts as the reason for a refusal this long. */
const ARMING_TEXT_FRESH_MS = 5000;

export type CommandAction = { readonly action: 'guided' | 'arm' | 'land' } | { readonly action: 'takeoff'; readonly altM: number };

/** A command sent and not answered yet (a drone has one at a time). */
export interface PendingCommand {
  readonly what: string;
  /** The launch phase to go on to once it is taken. */
  readonly next?: LaunchPhase;
  /** A takeoff: counts as taken once the drone climbs (a refused resend is the first one's success arriving late). */
  readonly doneOnceAirborne: boolean;
  /** Sent on the ground: a refusal in a launch is a wait, not a fault. */
  readonly grounded: boolean;
}

/** What the fleet keeps of one drone. */
export interface DroneState {
  readonly sysid: number;
  readonly role: RoleState;
  /** When it took its role. */
  readonly since: number;
  readonly pad?: Point;
  readonly station?: number;
  /** The drone this one relieves (replacement) or is relieved by (on station). */
  readonly partner?: number;
  /** When its relief began (set on the relieved drone until it lands). */
  readonly reliefStartedAt?: number;
  readonly command?: PendingCommand;
  /** Commands refused in its role (COMMAND_TRIES of them fault it). */
  readonly failures: number;
  readonly lastGotoMs?: number;
  /** Since when a drone on station has been off it. */
  readonly offSinceMs?: number;
  /** The station this drone held when the net shrank away from it (until it has left). */
  readonly droppedFrom?: Point;
  /** Refusals on the ground: the drone waits, and is never faulted for them. */
  readonly backoff: Backoff;
  /** The autopilot's reason for the latest ground refusal. */
  readonly refusal?: string;
  /** Since when its autopilot has kept it unready on the ground, and whether that raised its alert. */
  readonly unreadySince?: number;
  readonly unreadyAlerted?: boolean;
  /** It left the ground since its launch began (a disarm before that is a refusal, not a crash). */
  readonly leftGround?: boolean;
  /** Its autopilot rebooted since it was faulted (a faulted drone comes back once it reports ready after one). */
  readonly rebootedSinceFault?: boolean;
}

/** What the drone's autopilot reports now. */
export interface Observed {
  readonly alive: boolean;
  readonly armed: boolean;
  /** North and east of the fleet's origin, and up from its home (0 while unknown), m. */
  readonly here: Point & { u: number };
  /** Battery charge, % (undefined while unknown). */
  readonly pct: number | undefined;
  readonly modes: Readonly<Record<GenericMode, boolean>>;
  /** The name of its mode, and of guided in its firmware (for messages). */
  readonly modeName: string;
  readonly guidedName: string;
  /** Its system status is EMERGENCY. */
  readonly emergency: boolean;
  readonly readiness: Readiness;
  /** Its latest arming text (a pre-arm or arm refusal). */
  readonly armingText?: { readonly text: string; readonly atMs: number };
}

export interface Limits {
  readonly readyPct: number;
  readonly criticalPct: number;
  readonly minSeparationM: number;
  readonly unreadyAlertMs: number;
}

/** The fleet around the drone, as it is now. */
export interface FleetView {
  readonly now: number;
  readonly netAltM: number;
  /** The transit token's holder (undefined: free). */
  readonly token: number | undefined;
  /** What the holder's hold counts as in the pace if it ended now. */
  readonly tokenPace: PaceKind | undefined;
  /** The point of the drone's station (undefined: it has none, or the net dropped it). */
  readonly station: Point | undefined;
  /** Its partner (DroneState.partner) as it is now: its role and altitude. */
  readonly partner?: { readonly sysid: number; readonly role: RoleState; readonly u: number };
  readonly preflight: PreflightStatus;
  /** The wind is over the limit: nobody launches. */
  readonly windy: boolean;
  readonly limits: Limits;
  // Two questions that look at the whole fleet, asked only where they decide something:
  /** No drone landing is near the transit layer at `layerM` (token.ts). */
  transitLayerClear(layerM: number): boolean;
  /** This drone, on station, should ask for relief now (relief.ts). */
  relieveDue(): boolean;
}

export type DroneInput =
  // A tick: the ground's failsafes first, for every drone; then each role's step.
  | { readonly kind: 'failsafes' }
  | { readonly kind: 'advance' }
  // A command's answer.
  | { readonly kind: 'settled'; readonly result: CommandResult }
  // The fleet's plan: launch to a station (relieving `partner` there), be relieved, go home, lose its station.
  | { readonly kind: 'launch'; readonly station: number; readonly partner?: number; readonly reason: string }
  | { readonly kind: 'relieved-by'; readonly replacement: number }
  | { readonly kind: 'return'; readonly reason: string }
  | { readonly kind: 'station-dropped'; readonly reason: string }
  // The net moved to a new altitude: its holders are sent there.
  | { readonly kind: 'net-moved' }
  // Heard for the first time, already in the air.
  | { readonly kind: 'found-airborne' }
  | { readonly kind: 'rebooted' }
  | { readonly kind: 'fault'; readonly reason: string }
  // An operator's actions: land where it is; it was carried back to its pad; its fault is cleared.
  | { readonly kind: 'land' }
  | { readonly kind: 'carried-back' }
  | { readonly kind: 'fault-cleared' };

export type Effect =
  | { readonly kind: 'command'; readonly send: CommandAction }
  | { readonly kind: 'goto'; readonly target: Point & { u: number } }
  | { readonly kind: 'return-to-launch' }
  | { readonly kind: 'disarm' }
  /** The token passes to `holder` (undefined: freed); the hold that ends counts as `pace`. */
  | { readonly kind: 'token'; readonly holder: number | undefined; readonly pace: PaceKind | undefined }
  /** The partner no longer pairs with this drone. */
  | { readonly kind: 'release-partner'; readonly partner: number }
  /** `cause` is absent where the fleet's plan made it. */
  | { readonly kind: 'transition'; readonly from: FleetRole; readonly to: FleetRole; readonly reason: string; readonly cause?: TransitionCause }
  | { readonly kind: 'alert'; readonly message: string }
  | { readonly kind: 'write-failsafes' }
  /** A relief ended (the relieved drone landed) after `ms`. */
  | { readonly kind: 'relief-done'; readonly ms: number }
  | { readonly kind: 'count'; readonly what: 'denial' | 'ground-refusal' }
  | { readonly kind: 'log'; readonly level: 'info' | 'warn'; readonly message: string; readonly data?: Record<string, unknown> };

export interface Step {
  readonly state: DroneState;
  readonly effects: readonly Effect[];
}

/** The drone's next state and the effects to carry out for `input`. */
export function next(d: DroneState, input: DroneInput, seen: Observed, view: FleetView): Step {
  const m = new Machine(d, seen, view);
  switch (input.kind) {
    case 'failsafes':
      m.failsafes();
      break;
    case 'advance':
      m.advance();
      break;
    case 'settled':
      m.settled(input.result);
      break;
    case 'launch':
      m.set({ station: input.station, ...(input.partner === undefined ? {} : { partner: input.partner }) });
      m.setRole({ role: 'launching', phase: 'mode' }, input.reason);
      break;
    case 'relieved-by':
      m.set({ partner: input.replacement, reliefStartedAt: view.now });
      break;
    case 'return':
      m.startReturn(input.reason);
      break;
    case 'station-dropped':
      m.stationDropped(input.reason);
      break;
    case 'net-moved':
      if (view.station) {
        m.set({ lastGotoMs: view.now });
        m.goTo({ ...view.station, u: view.netAltM });
      }
      break;
    case 'found-airborne':
      m.setRole({ role: 'returning', phase: 'up' }, 'found in the air');
      break;
    case 'rebooted':
      // What it was told before is gone: refusals start over.
      m.set({ backoff: NO_BACKOFF, refusal: undefined, ...(d.role.role === 'fault' ? { rebootedSinceFault: true } : {}) });
      break;
    case 'fault':
      m.fault(input.reason);
      break;
    case 'land':
      m.landHere();
      break;
    case 'carried-back':
      // The operator's word: it stands on its pad again (its charger), so it charges there.
      if (d.role.role === 'away') m.setRole({ role: 'charging' }, 'carried back to its pad (operator)', 'operator');
      break;
    case 'fault-cleared':
      if (d.role.role !== 'fault') break;
      m.set({ rebootedSinceFault: false, backoff: NO_BACKOFF });
      m.toGround('fault cleared by an admin', 'operator');
      break;
  }
  return { state: m.s, effects: m.effects };
}

/** A drone heard for the first time: charging on its pad (where it stands), or found in the air (brought home: `found-airborne`). */
export function discovered(sysid: number, seen: Observed, now: number): { state: DroneState; airborne: boolean } {
  const airborne = seen.here.u > 1 && seen.armed;
  return { state: { sysid, role: { role: 'charging' }, since: now, failures: 0, backoff: NO_BACKOFF, ...(airborne ? {} : { pad: seen.here }) }, airborne };
}

/** Why a drone on the ground cannot fly now ('' when it can): the autopilot's own word first. */
export function groundWait(d: DroneState, seen: Observed, view: FleetView): string {
  if (view.preflight.state !== 'yes') return view.preflight.error ?? 'writing its failsafe parameters';
  if (!seen.readiness.ready) return seen.readiness.reason;
  if (waiting(d.backoff, view.now)) return `${d.refusal ?? 'refused'} (again in ${leftS(d.backoff, view.now)} s)`;
  const pct = seen.pct ?? 0;
  if (pct < view.limits.readyPct) return `charging (${pct} % of ${view.limits.readyPct} %)`;
  if (view.windy) return 'wind over the limit';
  return '';
}

/** What a token hold that ends in this role counts as: a launch that reached its station, a return landing over its pad, or neither (cut short by a fault or a change of plan). */
export function paceOfHold(r: RoleState): PaceKind | undefined {
  if (r.role === 'on-station' || r.role === 'handing-over') return 'launch';
  return r.role === 'landing' && r.phase === 'over-pad' ? 'return' : undefined;
}

/** A launching drone that has not taken the token yet (on its pad, or climbing or waiting over it). */
export function isStaging(d: DroneState, token: number | undefined): boolean {
  return d.role.role === 'launching' && token !== d.sysid && STAGING_PHASES.has(d.role.phase);
}

/** A drone between the pads and the net, or about to be (the net does not move meanwhile). */
export function isCrossing(r: RoleState): boolean {
  return r.role === 'handing-over' || r.role === 'returning' || (r.role === 'launching' && !STILL_STAGING_PHASES.has(r.phase));
}

/** A drone at a station or on its way there: the station is taken (a relief's pair included). */
export function holdsStation(r: RoleState): boolean {
  return r.role === 'launching' || r.role === 'on-station' || r.role === 'handing-over';
}

/** Roles on the ground (or out of the plan) that give the token back. */
const TOKEN_FREE_ROLES: ReadonlySet<FleetRole> = new Set(['charging', 'ready', ...OUT_OF_PLAN_ROLES]);

/** Its distance from its pad, if it has one and stands further from it than counts as on it. */
function offPad(d: DroneState, here: Point): number | undefined {
  if (!d.pad) return undefined;
  const dist = Math.hypot(here.n - d.pad.n, here.e - d.pad.e);
  return dist > PAD_RADIUS_M ? dist : undefined;
}

/** One step of the machine: the state as it changes, the effects so far, and the token as this step leaves it. */
class Machine {
  readonly effects: Effect[] = [];
  private token: number | undefined;

  constructor(
    public s: DroneState,
    private readonly seen: Observed,
    private readonly w: FleetView,
  ) {
    this.token = w.token;
  }

  set(patch: Partial<DroneState>): void {
    // Most steps change nothing: the state is copied only when it does.
    for (const k of Object.keys(patch) as (keyof DroneState)[]) {
      if (this.s[k] !== patch[k]) {
        this.s = { ...this.s, ...patch };
        return;
      }
    }
  }

  private emit(e: Effect): void {
    this.effects.push(e);
  }

  private get me(): number {
    return this.s.sysid;
  }

  /** Every transition resets the role's clock and its refusal count; one onto the ground (or out of the plan) gives the token back. */
  setRole(to: RoleState, reason: string, cause?: TransitionCause): void {
    if (this.s.role.role !== to.role) this.emit({ kind: 'transition', from: this.s.role.role, to: to.role, reason, ...(cause ? { cause } : {}) });
    this.set({ role: to, since: this.w.now, failures: 0, ...(to.role === 'launching' ? { leftGround: false } : {}) });
    if (this.token === this.me && TOKEN_FREE_ROLES.has(to.role)) this.passToken(undefined);
  }

  /** A step within the role: no transition, and the role's clock runs on. */
  private setPhase(role: RoleState): void {
    this.set({ role });
  }

  private launchPhase(phase: LaunchPhase): void {
    this.setPhase({ role: 'launching', phase });
  }

  /** The hold that ends is classed by its holder's role now: this drone's as this step has left it, another's as the fleet sees it. */
  private passToken(to: number | undefined): void {
    if (to === this.token) return;
    const ended = this.token === undefined ? undefined : this.token === this.me ? paceOfHold(this.s.role) : this.w.tokenPace;
    this.emit({ kind: 'token', holder: to, pace: ended });
    this.token = to;
  }

  private releasePartner(): void {
    if (this.s.partner === undefined) return;
    this.emit({ kind: 'release-partner', partner: this.s.partner });
    this.set({ partner: undefined });
  }

  goTo(p: Point & { u: number }): void {
    this.emit({ kind: 'goto', target: p });
  }

  private at(p: Point & { u: number }): boolean {
    const h = this.seen.here;
    return Math.hypot(h.n - p.n, h.e - p.e, h.u - p.u) < ARRIVED_M;
  }

  /** On its pad, not yet off it in this launch. */
  private onGround(): boolean {
    return !this.s.leftGround && (!this.seen.armed || this.seen.here.u < 1);
  }

  /**
   * Sends a command once at a time; on success the launch moves to `next`, on refusal it counts
   * and is sent again. `doneOnceAirborne`: a takeoff whose ACK was lost is resent (with the
   * confirmation counter raised), and ArduCopter refuses a repeated takeoff once it is climbing —
   * that refusal is the first one's success arriving late, not a denial.
   */
  private command(what: string, send: CommandAction, next?: LaunchPhase, doneOnceAirborne = false): void {
    if (this.s.command) return;
    this.set({ command: { what, next, doneOnceAirborne, grounded: this.onGround() } });
    this.emit({ kind: 'command', send });
  }

  settled(r: CommandResult): void {
    const c = this.s.command;
    if (!c) return;
    this.set({ command: undefined });
    const airborne = this.seen.armed && this.seen.here.u > 0.3;
    if (r.ok || (r.reason !== 'timeout' && r.attempts > 1 && c.doneOnceAirborne && airborne)) {
      if (r.ok) this.set({ backoff: NO_BACKOFF });
      if (c.next !== undefined && this.s.role.role === 'launching') this.setPhase({ role: 'launching', phase: c.next });
      return;
    }
    if (r.reason !== 'timeout') this.emit({ kind: 'count', what: 'denial' });
    // On the pad a refusal (an autopilot still warming up, say) is a wait, not a fault.
    if (c.grounded && this.s.role.role === 'launching') return this.groundRefusal(c.what, r.detail, r.explanation);
    this.set({ failures: this.s.failures + 1 });
    this.emit({ kind: 'log', level: 'warn', message: `drone d${this.me}: ${c.what} refused`, data: { reason: r.reason, detail: r.detail } });
    if (this.s.failures >= COMMAND_TRIES) this.fault(`${c.what} failed ${COMMAND_TRIES} times (${r.reason})`);
  }

  /** Takes a drone out of the plan; one still in the air is sent home on its own RTL. */
  fault(reason: string): void {
    if (this.token === this.me) this.passToken(undefined);
    this.set({ station: undefined });
    this.releasePartner();
    this.setRole({ role: 'fault' }, reason, 'failsafe');
    if (this.seen.armed || this.seen.here.u > 1) this.emit({ kind: 'return-to-launch' });
  }

  /**
   * A command refused (or unanswered) while the drone is on its pad: it waits (ground-backoff.ts)
   * with the autopilot's reason shown, gives its station to another drone, and is never faulted for
   * it. An armed drone is disarmed first (it would disarm itself, or take off later unasked). The
   * reason is the refusal's own (`explanation`: the texts that followed its ACK) with the
   * autopilot's latest fresh arming text where that says more (PX4 refuses with "Arming denied:
   * Resolve system health failures first" and named the failing check before), else what the
   * command's result says.
   */
  private groundRefusal(what: string, detail: string, explanation?: string): void {
    const now = this.w.now;
    const t = this.seen.armingText;
    const fresh = t && now - t.atMs < ARMING_TEXT_FRESH_MS ? t.text : undefined;
    const text = explanation && fresh && !explanation.includes(fresh) ? `${explanation}; ${fresh}` : (explanation ?? fresh);
    const { backoff, waitMs } = refuse(this.s.backoff, now);
    const refusal = `${what} refused: ${text ?? detail}`;
    this.set({ backoff, refusal });
    this.emit({ kind: 'count', what: 'ground-refusal' });
    this.emit({ kind: 'log', level: 'warn', message: `drone d${this.me}: ${refusal}; waiting ${waitMs / 1000} s` });
    if (this.token === this.me) this.passToken(undefined);
    this.set({ station: undefined });
    this.releasePartner();
    if (this.seen.armed) this.emit({ kind: 'disarm' });
    this.setRole({ role: 'charging' }, `${refusal} (again in ${waitMs / 1000} s)`);
  }

  /**
   * A drone standing disarmed on the ground: it charges on its pad; off it (where a landing in place
   * put it down, under the net perhaps, away from its charger) it is out of the plan until carried back.
   */
  toGround(reason: string, cause?: TransitionCause, awayCause = cause): void {
    const here = this.seen.here;
    const away = offPad(this.s, here);
    if (away === undefined) return this.setRole({ role: 'charging' }, reason, cause);
    this.setRole({ role: 'away' }, `${reason}, away from its pad (at ${here.n.toFixed(0)} m N, ${here.e.toFixed(0)} m E, ${away.toFixed(0)} m from it): carry it back, then mark it carried back`, awayCause);
  }

  /**
   * An operator lands the drone where it is (the fleet sends the LAND itself): it leaves the plan
   * now, and once down it charges on its pad or waits to be carried back. Not a failsafe. A drone
   * landing already, or faulted (its own RTL flies it home), keeps its role.
   */
  landHere(): void {
    const r = this.s.role.role;
    if (r === 'landing' || r === 'fault' || r === 'away' || r === 'lost') return;
    this.set({ station: undefined });
    this.releasePartner();
    this.setRole({ role: 'landing', phase: 'operator' }, 'landing where it is (operator)', 'operator');
  }

  /** Goes home through the token: it waits on station (keeping its role) while another holds it. */
  startReturn(reason: string): void {
    if (this.token !== undefined && this.token !== this.me) return;
    this.passToken(this.me);
    this.set({ station: undefined });
    this.setRole({ role: 'returning', phase: 'up' }, reason);
  }

  /** A staging drone is not needed after all: it lands straight down on its pad (or stays there). */
  private standDown(reason: string): void {
    if (!this.seen.armed || this.seen.here.u < 0.5) return this.setRole({ role: 'ready' }, reason);
    this.command('land', { action: 'land' });
    this.setRole({ role: 'landing', phase: 'over-pad' }, reason);
  }

  /**
   * Its station is gone (the net shrank). A relief in progress on it is called off first: the
   * replacement (which holds the token) turns back, and the relieved drone no longer waits for it.
   */
  stationDropped(reason: string): void {
    const inRelief = this.s.partner !== undefined;
    this.releasePartner();
    const r = this.s.role;
    if (r.role === 'handing-over') {
      // (One whose relief is over already finds its station gone on its next step.)
      if (!inRelief) return;
      this.set({ station: undefined });
      this.startReturn('net shrank during a relief');
    } else if (r.role === 'on-station') this.startReturn(reason);
    else if (r.role === 'launching') {
      this.set({ station: undefined });
      if (isStaging(this.s, this.token)) this.standDown('net shrank before it left its pad');
      // On its way (or rising into a station that is gone): turn back. It holds the token.
      else this.startReturn('net shrank before arrival');
    }
  }

  failsafes(): void {
    const seen = this.seen;
    const r = this.s.role;
    if (!seen.alive) {
      if (r.role !== 'lost') {
        // The autopilot's own GCS failsafe (RTL/land) takes over; the net holds with the rest.
        if (this.token === this.me) this.passToken(undefined);
        this.releasePartner();
        this.set({ station: undefined });
        this.setRole({ role: 'lost' }, 'no HEARTBEAT (link lost); expecting the autopilot failsafe', 'failsafe');
      }
      return;
    }
    if (r.role === 'lost') {
      // Back in touch: on the ground it charges; in the air, a drone in its own failsafe landing
      // (LAND or RTL) is left to finish it — ArduCopter does not resume when the failsafe clears —
      // and any other is brought home through the token.
      // (Its failsafe may have landed it where it was.)
      if (!seen.armed) this.toGround('heard again', undefined, 'failsafe');
      else if (seen.modes.land || seen.modes.rtl) this.setRole({ role: 'landing', phase: 'failsafe' }, `heard again, finishing its ${seen.modeName}`);
      else this.setRole({ role: 'returning', phase: 'up' }, 'heard again');
      return;
    }
    const pct = seen.pct ?? 100;
    // Disarmed while it should be flying (ArduCopter's crash check disarms a drone that lost its
    // attitude, e.g. a motor failure), or the autopilot reporting an emergency: out of the plan.
    const inFlightRole = (r.role === 'launching' && r.phase !== 'mode' && r.phase !== 'arm') || r.role === 'on-station' || r.role === 'handing-over' || (r.role === 'returning' && r.phase !== 'land');
    if (r.role === 'launching' && seen.here.u > 1) this.set({ leftGround: true });
    if (inFlightRole && !seen.armed && this.w.now - this.s.since > 5000) {
      // A launch that never left the pad disarmed there (PX4 disarms an armed vehicle that has not
      // taken off within COM_DISARM_PRFLT): a refusal on the ground, not a crash.
      if (r.role === 'launching' && !this.s.leftGround) return this.groundRefusal('takeoff', 'disarmed on its pad before taking off');
      return this.fault('disarmed in flight (crash)');
    }
    if (inFlightRole && seen.emergency) return this.fault('autopilot reports an emergency');
    const flying = seen.armed && r.role !== 'charging' && r.role !== 'ready';
    if (flying && pct <= this.w.limits.criticalPct && r.role !== 'landing') {
      this.set({ station: undefined });
      this.releasePartner();
      this.command('land', { action: 'land' });
      this.setRole({ role: 'landing', phase: 'failsafe' }, `battery critical (${pct} %): land now`, 'failsafe');
      return;
    }
    // The autopilot's own failsafe switched it to RTL or LAND: follow it, free the station.
    if (flying && (seen.modes.rtl || seen.modes.land) && r.role !== 'landing' && !(r.role === 'returning' && r.phase === 'land')) {
      this.set({ station: undefined });
      this.releasePartner();
      this.setRole({ role: 'landing', phase: 'failsafe' }, `autopilot switched to ${seen.modeName}`, 'failsafe');
    }
  }

  advance(): void {
    const { seen, w } = this;
    const r = this.s.role;
    const pct = seen.pct ?? 0;
    switch (r.role) {
      case 'charging': {
        if (w.preflight.state === 'no') this.emit({ kind: 'write-failsafes' });
        // Ready only when its autopilot says it can arm (its flavour reads the pre-arm health bit,
        // the EKF and home), it has charged, and no refusal is being waited out.
        const why = seen.armed ? 'armed' : groundWait(this.s, seen, w);
        this.watchUnready();
        if (why === '') this.setRole({ role: 'ready' }, `charged to ${pct} %, autopilot ready`);
        return;
      }
      case 'ready':
        this.watchUnready();
        if (pct < w.limits.readyPct - 5) this.setRole({ role: 'charging' }, `discharged to ${pct} % on the ground`);
        else if (!seen.readiness.ready) this.setRole({ role: 'charging' }, `autopilot not ready: ${seen.readiness.reason}`);
        return;
      case 'launching':
        return this.advanceLaunch(r.phase);
      case 'handing-over': {
        const old = w.partner;
        if (!w.station) return this.startReturn('station gone');
        // Rise into the station once the relieved drone is clear above the net (or gone).
        if (!old || old.role.role !== 'returning' || old.u > w.netAltM + RETURN_ABOVE_M - 1 || old.role.phase !== 'up') {
          this.goTo({ ...w.station, u: w.netAltM });
          this.releasePartner();
          this.setRole({ role: 'on-station', phase: 'holding' }, `took over station ${this.s.station}`);
        }
        return;
      }
      case 'on-station':
        return this.advanceOnStation(r.phase);
      case 'returning':
        return this.advanceReturn(r.phase);
      case 'landing':
        return this.advanceLanding(r.phase);
      case 'fault':
        // Back by itself once its autopilot reports ready after a reboot (someone carried it back
        // and power-cycled it, or it restarted on its pad).
        if (!this.s.rebootedSinceFault || seen.armed || !seen.readiness.ready) return;
        this.set({ rebootedSinceFault: false });
        this.toGround('rebooted and reports ready');
        return;
      case 'away':
        // It waits for the operator's word that it is back on its pad (carried-back).
        return;
      case 'lost':
        return;
    }
  }

  /** A drone its autopilot keeps unready on the ground for unreadyAlertMs raises an alert (once per spell). */
  private watchUnready(): void {
    const r = this.seen.readiness;
    const now = this.w.now;
    if (r.ready) return this.set({ unreadySince: undefined, unreadyAlerted: false });
    const since = this.s.unreadySince ?? now;
    this.set({ unreadySince: since });
    if (this.s.unreadyAlerted || now - since < this.w.limits.unreadyAlertMs) return;
    this.set({ unreadyAlerted: true });
    this.emit({ kind: 'alert', message: `drone d${this.me} not ready for ${Math.round((now - since) / 60_000)} min: ${r.reason}` });
  }

  private advanceLaunch(phase: LaunchPhase): void {
    const { seen, w } = this;
    const station = w.station;
    const pad = this.s.pad!;
    const alt = w.netAltM;
    const layer = alt - TRANSIT_BELOW_M;
    const stage = layer - STAGE_BELOW_M;
    if (!station) return;
    switch (phase) {
      case 'mode':
        return seen.modes.guided ? this.launchPhase('arm') : this.command(`set ${seen.guidedName}`, { action: 'guided' }, 'arm');
      case 'arm':
        return seen.armed ? this.launchPhase('takeoff') : this.command('arm', { action: 'arm' }, 'takeoff');
      case 'takeoff':
        // ArduCopter disarms an idle armed copter after DISARM_DELAY; on a busy radio that can
        // happen before the takeoff arrives, and takeoff is then refused: arm again first.
        if (!seen.armed) return this.launchPhase('arm');
        return this.command('takeoff', { action: 'takeoff', altM: stage }, 'climb', true);
      case 'climb':
        // HEARTBEAT lags the ACKs by up to a second, so progress is judged by position only.
        if (w.now - this.s.since > CLIMB_TIMEOUT_MS && seen.here.u < 1) return this.s.leftGround ? this.fault('did not climb after takeoff') : this.groundRefusal('takeoff', 'did not leave its pad after the takeoff was accepted');
        if (this.at({ ...pad, u: stage })) this.launchPhase('staged');
        return;
      case 'staged':
        // Over its own pad, under the transit layer: the token, once it is free and the layer is clear.
        if (this.token !== undefined || !w.transitLayerClear(layer)) return;
        this.passToken(this.me);
        this.launchPhase('ascend');
        this.goTo({ ...pad, u: layer });
        return;
      case 'ascend':
        if (this.at({ ...pad, u: layer })) {
          this.launchPhase('transit');
          this.goTo({ ...station, u: layer });
        } else this.goTo({ ...pad, u: layer });
        return;
      case 'transit':
        if (this.at({ ...station, u: layer })) {
          this.launchPhase('rise');
          this.goTo({ ...station, u: this.s.partner !== undefined ? alt - HANDOVER_BELOW_M : alt });
        } else this.goTo({ ...station, u: layer });
        return;
      case 'rise': {
        const target = { ...station, u: this.s.partner !== undefined ? alt - HANDOVER_BELOW_M : alt };
        if (!this.at(target)) {
          // SET_POSITION_TARGET has no acknowledgement: say it again until the drone is there.
          this.goTo(target);
          return;
        }
        if (this.s.partner !== undefined) this.setRole({ role: 'handing-over' }, `under station ${this.s.station}, waiting for drone d${this.s.partner} to leave`);
        else {
          this.setRole({ role: 'on-station', phase: 'holding' }, `on station ${this.s.station}`);
          if (this.token === this.me) this.passToken(undefined);
        }
        return;
      }
    }
  }

  private advanceOnStation(phase: 'holding' | 'relieve'): void {
    const { seen, w } = this;
    const now = w.now;
    const alt = w.netAltM;
    // Position targets are not acknowledged: one lost on the radio (or a handover's last move)
    // leaves a drone off its station for good, so one that stays off for RESEND_GOTO_MS is told
    // again. Gusts push drones about for a few seconds; answering each push would fill the
    // ground radio's share of the air (its HEARTBEATs then queue, and the drones' GCS failsafe fires).
    const st = w.station;
    const h = seen.here;
    if (!st || phase === 'relieve' || Math.hypot(h.n - st.n, h.e - st.e, h.u - alt) <= OFF_STATION_M) this.set({ offSinceMs: undefined });
    else {
      const offSince = this.s.offSinceMs ?? now;
      this.set({ offSinceMs: offSince });
      if (now - offSince > RESEND_GOTO_MS && now - (this.s.lastGotoMs ?? 0) > RESEND_GOTO_MS) {
        this.set({ lastGotoMs: now });
        this.goTo({ ...st, u: alt });
      }
    }
    if (phase === 'holding') {
      if (this.s.partner === undefined && w.relieveDue()) this.setPhase({ role: 'on-station', phase: 'relieve' });
    } else if (this.s.partner !== undefined && w.partner?.role.role === 'handing-over') {
      // Hand the token from the replacement to the relieved drone and leave upwards.
      this.passToken(undefined);
      this.startReturn(`relieved by drone d${w.partner.sysid}`);
    }
  }

  private advanceReturn(phase: ReturnPhase): void {
    const { seen, w } = this;
    const pad = this.s.pad ?? { n: 0, e: 0 };
    const layer = w.netAltM + RETURN_ABOVE_M;
    const here = seen.here;
    switch (phase) {
      case 'up':
        if (!seen.armed) return this.setRole({ role: 'charging' }, 'on the ground');
        if (!seen.modes.guided) return this.command(`set ${seen.guidedName}`, { action: 'guided' });
        if (this.at({ n: here.n, e: here.e, u: layer }) || here.u >= layer - 0.5) {
          this.set({ role: { role: 'returning', phase: 'home' }, droppedFrom: undefined });
          this.goTo({ ...pad, u: layer });
        } else this.goTo({ n: here.n, e: here.e, u: layer });
        return;
      case 'home':
        if (this.at({ ...pad, u: layer })) this.setPhase({ role: 'returning', phase: 'land' });
        else this.goTo({ ...pad, u: layer });
        return;
      case 'land':
        if (seen.modes.land) return this.setRole({ role: 'landing', phase: 'over-pad' }, 'over its pad');
        return this.command('land', { action: 'land' });
    }
  }

  private advanceLanding(phase: 'over-pad' | 'failsafe' | 'operator'): void {
    const { seen, w } = this;
    // A landing drone that is not landing (a mode changed under it) is told to land.
    if (seen.armed && !seen.modes.land && !seen.modes.rtl && w.now - this.s.since > 3000) this.command('land', { action: 'land' });
    // Pipelined returns: once it has sunk the minimum separation (and a metre) under the return
    // layer over its own pad (outside the net's footprint), the next drone may cross on that
    // layer: a drone in LAND only goes down. Crossing on the transit layer waits until it is
    // clear of that one too (token.ts, transitLayerClear).
    if (this.token === this.me && phase === 'over-pad' && seen.here.u < w.netAltM + RETURN_ABOVE_M - (w.limits.minSeparationM + 1)) this.passToken(undefined);
    if (seen.armed || seen.here.u >= 1) return;
    if (this.token === this.me) this.passToken(undefined);
    if (this.s.reliefStartedAt !== undefined) {
      this.emit({ kind: 'relief-done', ms: w.now - this.s.reliefStartedAt });
      this.set({ reliefStartedAt: undefined });
    }
    // A landing in place puts a drone down under the net perhaps, away from its charger: it stays
    // out of the plan until someone carries it back (and never takes off under the net). Not a
    // fault: the operator's own Land ends so too.
    const cause = phase === 'operator' ? 'operator' : undefined;
    this.toGround('landed', cause, cause ?? 'failsafe');
  }
}
