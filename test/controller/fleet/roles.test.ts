/**
 * The role machine as a function: a drone's state, an input, what its autopilot reports and the
 * fleet around it give its next state and the effects to carry out, in order. Each case is one
 * rule of the fleet (controller/fleet/roles.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CommandResult } from '../../../firmware-bridge/microservices/command/command.ts';
import { NO_BACKOFF } from '../../../controller/fleet/ground-backoff.ts';
import { discovered, groundWait, next, type DroneInput, type DroneState, type Effect, type FleetView, type Observed, type RoleState } from '../../../controller/fleet/roles.ts';

const NOW = 1_000_000;
const PAD = { n: 50, e: 0 };
const STATION = { n: 0, e: 0 };
/** The net at 60 m: the transit layer 12 m under it, staging 8 m under that, returns 8 m over it. */
const NET = 60;

function drone(patch: Partial<DroneState> = {}): DroneState {
  return { sysid: 1, role: { role: 'charging' }, since: NOW - 60_000, failures: 0, backoff: NO_BACKOFF, pad: PAD, ...patch };
}

function seen(patch: Partial<Observed> = {}): Observed {
  return { alive: true, armed: false, here: { ...PAD, u: 0 }, pct: 95, modes: { guided: false, land: false, rtl: false }, modeName: 'STABILIZE', guidedName: 'GUIDED', emergency: false, readiness: { ready: true, reason: '' }, ...patch };
}

function view(patch: Partial<FleetView> = {}): FleetView {
  return {
    now: NOW,
    netAltM: NET,
    token: undefined,
    tokenPace: undefined,
    station: STATION,
    preflight: { state: 'yes' },
    windy: false,
    limits: { readyPct: 90, criticalPct: 8, minSeparationM: 5, unreadyAlertMs: 5 * 60_000 },
    transitLayerClear: () => true,
    relieveDue: () => false,
    ...patch,
  };
}

const onStation = (patch: Partial<DroneState> = {}) => drone({ role: { role: 'on-station', phase: 'holding' }, station: 0, ...patch });
const overStation = (u = NET) => seen({ armed: true, modes: { guided: true, land: false, rtl: false }, here: { ...STATION, u } });
const refused: CommandResult = { ok: false, reason: 'denied', attempts: 1, detail: 'DENIED' };
/** Standing at 10 m N, 0 m E: 40 m from its pad. */
const AWAY_AT = { n: 10, e: 0, u: 0 };
const AWAY_TEXT = 'away from its pad (at 10 m N, 0 m E, 40 m from it): carry it back, then mark it carried back';
const AWAY_10N = `landed, ${AWAY_TEXT}`;
const landingForOperator = (patch: Partial<DroneState> = {}) => drone({ role: { role: 'landing', phase: 'operator' }, ...patch });

interface Case {
  name: string;
  d: DroneState;
  input: DroneInput;
  seen?: Observed;
  view?: FleetView;
  role: RoleState;
  effects: Effect[];
  /** More about the next state. */
  also?: (s: DroneState) => void;
}

const cases: Case[] = [
  {
    name: 'a charged drone whose autopilot reports ready is ready',
    d: drone(),
    input: { kind: 'advance' },
    role: { role: 'ready' },
    effects: [{ kind: 'transition', from: 'charging', to: 'ready', reason: 'charged to 95 %, autopilot ready' }],
  },
  {
    name: 'a drone whose failsafe parameters are not written yet has them written, and waits',
    d: drone(),
    input: { kind: 'advance' },
    view: view({ preflight: { state: 'no' } }),
    role: { role: 'charging' },
    effects: [{ kind: 'write-failsafes' }],
  },
  {
    name: 'a ready drone that ran down on the ground charges again',
    d: drone({ role: { role: 'ready' } }),
    input: { kind: 'advance' },
    seen: seen({ pct: 84 }),
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'ready', to: 'charging', reason: 'discharged to 84 % on the ground' }],
  },
  {
    name: 'a ready drone sent to a station launches: the ground checks first',
    d: drone({ role: { role: 'ready' } }),
    input: { kind: 'launch', station: 3, reason: 'fills station 3' },
    role: { role: 'launching', phase: 'mode' },
    effects: [{ kind: 'transition', from: 'ready', to: 'launching', reason: 'fills station 3' }],
    also: (s) => assert.deepEqual([s.station, s.leftGround, s.since], [3, false, NOW]),
  },
  {
    name: 'a launch asks for guided mode, and goes on to arm once it is taken',
    d: drone({ role: { role: 'launching', phase: 'mode' }, station: 0 }),
    input: { kind: 'advance' },
    role: { role: 'launching', phase: 'mode' },
    effects: [{ kind: 'command', send: { action: 'guided' } }],
    also: (s) => assert.deepEqual(s.command, { what: 'set GUIDED', next: 'arm', doneOnceAirborne: false, grounded: true }),
  },
  {
    name: 'one command at a time: a launch waiting for an answer sends nothing more',
    d: drone({ role: { role: 'launching', phase: 'mode' }, station: 0, command: { what: 'set GUIDED', next: 'arm', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'advance' },
    role: { role: 'launching', phase: 'mode' },
    effects: [],
  },
  {
    name: 'the answer moves the launch on',
    d: drone({ role: { role: 'launching', phase: 'mode' }, station: 0, command: { what: 'set GUIDED', next: 'arm', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'settled', result: { ok: true, result: 0, attempts: 1 } },
    role: { role: 'launching', phase: 'arm' },
    effects: [],
    also: (s) => assert.equal(s.command, undefined),
  },
  {
    name: 'the takeoff goes to the staging level, 20 m under the net',
    d: drone({ role: { role: 'launching', phase: 'takeoff' }, station: 0 }),
    input: { kind: 'advance' },
    seen: seen({ armed: true }),
    role: { role: 'launching', phase: 'takeoff' },
    effects: [{ kind: 'command', send: { action: 'takeoff', altM: NET - 20 } }],
  },
  {
    name: 'a staged drone with the token free and the transit layer clear takes the token and climbs to the layer',
    d: drone({ role: { role: 'launching', phase: 'staged' }, station: 0 }),
    input: { kind: 'advance' },
    seen: seen({ armed: true, here: { ...PAD, u: NET - 20 } }),
    role: { role: 'launching', phase: 'ascend' },
    effects: [
      { kind: 'token', holder: 1, pace: undefined },
      { kind: 'goto', target: { ...PAD, u: NET - 12 } },
    ],
  },
  {
    name: 'a staged drone waits while another holds the token',
    d: drone({ role: { role: 'launching', phase: 'staged' }, station: 0 }),
    input: { kind: 'advance' },
    seen: seen({ armed: true, here: { ...PAD, u: NET - 20 } }),
    view: view({ token: 2 }),
    role: { role: 'launching', phase: 'staged' },
    effects: [],
  },
  {
    name: 'a staged drone waits while a drone landing is still near the transit layer',
    d: drone({ role: { role: 'launching', phase: 'staged' }, station: 0 }),
    input: { kind: 'advance' },
    seen: seen({ armed: true, here: { ...PAD, u: NET - 20 } }),
    view: view({ transitLayerClear: (layerM) => (assert.equal(layerM, NET - 12), false) }),
    role: { role: 'launching', phase: 'staged' },
    effects: [],
  },
  {
    name: 'a launch that reaches its station holds it and gives the token back, as a launch',
    d: drone({ role: { role: 'launching', phase: 'rise' }, station: 0 }),
    input: { kind: 'advance' },
    seen: overStation(),
    view: view({ token: 1 }),
    role: { role: 'on-station', phase: 'holding' },
    effects: [
      { kind: 'transition', from: 'launching', to: 'on-station', reason: 'on station 0' },
      { kind: 'token', holder: undefined, pace: 'launch' },
    ],
  },
  {
    name: 'a refusal on the pad is a wait with backoff, not a fault: the drone charges and its station goes to another',
    d: drone({ role: { role: 'launching', phase: 'arm' }, station: 0, command: { what: 'arm', next: 'takeoff', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'settled', result: refused },
    seen: seen({ armingText: { text: 'Arm: Throttle too high', atMs: NOW - 1000 } }),
    role: { role: 'charging' },
    effects: [
      { kind: 'count', what: 'denial' },
      { kind: 'count', what: 'ground-refusal' },
      { kind: 'log', level: 'warn', message: 'drone d1: arm refused: Arm: Throttle too high; waiting 2 s' },
      { kind: 'transition', from: 'launching', to: 'charging', reason: 'arm refused: Arm: Throttle too high (again in 2 s)' },
    ],
    also: (s) => {
      assert.deepEqual(s.backoff, { refusals: 1, untilMs: NOW + 2000 });
      assert.equal(s.station, undefined);
      assert.equal(groundWait(s, seen(), view()), 'arm refused: Arm: Throttle too high (again in 2 s)');
      assert.equal(groundWait(s, seen(), view({ now: NOW + 2000 })), '', 'ready again once the wait is over');
    },
  },
  {
    name: 'a refusal\'s own reason (the texts after its ACK, recorded from ArduCopter 4.8) is shown, not an older arming text',
    d: drone({ role: { role: 'launching', phase: 'arm' }, station: 0, command: { what: 'arm', next: 'takeoff', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'settled', result: { ...refused, explanation: 'Arm: Accels inconsistent; Arm: EKF attitude is bad; Arm: AHRS: not using configured AHRS type' } },
    seen: seen({ armingText: { text: 'Arm: AHRS: not using configured AHRS type', atMs: NOW - 500 } }),
    role: { role: 'charging' },
    effects: [
      { kind: 'count', what: 'denial' },
      { kind: 'count', what: 'ground-refusal' },
      { kind: 'log', level: 'warn', message: 'drone d1: arm refused: Arm: Accels inconsistent; Arm: EKF attitude is bad; Arm: AHRS: not using configured AHRS type; waiting 2 s' },
      { kind: 'transition', from: 'launching', to: 'charging', reason: 'arm refused: Arm: Accels inconsistent; Arm: EKF attitude is bad; Arm: AHRS: not using configured AHRS type (again in 2 s)' },
    ],
  },
  {
    name: 'PX4\'s refusal (recorded: "Arming denied: Resolve system health failures first") with the failing check it reported before',
    d: drone({ role: { role: 'launching', phase: 'arm' }, station: 0, command: { what: 'arm', next: 'takeoff', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'settled', result: { ok: false, reason: 'temporarily-rejected', attempts: 4, detail: 'COMPONENT_ARM_DISARM still rejected after 4 attempts', explanation: 'Arming denied: Resolve system health failures first' } },
    seen: seen({ armingText: { text: 'Preflight Fail: no heading reference', atMs: NOW - 1500 } }),
    role: { role: 'charging' },
    effects: [
      { kind: 'count', what: 'denial' },
      { kind: 'count', what: 'ground-refusal' },
      { kind: 'log', level: 'warn', message: 'drone d1: arm refused: Arming denied: Resolve system health failures first; Preflight Fail: no heading reference; waiting 2 s' },
      { kind: 'transition', from: 'launching', to: 'charging', reason: 'arm refused: Arming denied: Resolve system health failures first; Preflight Fail: no heading reference (again in 2 s)' },
    ],
  },
  {
    name: 'the wait doubles with each refusal in a row',
    d: drone({ role: { role: 'launching', phase: 'arm' }, station: 0, backoff: { refusals: 2, untilMs: NOW - 1 }, command: { what: 'arm', next: 'takeoff', doneOnceAirborne: false, grounded: true } }),
    input: { kind: 'settled', result: refused },
    role: { role: 'charging' },
    effects: [
      { kind: 'count', what: 'denial' },
      { kind: 'count', what: 'ground-refusal' },
      { kind: 'log', level: 'warn', message: 'drone d1: arm refused: DENIED; waiting 8 s' },
      { kind: 'transition', from: 'launching', to: 'charging', reason: 'arm refused: DENIED (again in 8 s)' },
    ],
  },
  {
    name: 'a refusal in the air counts; the third one faults the drone, which flies home on its own RTL',
    d: drone({ role: { role: 'returning', phase: 'up' }, failures: 2, command: { what: 'set GUIDED', doneOnceAirborne: false, grounded: false } }),
    input: { kind: 'settled', result: refused },
    seen: overStation(),
    role: { role: 'fault' },
    effects: [
      { kind: 'count', what: 'denial' },
      { kind: 'log', level: 'warn', message: 'drone d1: set GUIDED refused', data: { reason: 'denied', detail: 'DENIED' } },
      { kind: 'transition', from: 'returning', to: 'fault', reason: 'set GUIDED failed 3 times (denied)', cause: 'failsafe' },
      { kind: 'return-to-launch' },
    ],
  },
  {
    name: 'a repeated takeoff refused once the drone climbs is the first one taken late',
    d: drone({ role: { role: 'launching', phase: 'takeoff' }, station: 0, command: { what: 'takeoff', next: 'climb', doneOnceAirborne: true, grounded: true } }),
    input: { kind: 'settled', result: { ...refused, attempts: 2 } },
    seen: seen({ armed: true, here: { ...PAD, u: 2 } }),
    role: { role: 'launching', phase: 'climb' },
    effects: [],
  },
  {
    name: 'an answer that comes after the launch was called off moves nothing',
    d: drone({ role: { role: 'landing', phase: 'over-pad' }, command: { what: 'takeoff', next: 'climb', doneOnceAirborne: true, grounded: true } }),
    input: { kind: 'settled', result: { ok: true, result: 0, attempts: 1 } },
    role: { role: 'landing', phase: 'over-pad' },
    effects: [],
  },
  {
    name: 'low battery on station asks for relief',
    d: onStation(),
    input: { kind: 'advance' },
    seen: overStation(),
    view: view({ relieveDue: () => true }),
    role: { role: 'on-station', phase: 'relieve' },
    effects: [],
  },
  {
    name: 'the plan pairs a replacement with a drone due for relief',
    d: onStation({ role: { role: 'on-station', phase: 'relieve' } }),
    input: { kind: 'relieved-by', replacement: 2 },
    role: { role: 'on-station', phase: 'relieve' },
    effects: [],
    also: (s) => assert.deepEqual([s.partner, s.reliefStartedAt], [2, NOW]),
  },
  {
    name: 'with its replacement under the station, the relieved drone takes the token from it and leaves upwards',
    d: onStation({ role: { role: 'on-station', phase: 'relieve' }, partner: 2 }),
    input: { kind: 'advance' },
    seen: overStation(),
    view: view({ token: 2, tokenPace: 'launch', partner: { sysid: 2, role: { role: 'handing-over' }, u: NET - 6 } }),
    role: { role: 'returning', phase: 'up' },
    effects: [
      { kind: 'token', holder: undefined, pace: 'launch' },
      { kind: 'token', holder: 1, pace: undefined },
      { kind: 'transition', from: 'on-station', to: 'returning', reason: 'relieved by drone d2' },
    ],
    also: (s) => assert.equal(s.station, undefined),
  },
  {
    name: 'the replacement rises into the station once the relieved drone is clear above the net',
    d: drone({ role: { role: 'handing-over' }, station: 0, partner: 2 }),
    input: { kind: 'advance' },
    seen: overStation(NET - 6),
    view: view({ token: 2, partner: { sysid: 2, role: { role: 'returning', phase: 'up' }, u: NET + 7.5 } }),
    role: { role: 'on-station', phase: 'holding' },
    effects: [
      { kind: 'goto', target: { ...STATION, u: NET } },
      { kind: 'release-partner', partner: 2 },
      { kind: 'transition', from: 'handing-over', to: 'on-station', reason: 'took over station 0' },
    ],
  },
  {
    name: '…and waits under it while the relieved drone is still climbing out',
    d: drone({ role: { role: 'handing-over' }, station: 0, partner: 2 }),
    input: { kind: 'advance' },
    seen: overStation(NET - 6),
    view: view({ token: 2, partner: { sysid: 2, role: { role: 'returning', phase: 'up' }, u: NET + 3 } }),
    role: { role: 'handing-over' },
    effects: [],
  },
  {
    name: 'a drone on station blown off it for more than 10 s is sent there again',
    d: onStation({ offSinceMs: NOW - 10_001, lastGotoMs: NOW - 20_000 }),
    input: { kind: 'advance' },
    seen: overStation(NET + 4),
    role: { role: 'on-station', phase: 'holding' },
    effects: [{ kind: 'goto', target: { ...STATION, u: NET } }],
    also: (s) => assert.equal(s.lastGotoMs, NOW),
  },
  {
    name: 'lost link: the drone is lost, its station and relief freed, its autopilot left to its failsafe',
    d: onStation({ partner: 2 }),
    input: { kind: 'failsafes' },
    seen: { ...overStation(), alive: false },
    role: { role: 'lost' },
    effects: [
      { kind: 'release-partner', partner: 2 },
      { kind: 'transition', from: 'on-station', to: 'lost', reason: 'no HEARTBEAT (link lost); expecting the autopilot failsafe', cause: 'failsafe' },
    ],
    also: (s) => assert.deepEqual([s.station, s.partner], [undefined, undefined]),
  },
  {
    name: 'a lost drone holding the token gives it back',
    d: drone({ role: { role: 'returning', phase: 'home' } }),
    input: { kind: 'failsafes' },
    seen: { ...overStation(), alive: false },
    view: view({ token: 1 }),
    role: { role: 'lost' },
    effects: [
      { kind: 'token', holder: undefined, pace: undefined },
      { kind: 'transition', from: 'returning', to: 'lost', reason: 'no HEARTBEAT (link lost); expecting the autopilot failsafe', cause: 'failsafe' },
    ],
  },
  {
    name: 'heard again in its own failsafe landing, it is left to finish it',
    d: drone({ role: { role: 'lost' } }),
    input: { kind: 'failsafes' },
    seen: seen({ armed: true, modes: { guided: false, land: true, rtl: false }, modeName: 'LAND', here: { ...STATION, u: 30 } }),
    role: { role: 'landing', phase: 'failsafe' },
    effects: [{ kind: 'transition', from: 'lost', to: 'landing', reason: 'heard again, finishing its LAND' }],
  },
  {
    name: 'heard again on the ground, it charges',
    d: drone({ role: { role: 'lost' } }),
    input: { kind: 'failsafes' },
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'lost', to: 'charging', reason: 'heard again' }],
  },
  {
    name: 'a critical battery lands the drone where it is',
    d: onStation(),
    input: { kind: 'failsafes' },
    seen: { ...overStation(), pct: 8 },
    role: { role: 'landing', phase: 'failsafe' },
    effects: [
      { kind: 'command', send: { action: 'land' } },
      { kind: 'transition', from: 'on-station', to: 'landing', reason: 'battery critical (8 %): land now', cause: 'failsafe' },
    ],
  },
  {
    name: 'the autopilot switching to RTL on its own is followed',
    d: onStation(),
    input: { kind: 'failsafes' },
    seen: { ...overStation(), modes: { guided: false, land: false, rtl: true }, modeName: 'RTL' },
    role: { role: 'landing', phase: 'failsafe' },
    effects: [{ kind: 'transition', from: 'on-station', to: 'landing', reason: 'autopilot switched to RTL', cause: 'failsafe' }],
  },
  {
    name: 'disarmed on station is a crash: a fault',
    d: onStation(),
    input: { kind: 'failsafes' },
    seen: { ...overStation(40), armed: false },
    role: { role: 'fault' },
    effects: [
      { kind: 'transition', from: 'on-station', to: 'fault', reason: 'disarmed in flight (crash)', cause: 'failsafe' },
      { kind: 'return-to-launch' },
    ],
  },
  {
    name: 'disarmed on its pad before it took off is a refusal on the ground, not a crash',
    d: drone({ role: { role: 'launching', phase: 'takeoff' }, station: 0, leftGround: false }),
    input: { kind: 'failsafes' },
    role: { role: 'charging' },
    effects: [
      { kind: 'count', what: 'ground-refusal' },
      { kind: 'log', level: 'warn', message: 'drone d1: takeoff refused: disarmed on its pad before taking off; waiting 2 s' },
      { kind: 'transition', from: 'launching', to: 'charging', reason: 'takeoff refused: disarmed on its pad before taking off (again in 2 s)' },
    ],
  },
  {
    name: 'the autopilot reporting an emergency in flight is a fault',
    d: onStation(),
    input: { kind: 'failsafes' },
    seen: { ...overStation(), emergency: true },
    role: { role: 'fault' },
    effects: [
      { kind: 'transition', from: 'on-station', to: 'fault', reason: 'autopilot reports an emergency', cause: 'failsafe' },
      { kind: 'return-to-launch' },
    ],
  },
  {
    name: 'over its pad on the return layer, a returning drone lands',
    d: drone({ role: { role: 'returning', phase: 'land' } }),
    input: { kind: 'advance' },
    seen: seen({ armed: true, modes: { guided: false, land: true, rtl: false }, here: { ...PAD, u: NET + 8 } }),
    view: view({ token: 1 }),
    role: { role: 'landing', phase: 'over-pad' },
    effects: [{ kind: 'transition', from: 'returning', to: 'landing', reason: 'over its pad' }],
  },
  {
    name: 'a drone landing over its pad hands the token on once it is a separation under the return layer, as a return',
    d: drone({ role: { role: 'landing', phase: 'over-pad' }, since: NOW - 1000 }),
    input: { kind: 'advance' },
    seen: seen({ armed: true, modes: { guided: false, land: true, rtl: false }, here: { ...PAD, u: NET + 8 - 6.5 } }),
    view: view({ token: 1 }),
    role: { role: 'landing', phase: 'over-pad' },
    effects: [{ kind: 'token', holder: undefined, pace: 'return' }],
  },
  {
    name: 'landed on its pad it charges, and the relief it was part of is timed',
    d: drone({ role: { role: 'landing', phase: 'over-pad' }, reliefStartedAt: NOW - 200_000 }),
    input: { kind: 'advance' },
    seen: seen({ modes: { guided: false, land: true, rtl: false }, here: { ...PAD, u: 0 } }),
    role: { role: 'charging' },
    effects: [
      { kind: 'relief-done', ms: 200_000 },
      { kind: 'transition', from: 'landing', to: 'charging', reason: 'landed' },
    ],
  },
  {
    name: 'landed away from its pad (a failsafe landing under the net), it is out of the plan until carried back: away, not a fault',
    d: drone({ role: { role: 'landing', phase: 'failsafe' } }),
    input: { kind: 'advance' },
    seen: seen({ modes: { guided: false, land: true, rtl: false }, here: { n: 10, e: 0, u: 0 } }),
    role: { role: 'away' },
    effects: [{ kind: 'transition', from: 'landing', to: 'away', reason: AWAY_10N, cause: 'failsafe' }],
  },
  {
    name: 'a staging drone whose station is dropped lands back on its pad',
    d: drone({ role: { role: 'launching', phase: 'climb' }, station: Number.MAX_SAFE_INTEGER }),
    input: { kind: 'station-dropped', reason: 'net shrinks' },
    seen: seen({ armed: true, here: { ...PAD, u: 15 } }),
    view: view({ station: undefined }),
    role: { role: 'landing', phase: 'over-pad' },
    effects: [
      { kind: 'command', send: { action: 'land' } },
      { kind: 'transition', from: 'launching', to: 'landing', reason: 'net shrank before it left its pad' },
    ],
  },
  {
    name: 'a drone on a dropped station goes home once the token is free…',
    d: onStation({ station: Number.MAX_SAFE_INTEGER }),
    input: { kind: 'station-dropped', reason: 'strong wind: shrinking the net' },
    seen: overStation(),
    view: view({ station: undefined }),
    role: { role: 'returning', phase: 'up' },
    effects: [
      { kind: 'token', holder: 1, pace: undefined },
      { kind: 'transition', from: 'on-station', to: 'returning', reason: 'strong wind: shrinking the net' },
    ],
  },
  {
    name: '…and keeps its place while another holds it',
    d: onStation({ station: Number.MAX_SAFE_INTEGER }),
    input: { kind: 'station-dropped', reason: 'net shrinks' },
    seen: overStation(),
    view: view({ station: undefined, token: 2 }),
    role: { role: 'on-station', phase: 'holding' },
    effects: [],
  },
  {
    name: 'a faulted drone whose autopilot rebooted and reports ready is back in the plan',
    d: drone({ role: { role: 'fault' }, rebootedSinceFault: true }),
    input: { kind: 'advance' },
    seen: seen({ here: { n: 52, e: 1, u: 0 } }),
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'fault', to: 'charging', reason: 'rebooted and reports ready' }],
    also: (s) => assert.deepEqual(s.pad, PAD, 'its pad stays where it was'),
  },
  // ---- an operator's Land, carried back, clear fault -------------------------------------------------
  {
    name: "an operator's Land: the drone leaves its station (and its relief) and lands where it is — an operator's action, not a failsafe",
    d: onStation({ partner: 2 }),
    input: { kind: 'land' },
    seen: overStation(),
    role: { role: 'landing', phase: 'operator' },
    effects: [
      { kind: 'release-partner', partner: 2 },
      { kind: 'transition', from: 'on-station', to: 'landing', reason: 'landing where it is (operator)', cause: 'operator' },
    ],
    also: (s) => assert.deepEqual([s.station, s.partner], [undefined, undefined]),
  },
  {
    name: "the LAND the operator asked for is not taken for the autopilot's failsafe",
    d: landingForOperator(),
    input: { kind: 'failsafes' },
    seen: seen({ armed: true, modes: { guided: false, land: true, rtl: false }, modeName: 'LAND', here: { ...STATION, u: 30 } }),
    role: { role: 'landing', phase: 'operator' },
    effects: [],
  },
  {
    name: "a drone already landing, faulted or away keeps its role on the operator's Land",
    d: drone({ role: { role: 'landing', phase: 'over-pad' } }),
    input: { kind: 'land' },
    seen: seen({ armed: true, modes: { guided: false, land: true, rtl: false }, here: { ...PAD, u: 20 } }),
    role: { role: 'landing', phase: 'over-pad' },
    effects: [],
  },
  {
    name: 'down where the operator landed it, off its pad: away (out of the plan until carried back), not a fault; the token is handed back',
    d: landingForOperator(),
    input: { kind: 'advance' },
    seen: seen({ here: AWAY_AT }),
    view: view({ token: 1 }),
    role: { role: 'away' },
    effects: [
      { kind: 'token', holder: undefined, pace: undefined },
      { kind: 'transition', from: 'landing', to: 'away', reason: AWAY_10N, cause: 'operator' },
    ],
  },
  {
    name: 'down where the operator landed it, on its pad: it charges',
    d: landingForOperator(),
    input: { kind: 'advance' },
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'landing', to: 'charging', reason: 'landed', cause: 'operator' }],
  },
  {
    name: 'a drone away from its pad stays out of the plan, however charged and ready its autopilot',
    d: drone({ role: { role: 'away' } }),
    input: { kind: 'advance' },
    seen: seen({ here: AWAY_AT, pct: 100 }),
    role: { role: 'away' },
    effects: [],
  },
  {
    name: 'carried back: it charges on its pad, back in the ground pool',
    d: drone({ role: { role: 'away' } }),
    input: { kind: 'carried-back' },
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'away', to: 'charging', reason: 'carried back to its pad (operator)', cause: 'operator' }],
    also: (s) => assert.deepEqual(s.pad, PAD, 'its pad is still its pad'),
  },
  {
    name: 'carried back is for a drone away from its pad only: another keeps its role',
    d: drone({ role: { role: 'fault' } }),
    input: { kind: 'carried-back' },
    role: { role: 'fault' },
    effects: [],
  },
  {
    name: 'an admin clears a fault: on its pad, it charges',
    d: drone({ role: { role: 'fault' }, rebootedSinceFault: true }),
    input: { kind: 'fault-cleared' },
    role: { role: 'charging' },
    effects: [{ kind: 'transition', from: 'fault', to: 'charging', reason: 'fault cleared by an admin', cause: 'operator' }],
    also: (s) => assert.deepEqual([s.pad, s.rebootedSinceFault], [PAD, false]),
  },
  {
    name: 'an admin clears a fault off its pad: it is away, to be carried back (never launched from under the net)',
    d: drone({ role: { role: 'fault' } }),
    input: { kind: 'fault-cleared' },
    seen: seen({ here: AWAY_AT }),
    role: { role: 'away' },
    effects: [{ kind: 'transition', from: 'fault', to: 'away', reason: `fault cleared by an admin, ${AWAY_TEXT}`, cause: 'operator' }],
  },
  {
    name: 'heard again on the ground where its own failsafe landed it, off its pad: away',
    d: drone({ role: { role: 'lost' } }),
    input: { kind: 'failsafes' },
    seen: seen({ here: AWAY_AT }),
    role: { role: 'away' },
    effects: [{ kind: 'transition', from: 'lost', to: 'away', reason: `heard again, ${AWAY_TEXT}`, cause: 'failsafe' }],
  },
  {
    name: 'a drone its autopilot keeps unready on the ground raises one alert',
    d: drone({ unreadySince: NOW - 5 * 60_000 }),
    input: { kind: 'advance' },
    seen: seen({ readiness: { ready: false, reason: 'PreArm: Compass not calibrated' } }),
    role: { role: 'charging' },
    effects: [{ kind: 'alert', message: 'drone d1 not ready for 5 min: PreArm: Compass not calibrated' }],
    also: (s) => assert.equal(s.unreadyAlerted, true),
  },
];

for (const c of cases) {
  test(c.name, () => {
    const frozen = deepFreeze(structuredClone(c.d));
    const step = next(frozen, c.input, c.seen ?? seen(), c.view ?? view());
    assert.deepEqual(step.state.role, c.role);
    assert.deepEqual(step.effects, c.effects);
    c.also?.(step.state);
  });
}

test("landed away by the operator's Land, carried back, it is back in the ground pool: ready once charged, and launched again", () => {
  const flying = overStation();
  let d = next(onStation(), { kind: 'land' }, flying, view()).state;
  d = next(d, { kind: 'failsafes' }, { ...flying, modes: { guided: false, land: true, rtl: false }, modeName: 'LAND' }, view()).state;
  const down = next(d, { kind: 'advance' }, seen({ here: AWAY_AT }), view());
  assert.deepEqual(down.state.role, { role: 'away' });
  assert.ok(!down.effects.some((e) => e.kind === 'transition' && (e.to === 'fault' || e.cause === 'failsafe')), 'never a fault or a failsafe');
  // Still off its pad: nothing brings it back by itself.
  assert.deepEqual(next(down.state, { kind: 'advance' }, seen({ here: AWAY_AT }), view()).state.role, { role: 'away' });
  const back = next(down.state, { kind: 'carried-back' }, seen(), view());
  assert.deepEqual(back.state.role, { role: 'charging' });
  const ready = next(back.state, { kind: 'advance' }, seen(), view());
  assert.deepEqual(ready.state.role, { role: 'ready' });
  assert.deepEqual(next(ready.state, { kind: 'launch', station: 0, reason: 'fills station 0' }, seen(), view()).state.role, { role: 'launching', phase: 'mode' });
});

test('a drone found on the ground charges on its pad; one found in the air has no pad and is brought home', () => {
  const ground = discovered(4, seen(), NOW);
  assert.deepEqual([ground.airborne, ground.state.role, ground.state.pad], [false, { role: 'charging' }, { ...PAD, u: 0 }]);
  const air = discovered(5, overStation(), NOW);
  assert.deepEqual([air.airborne, air.state.pad], [true, undefined]);
  const home = next(air.state, { kind: 'found-airborne' }, overStation(), view());
  assert.deepEqual(home.state.role, { role: 'returning', phase: 'up' });
});

test('why a drone on the ground waits, in the operator\'s words: its parameters, its autopilot, its charge, the wind', () => {
  const d = drone();
  assert.equal(groundWait(d, seen(), view({ preflight: { state: 'no', error: 'failsafe not set: timeout' } })), 'failsafe not set: timeout');
  assert.equal(groundWait(d, seen(), view({ preflight: { state: 'pending' } })), 'writing its failsafe parameters');
  assert.equal(groundWait(d, seen({ readiness: { ready: false, reason: 'waiting for HOME_POSITION' } }), view()), 'waiting for HOME_POSITION');
  assert.equal(groundWait(d, seen({ pct: 70 }), view()), 'charging (70 % of 90 %)');
  assert.equal(groundWait(d, seen(), view({ windy: true })), 'wind over the limit');
  assert.equal(groundWait(d, seen(), view()), '');
});

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object') {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}
