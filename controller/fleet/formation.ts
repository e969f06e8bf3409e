/**
 * The net's geometry: the layers drones move on (relative to the net's altitude; the fleet keeps
 * separation with them), stations on a hexagonal lattice around the ground station (the densest
 * packing for a given spacing, so the net spreads evenly), and the assignment of drones to
 * stations that keeps travel short.
 */

/** Launches cross this far under the net… */
export const TRANSIT_BELOW_M = 12;
/** …returns this far over it… */
export const RETURN_ABOVE_M = 8;
/** …a replacement waits this far under its station for the relieved drone to leave… */
export const HANDOVER_BELOW_M = 6;
/** …and the next drone to launch waits this far under the transit layer, over its own pad, for the token. */
export const STAGE_BELOW_M = 8;
/** The lowest net: launches stage TRANSIT_BELOW_M + STAGE_BELOW_M under it, and that must leave 5 m over the pads. */
export const MIN_NET_ALTITUDE_M = TRANSIT_BELOW_M + STAGE_BELOW_M + 5;

export interface Point {
  n: number;
  e: number;
}

/** The `count` lattice points nearest the centre, `spacingM` apart, centre first, then by ring and angle. */
export function stationLattice(count: number, spacingM: number): Point[] {
  const points: (Point & { r: number; a: number })[] = [];
  const rings = Math.ceil(Math.sqrt(count)) + 2;
  for (let i = -rings; i <= rings; i++) {
    for (let j = -rings; j <= rings; j++) {
      // Axial hex coordinates to metres.
      const n = spacingM * (i + j / 2);
      const e = spacingM * ((Math.sqrt(3) / 2) * j);
      points.push({ n, e, r: round(Math.hypot(n, e)), a: Math.atan2(e, n) });
    }
  }
  points.sort((p, q) => p.r - q.r || p.a - q.a);
  return points.slice(0, count).map(({ n, e }) => ({ n, e }));
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/** Radius of the smallest circle around the centre holding every station. */
export function footprintRadius(stations: readonly Point[]): number {
  return stations.reduce((m, s) => Math.max(m, Math.hypot(s.n, s.e)), 0);
}

/**
 * Assigns drones to stations, shortest pairs first (greedy on the sorted pair list). Returns
 * drone index → station index. Greedy is within a few per cent of the optimal (Hungarian)
 * total for drones that start on a ring of pads, and never leaves a station empty when
 * drones ≥ stations.
 */
export function assignStations(drones: readonly Point[], stations: readonly Point[], taken: ReadonlySet<number> = new Set()): Map<number, number> {
  const pairs: [number, number, number][] = [];
  drones.forEach((d, i) => stations.forEach((s, j) => taken.has(j) || pairs.push([Math.hypot(d.n - s.n, d.e - s.e), i, j])));
  pairs.sort((a, b) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2]);
  const result = new Map<number, number>();
  const used = new Set<number>();
  for (const [, i, j] of pairs) {
    if (result.has(i) || used.has(j)) continue;
    result.set(i, j);
    used.add(j);
  }
  return result;
}
