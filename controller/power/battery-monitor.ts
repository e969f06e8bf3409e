/**
 * The station battery's monitor: a Victron BMV (or SmartShunt) on VE.Direct measures the station
 * battery's state of charge by counting the charge in and out through its shunt, so the power
 * budget (budget.ts) need not integrate its own model of the bus open loop. While a fresh
 * reading with a state of charge exists the budget uses it (and re-anchors its integrator to it);
 * a reading older than `staleMs` (cable out, monitor off) or one without a state of charge (a
 * monitor not synchronised since it was fitted sends "---") is none, and the budget integrates
 * from the last state it had. Each such outage is logged once, and the return of a reading too.
 */
import { bmvReading, type BmvReading } from '../../hardware/vedirect.ts';
import { VeDirectDevice, type VeDirectDeviceOptions } from './vedirect-device.ts';

export type BatteryMonitorOptions = VeDirectDeviceOptions;

export class BatteryMonitor extends VeDirectDevice<BmvReading> {
  /** Why the budget integrates instead (logged once per outage); undefined while it measures. */
  private fallback: string | undefined;
  private alarmLogged = false;
  private readonly sinceMs: number;

  constructor(opts: BatteryMonitorOptions) {
    super('battery monitor', bmvReading, opts);
    this.sinceMs = opts.clock.now();
    this.reader.on('reading', (r) => {
      if (r.alarm && !this.alarmLogged) this.log.warn(`battery monitor alarm: ${r.alarmReasons.join(', ') || 'no reason given'}`);
      this.alarmLogged = r.alarm;
    });
  }

  /**
   * For SiteOptions.stationSoc: the station battery's measured state of charge (0..1) when a
   * fresh reading has one, else undefined (the budget integrates).
   */
  readonly stateOfCharge = (): number | undefined => {
    const r = this.reading;
    const soc = r?.soc;
    // Until the first reading is overdue there is nothing to fall back from: no outage yet.
    const why = soc !== undefined ? undefined : r ? 'the monitor is not synchronised (no state of charge)' : this.staleFor();
    if (why !== undefined && this.fallback === undefined) this.log.warn(`battery monitor: ${why}; the budget integrates the station battery from its last state`);
    if (soc !== undefined && this.fallback !== undefined) this.log.info('battery monitor: the budget uses the measured state of charge again');
    this.fallback = why;
    return soc;
  };

  /** Why there is no fresh reading, once one is overdue (undefined before that). */
  private staleFor(): string | undefined {
    const lastMs = this.reader.last?.atMs;
    const ageMs = this.clock.now() - (lastMs ?? this.sinceMs);
    if (ageMs <= this.staleMs) return undefined;
    return `${lastMs === undefined ? 'no reading' : 'no fresh reading'} for ${Math.round(ageMs / 1000)} s`;
  }
}

/** One status line: the station battery as the monitor measures it. */
export function formatBatteryMonitor(bm: BatteryMonitor): string {
  const r = bm.reading;
  if (!r) return `battery monitor ${bm.reader.url}: ${bm.whyNoReading}`;
  const ttg = r.timeToGoMin === undefined ? '?' : r.timeToGoMin === null ? '∞' : `${(r.timeToGoMin / 60).toFixed(1)} h`;
  return [
    `battery monitor ${r.productId ?? ''}:`.replace(/\s+/g, ' '),
    `${r.batteryV.toFixed(2)} V ${r.batteryA.toFixed(2)} A ${r.batteryW} W,`,
    r.soc === undefined ? 'state of charge unknown (not synchronised),' : `${(r.soc * 100).toFixed(1)} %, ${r.consumedAh?.toFixed(1) ?? '?'} Ah,`,
    `time to go ${ttg}${r.alarm ? `, alarm: ${r.alarmReasons.join(', ') || 'no reason given'}` : ''}`,
  ].join(' ');
}
