/**
 * The fleet as a text table for the terminal (`canopy start --status-every N` prints it): one row
 * per vehicle session with what a pilot checks first, each drone by the name the mesh and the
 * dashboard give it (`d7`), then the link, system and component it is heard on.
 */
import type { Vehicle } from '../firmware-bridge/vehicles/index.ts';
import { droneId } from './drone-bridge.ts';

const COLUMNS = ['drone', 'heard on', 'mode', 'armed', 'state', 'alt m', 'batt V', 'batt %', 'gps', 'loss %', 'rssi dBm', 'seen s'] as const;

function fixed(v: number | undefined, digits: number): string {
  return v === undefined ? '-' : v.toFixed(digits);
}

export function fleetRows(vehicles: readonly Vehicle[], nowMs: number): string[][] {
  return vehicles.map((v) => {
    const t = v.telemetry;
    return [
      droneId(v.sysid),
      v.key,
      v.mode,
      v.armed ? 'yes' : 'no',
      v.alive ? 'alive' : 'LOST',
      fixed(t.relativeAltitudeM, 1),
      fixed(t.voltageV, 2),
      t.remainingPct === undefined ? '-' : String(t.remainingPct),
      t.gpsFix === undefined ? '-' : `fix${t.gpsFix}/${t.satellites ?? '?'}`,
      v.sequence.recentLossPct.toFixed(1),
      fixed(v.radio?.rssiDbm, 0),
      ((nowMs - v.lastHeartbeatMs) / 1000).toFixed(1),
    ];
  });
}

export function formatFleet(vehicles: readonly Vehicle[], nowMs: number): string {
  if (vehicles.length === 0) return 'fleet: no vehicles yet (waiting for HEARTBEAT)';
  const rows = [[...COLUMNS], ...fleetRows(vehicles, nowMs)];
  const widths = COLUMNS.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ')).join('\n');
}

/** One line of the fleet for the status line: how many drones, alive, armed and flying. */
export function fleetSummary(vehicles: readonly Vehicle[]): string {
  if (vehicles.length === 0) return 'no drones yet';
  const alive = vehicles.filter((v) => v.alive);
  const armed = alive.filter((v) => v.armed).length;
  const lost = vehicles.length - alive.length;
  return `${vehicles.length} drones, ${armed} armed${lost ? `, ${lost} LOST` : ''}`;
}

/** The drone's name for people, as the mesh and the dashboard give it, with where it is heard. */
export function droneLabel(v: Vehicle): string {
  return `${droneId(v.sysid)} (${v.key})`;
}
