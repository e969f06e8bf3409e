/**
 * Station planning: how many stations the net holds (the plan, at most half in a strong wind,
 * none over the limit), which lattice points they are as the net grows and shrinks, and who
 * launches next — a replacement for a drone due for relief first, else a ready drone for the
 * nearest empty station. Pure functions of the drones' states (roles.ts); the fleet carries the
 * plans out through the role machine.
 */
import { assignStations, stationLattice, type Point } from './formation.ts';
import { holdsStation, isStaging, type DroneState } from './roles.ts';
import type { WindStage } from './wind-stage.ts';

/** How many stations to hold: the plan (default: every usable drone) but never more than there are usable drones. */
export function netSize(planned: number | undefined, usable: number, stage: WindStage): number {
  const want = Math.min(planned ?? usable, usable);
  // A strong wind: at most half the net (it lands in half the time if the wind keeps rising), or none.
  if (stage === 'land') return 0;
  return stage === 'lower' ? Math.min(want, Math.max(3, Math.ceil(want / 2))) : want;
}

/** Why the net changes size in each wind stage, and why a drone leaves a station the net dropped. */
export const RESIZE_REASONS: Readonly<Record<WindStage, { size: string; leave: string }>> = {
  calm: { size: 'plan', leave: 'net shrinks' },
  lower: { size: 'strong wind', leave: 'strong wind: shrinking the net' },
  land: { size: 'wind over the limit', leave: 'wind over the limit: shrinking the net' },
};

/** Stations someone holds or is on the way to, a relief's pair included (its station is not empty). */
export function occupiedStations(drones: Iterable<DroneState>): Set<number> {
  const s = new Set<number>();
  for (const d of drones) if (d.station !== undefined && holdsStation(d.role)) s.add(d.station);
  return s;
}

/**
 * Grows the net with the lattice's next free points, or shrinks it by dropping empty stations
 * first (a drone lost or landed leaves a hole) and then the outermost manned ones, so the drones
 * still holding the net keep their places. Station indices are renumbered; a drone whose station
 * is dropped gets an index past the end, which sends it home. Returns the stations and the
 * drones' states (in the order given).
 */
export function resizeNet(stations: readonly Point[], drones: readonly DroneState[], want: number, spacingM: number): { stations: Point[]; drones: DroneState[] } {
  const net = [...stations];
  const out = [...drones];
  if (want > net.length) {
    // Drones still waiting (for the token) to leave a dropped station take it back first: a new
    // station at the same point would send another drone into them.
    for (const [i, d] of out.entries()) {
      if (net.length >= want) break;
      if (d.role.role === 'on-station' && d.station !== undefined && d.station >= net.length && d.droppedFrom) {
        net.push(d.droppedFrom);
        out[i] = { ...d, station: net.length - 1, droppedFrom: undefined };
      }
    }
    const key = (p: Point) => `${p.n.toFixed(3)},${p.e.toFixed(3)}`;
    const taken = new Set(net.map(key));
    // …and so are the points of drones that are still there on their way out.
    for (const d of out) if (d.droppedFrom && (d.role.role === 'on-station' || (d.role.role === 'returning' && d.role.phase === 'up'))) taken.add(key(d.droppedFrom));
    for (const p of stationLattice(want + net.length, spacingM)) {
      if (net.length >= want) break;
      if (!taken.has(key(p))) net.push(p);
    }
    return { stations: net, drones: out };
  }
  const held = occupiedStations(out);
  const byDistance = (a: number, b: number) => Math.hypot(net[a]!.n, net[a]!.e) - Math.hypot(net[b]!.n, net[b]!.e) || a - b;
  const all = net.map((_, i) => i);
  const manned = all.filter((i) => held.has(i)).sort(byDistance);
  const empty = all.filter((i) => !held.has(i)).sort(byDistance);
  const keep = [...manned.slice(0, want), ...empty.slice(0, Math.max(0, want - manned.length))].sort((a, b) => a - b);
  const renumber = new Map(keep.map((old, i) => [old, i]));
  for (const [i, d] of out.entries()) {
    if (d.station === undefined) continue;
    const to = renumber.get(d.station);
    out[i] = { ...d, station: to ?? Number.MAX_SAFE_INTEGER, ...(to === undefined ? { droppedFrom: net[d.station] } : {}) };
  }
  return { stations: keep.map((i) => net[i]!), drones: out };
}

/** The next launch: a replacement relieving a drone due for relief, a drone at its reserve leaving its station empty (nobody is ready to relieve it), or a drone filling an empty station. */
export type LaunchPlan<D> =
  | { kind: 'relieve'; replacement: D; relieved: D; station: number; reason: string }
  | { kind: 'leave'; relieved: D; reason: string }
  | { kind: 'fill'; drone: D; station: number; reason: string };

/**
 * Who launches next (one launch per tick: the token admits one transit at a time), if anyone.
 * `pct` is a drone's charge (%), `atReserve` whether it is at its relieve level.
 */
export function nextLaunch<D extends { readonly sysid: number; readonly state: DroneState }>(drones: readonly D[], stations: readonly Point[], token: number | undefined, pct: (d: D) => number, atReserve: (d: D) => boolean): LaunchPlan<D> | undefined {
  // One drone stages at a time (it hovers on its battery while it waits for the token).
  if (drones.some((d) => isStaging(d.state, token))) return undefined;
  const occupied = occupiedStations(drones.map((d) => d.state));
  const empty = stations.map((_, i) => i).filter((i) => !occupied.has(i));
  const ready = drones.filter((d) => d.state.role.role === 'ready' && d.state.pad);
  // Relief first: a drone that must leave soon and has no replacement yet, the lowest first.
  const due = drones
    .filter(({ state: s }) => s.role.role === 'on-station' && s.partner === undefined && s.role.phase === 'relieve' && s.station !== undefined && s.station < stations.length)
    .sort((a, b) => pct(a) - pct(b));
  if (due.length) {
    const old = due[0]!;
    const station = old.state.station!;
    // …by the fullest ready drone.
    const best = ready.sort((a, b) => pct(b) - pct(a))[0];
    if (best) return { kind: 'relieve', replacement: best, relieved: old, station, reason: `relieves drone d${old.sysid} at station ${station}` };
    if (atReserve(old)) return { kind: 'leave', relieved: old, reason: 'battery at reserve and no replacement ready: station left empty' };
    return undefined;
  }
  if (!empty.length || !ready.length) return undefined;
  const assignment = assignStations(
    ready.map((d) => d.state.pad!),
    stations,
    occupied,
  );
  const [idx, station] = [...assignment.entries()].sort((a, b) => a[1] - b[1])[0] ?? [];
  if (idx === undefined || station === undefined) return undefined;
  return { kind: 'fill', drone: ready[idx]!, station, reason: `fills station ${station}` };
}
