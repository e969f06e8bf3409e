/**
 * Station planning (controller/fleet/stations.ts): the net's size for the plan and the wind, the
 * lattice as the net grows and shrinks, and who launches next.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stationLattice } from '../../../controller/fleet/formation.ts';
import { NO_BACKOFF } from '../../../controller/fleet/ground-backoff.ts';
import type { DroneState, RoleState } from '../../../controller/fleet/roles.ts';
import { netSize, nextLaunch, resizeNet } from '../../../controller/fleet/stations.ts';

function drone(sysid: number, role: RoleState, patch: Partial<DroneState> = {}): DroneState {
  return { sysid, role, since: 0, failures: 0, backoff: NO_BACKOFF, pad: { n: 50, e: 10 * sysid }, ...patch };
}
const HOLDING: RoleState = { role: 'on-station', phase: 'holding' };
const RELIEVE: RoleState = { role: 'on-station', phase: 'relieve' };
const READY: RoleState = { role: 'ready' };

test('the net holds the plan, no more than the usable drones, at most half (and 3) in a strong wind, none over the limit', () => {
  assert.equal(netSize(6, 8, 'calm'), 6);
  assert.equal(netSize(undefined, 8, 'calm'), 8, 'by default every usable drone');
  assert.equal(netSize(10, 8, 'calm'), 8);
  assert.equal(netSize(10, 12, 'lower'), 5);
  assert.equal(netSize(4, 12, 'lower'), 3);
  assert.equal(netSize(2, 12, 'lower'), 2);
  assert.equal(netSize(10, 12, 'land'), 0);
});

test('the net grows from the lattice\'s centre outwards', () => {
  const r = resizeNet([], [], 4, 10);
  assert.deepEqual(r.stations, stationLattice(4, 10));
});

test('the net shrinks by its empty stations first, then its outermost; a dropped holder keeps the point it leaves', () => {
  const lattice = stationLattice(4, 10);
  // Stations 0 (centre) and 3 are held; 1 and 2 are empty.
  const drones = [drone(1, HOLDING, { station: 3 }), drone(2, HOLDING, { station: 0 }), drone(3, READY)];
  const two = resizeNet(lattice, drones, 2, 10);
  assert.deepEqual(two.stations, [lattice[0], lattice[3]]);
  assert.deepEqual(two.drones.map((d) => d.station), [1, 0, undefined], 'renumbered');
  const one = resizeNet(two.stations, two.drones, 1, 10);
  assert.deepEqual(one.stations, [lattice[0]]);
  assert.equal(one.drones[0]!.station, Number.MAX_SAFE_INTEGER, 'past the end: it goes home');
  assert.deepEqual(one.drones[0]!.droppedFrom, lattice[3]);
  // Growing again while it still waits to leave: it gets its own point back, and nobody else does.
  const back = resizeNet(one.stations, one.drones, 3, 10);
  assert.deepEqual(back.stations.slice(0, 2), [lattice[0], lattice[3]]);
  assert.equal(back.drones[0]!.station, 1);
  assert.equal(back.drones[0]!.droppedFrom, undefined);
  assert.equal(new Set(back.stations.map((p) => `${p.n},${p.e}`)).size, 3);
  assert.equal(drones[0]!.station, 3, 'the states given are not changed');
});

const lattice = stationLattice(3, 10);
const pct = (d: DroneState) => (d.sysid === 2 ? 60 : d.sysid === 3 ? 99 : 95);
const plan = (drones: DroneState[], token?: number, atReserve = () => false) =>
  nextLaunch(
    drones.map((state) => ({ sysid: state.sysid, state })),
    lattice,
    token,
    (d) => pct(d.state),
    atReserve,
  );

test('empty stations are paired with the nearest ready drones (shortest pairs first), and the first of them launches: one at a time', () => {
  const p = plan([drone(1, HOLDING, { station: 0 }), drone(2, READY), drone(3, READY, { pad: { n: -12, e: -10 } })]);
  assert.deepEqual(p && p.kind === 'fill' && [p.drone.sysid, p.station, p.reason], [3, 1, 'fills station 1']);
  assert.equal(plan([drone(1, { role: 'launching', phase: 'climb' }, { station: 0 }), drone(2, READY)]), undefined, 'another drone is staging');
  assert.equal(plan([drone(1, HOLDING, { station: 0 }), drone(2, HOLDING, { station: 1 }), drone(3, HOLDING, { station: 2 }), drone(4, READY)]), undefined, 'the net is full');
});

test('relief comes first: the lowest drone due is relieved by the fullest ready one; with none ready, one at its reserve leaves its station empty', () => {
  const due = [drone(1, RELIEVE, { station: 0 }), drone(2, RELIEVE, { station: 1 }), drone(3, READY), drone(4, READY)];
  const p = plan(due);
  assert.deepEqual(p && p.kind === 'relieve' && [p.relieved.sysid, p.replacement.sysid, p.station, p.reason], [2, 3, 1, 'relieves drone d2 at station 1']);
  assert.equal(plan(due.slice(0, 2)), undefined, 'nobody ready, nobody at reserve: it waits');
  const leave = plan(due.slice(0, 2), undefined, () => true);
  assert.deepEqual(leave && leave.kind === 'leave' && leave.relieved.sysid, 2);
  assert.equal(plan([drone(1, RELIEVE, { station: 0, partner: 3 }), drone(3, { role: 'launching', phase: 'transit' }, { station: 0, partner: 1 })], 3), undefined, 'its replacement is on the way');
});
