/**
 * Prometheus text exposition (format 0.0.4, prometheus.io/docs/instrumenting/exposition_formats):
 * the mesh's retained state as gauges and counters at `/metrics`. The collector reads the same
 * public topics the dashboard does (in-process subscriptions), so a scrape never touches the
 * fleet or the relay directly and shows exactly what the mesh shows.
 */
import type { Mesh } from '../mesh/mesh.ts';
import { PRIORITY_CLASSES, parseTopic, type DroneState, type FleetState, type LedgerRow, type LedgerState, type PowerState, type UplinkStatus } from '../../common/topics.ts';

type Labels = Record<string, string>;
interface Sample {
  labels?: Labels;
  value: number;
}
interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter';
  samples: Sample[];
}

/** Label values escape backslash, double quote and line feed (exposition format 0.0.4). */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed. */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export function renderFamilies(families: readonly Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    lines.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = s.labels && Object.keys(s.labels).length ? `{${Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}` : '';
      lines.push(`${f.name}${labels} ${formatValue(s.value)}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export class MetricsCollector {
  private readonly drones = new Map<string, DroneState>();
  private readonly online = new Map<string, boolean>();
  private power: PowerState | undefined;
  private uplink: UplinkStatus | undefined;
  private fleet: FleetState | undefined;
  /** The reciprocity ledgers (`<base>/store/<owner>/ledger`), by owner. */
  private readonly ledgers = new Map<string, LedgerState>();
  private readonly offs: (() => Promise<void>)[] = [];

  constructor(private readonly mesh: Mesh) {}

  async start(): Promise<void> {
    const base = this.mesh.topics.base;
    const onMessage = (topic: string, payload: Buffer) => {
      const t = parseTopic(base, topic);
      try {
        if (t?.kind === 'drone') this.drones.set(t.id, JSON.parse(payload.toString()) as DroneState);
        else if (t?.kind === 'availability') this.online.set(t.id, payload.toString() === 'online');
        else if (t?.kind === 'power') this.power = JSON.parse(payload.toString()) as PowerState;
        else if (t?.kind === 'uplink') this.uplink = JSON.parse(payload.toString()) as UplinkStatus;
        else if (t?.kind === 'fleet') this.fleet = JSON.parse(payload.toString()) as FleetState;
        else if (t?.kind === 'store' && t.path === 'ledger') this.ledgers.set(t.owner, JSON.parse(payload.toString()) as LedgerState);
      } catch {
        // A payload that is not JSON is not Canopy's; the next good one replaces nothing here.
      }
    };
    for (const filter of [`${base}/drones/+`, `${base}/drones/+/availability`, this.mesh.topics.power, this.mesh.topics.uplink, this.mesh.topics.fleet, this.mesh.topics.ledger('+')]) {
      this.offs.push(await this.mesh.subscribe(filter, onMessage));
    }
    // The ledgers are published by audit rounds, rarely: the retained ones are read too (an
    // in-process subscription gets only what is published after it).
    const persistence = (this.mesh.broker as unknown as { persistence?: { createRetainedStream(p: string): AsyncIterable<{ topic: string; payload: Buffer }> } }).persistence;
    if (persistence) for await (const packet of persistence.createRetainedStream(this.mesh.topics.ledger('+'))) onMessage(packet.topic, packet.payload);
  }

  async stop(): Promise<void> {
    for (const off of this.offs.splice(0)) await off();
  }

  families(): Family[] {
    const drones = [...this.drones.values()].sort((a, b) => a.sysid - b.sysid);
    const perDrone = (pick: (d: DroneState) => number | undefined): Sample[] =>
      drones.flatMap((d) => {
        const v = pick(d);
        return v === undefined || !Number.isFinite(v) ? [] : [{ labels: { drone: d.id }, value: v }];
      });
    const p = this.power;
    const u = this.uplink;
    const one = (v: number | undefined | null): Sample[] => (v === undefined || v === null || !Number.isFinite(v) ? [] : [{ value: v }]);
    const perClass = (pick: (cls: (typeof PRIORITY_CLASSES)[number]) => number): Sample[] => (u ? PRIORITY_CLASSES.map((cls) => ({ labels: { class: cls }, value: pick(cls) })) : []);
    const perNeighbour = (pick: (r: LedgerRow) => number): Sample[] =>
      [...this.ledgers.values()].flatMap((l) => (Array.isArray(l.neighbours) ? l.neighbours : []).map((r) => ({ labels: { owner: l.owner, neighbour: r.neighbour }, value: pick(r) })));
    return [
      { name: 'canopy_drone_soc_percent', help: 'Battery state of charge of each drone (%).', type: 'gauge', samples: perDrone((d) => d.battery?.remainingPct) },
      { name: 'canopy_drone_voltage_volts', help: 'Battery voltage of each drone (V).', type: 'gauge', samples: perDrone((d) => d.battery?.voltageV) },
      { name: 'canopy_drone_link_loss_percent', help: 'Recent MAVLink packet loss on each drone link (%).', type: 'gauge', samples: perDrone((d) => d.link?.lossPct) },
      { name: 'canopy_drone_rssi_dbm', help: 'Radio signal strength of each drone link (dBm).', type: 'gauge', samples: perDrone((d) => d.link?.rssi) },
      { name: 'canopy_drone_waiting_for_telemetry', help: 'Whether each drone is heard but has sent no position yet (1/0): stock firmware streams nothing until asked.', type: 'gauge', samples: perDrone((d) => (d.telemetry === undefined ? undefined : Number(d.telemetry === 'waiting for telemetry'))) },
      { name: 'canopy_drone_ready', help: 'Whether each drone\'s autopilot says it can arm (1/0).', type: 'gauge', samples: perDrone((d) => (d.readiness === undefined ? undefined : Number(d.readiness.ready))) },
      { name: 'canopy_drone_rx_frames_per_second', help: 'MAVLink frames per second received from each drone (measured).', type: 'gauge', samples: perDrone((d) => d.link?.framesPerS) },
      { name: 'canopy_drone_rx_bytes_per_second', help: 'Bytes per second received from each drone (measured).', type: 'gauge', samples: perDrone((d) => d.link?.bytesPerS) },
      { name: 'canopy_drone_radio_share_bytes_per_second', help: 'Each drone\'s share of its radio (bytes per second at the utilisation goal).', type: 'gauge', samples: perDrone((d) => d.link?.shareBytesPerS) },
      { name: 'canopy_drone_online', help: 'Whether each drone is heard (1) or lost (0).', type: 'gauge', samples: [...this.online.entries()].sort().map(([id, on]) => ({ labels: { drone: id }, value: on ? 1 : 0 })) },
      { name: 'canopy_power_generation_watts', help: 'Solar generation of the net (W).', type: 'gauge', samples: one(p?.solarW) },
      { name: 'canopy_power_load_watts', help: 'Power drawn by hover, pads, dish, Pi, phone and radios (W).', type: 'gauge', samples: one(p?.loadW) },
      { name: 'canopy_station_battery_percent', help: 'Station battery state of charge (%).', type: 'gauge', samples: one(p?.batteryPct) },
      { name: 'canopy_energy_generated_today_wh_total', help: 'Energy generated since local midnight (Wh; resets daily).', type: 'counter', samples: one(p?.energyToday?.generatedWh) },
      { name: 'canopy_energy_consumed_today_wh_total', help: 'Energy consumed since local midnight (Wh; resets daily).', type: 'counter', samples: one(p?.energyToday?.consumedWh) },
      { name: 'canopy_uplink_granted', help: 'Whether the power budget grants the uplink its power (1/0).', type: 'gauge', samples: one(p ? Number(p.uplinkGranted) : undefined) },
      { name: 'canopy_uplink_dish_on', help: 'Whether the dish is powered (1/0).', type: 'gauge', samples: one(u ? Number(u.dish.on) : undefined) },
      { name: 'canopy_uplink_paused', help: 'Whether an admin paused the uplink (1/0).', type: 'gauge', samples: one(u ? Number(u.paused ?? false) : undefined) },
      { name: 'canopy_uplink_queued_items', help: 'Items waiting in the outbox, per priority class.', type: 'gauge', samples: perClass((c) => u!.queued[c].items) },
      { name: 'canopy_uplink_queued_bytes', help: 'Bytes waiting in the outbox, per priority class.', type: 'gauge', samples: perClass((c) => u!.queued[c].bytes) },
      { name: 'canopy_uplink_delivered_bytes_total', help: 'Bytes delivered upstream, per priority class.', type: 'counter', samples: perClass((c) => u!.delivered[c].bytes) },
      { name: 'canopy_uplink_dish_energy_wh_total', help: 'Energy the dish has drawn (Wh).', type: 'counter', samples: one(u?.dish.energyWh) },
      { name: 'canopy_fleet_stations', help: 'Stations the net has now.', type: 'gauge', samples: one(this.fleet?.stations.length) },
      { name: 'canopy_fleet_manned_stations', help: 'Stations held by a drone now.', type: 'gauge', samples: one(this.fleet?.manned) },
      { name: 'canopy_fleet_drones', help: 'Drones per fleet role.', type: 'gauge', samples: Object.entries(this.fleet?.roles ?? {}).map(([role, n]) => ({ labels: { role }, value: n })) },
      { name: 'canopy_ledger_held_for_us_byte_days_total', help: 'Byte-days each neighbour held of the owner\'s shares, as its audits proved.', type: 'counter', samples: perNeighbour((r) => r.heldForUsByteDays) },
      { name: 'canopy_ledger_held_by_us_byte_days_total', help: 'Byte-days the owner\'s phone held of each neighbour\'s entries.', type: 'counter', samples: perNeighbour((r) => r.heldByUsByteDays) },
      { name: 'canopy_ledger_held_for_us_bytes', help: 'Bytes of the owner\'s shares each neighbour held at its latest audit.', type: 'gauge', samples: perNeighbour((r) => r.heldForUsBytes) },
      { name: 'canopy_ledger_audits_passed_total', help: 'Share audits each neighbour answered right.', type: 'counter', samples: perNeighbour((r) => r.auditsPassed) },
      { name: 'canopy_ledger_audits_failed_total', help: 'Share audits each neighbour failed (share missing, damaged or another).', type: 'counter', samples: perNeighbour((r) => r.auditsFailed) },
      { name: 'canopy_ledger_hot_served_bytes_total', help: 'Hot-cache bytes the owner\'s phone served each neighbour.', type: 'counter', samples: perNeighbour((r) => r.hotServedBytes) },
      { name: 'canopy_ledger_room_bytes', help: 'Room each neighbour gets in the phone\'s cold class under the quota rule.', type: 'gauge', samples: perNeighbour((r) => r.roomBytes) },
      { name: 'canopy_mesh_clients', help: 'MQTT clients connected to the mesh broker.', type: 'gauge', samples: one(this.mesh.started ? this.mesh.broker.connectedClients : undefined) },
    ];
  }

  render(): string {
    return renderFamilies(this.families());
  }
}
