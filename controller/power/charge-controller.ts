/**
 * The station's solar charge controller as the power budget's reference cell. The budget
 * (budget.ts) reads the sky as `referenceGhiWm2`; a Victron MPPT on VE.Direct measures the
 * station panel's power, which is the irradiance it gets times the panel's rating:
 *
 *   GHI ≈ PPV / (panelWp × performanceRatio) × 1000 W/m²
 *
 * `performanceRatio` lumps the panel's temperature loss, wiring, the MPPT's own loss and its tilt
 * against the horizontal (calibrate it at a clear noon: PPV / (panelWp × clear-sky GHI / 1000)).
 *
 * The panel's power measures the sky only while the charger takes all it can give: in bulk with
 * the tracker active. In absorption and float the charger holds the panel back because the battery
 * is full, which would read as cloud, so there is no reading then (the budget keeps the sky it
 * learnt last). With the charger off for want of panel voltage it is night or heavy overcast, and
 * the estimate is 0 W/m². No reading for `staleMs` (cable out) is no reading either.
 */
import { mpptReading, type MpptReading } from '../../hardware/vedirect.ts';
import { VeDirectDevice, type VeDirectDeviceOptions } from './vedirect-device.ts';

export interface ChargeControllerOptions extends VeDirectDeviceOptions {
  /** The station panel's rated power, Wp. */
  panelWp: number;
  /** Delivered / rated power at 1000 W/m² on this site. Default 0.8. */
  performanceRatio?: number;
}

/** Irradiance a charge controller's reading stands for, W/m², or undefined when it does not measure the sky. */
export function irradianceFromMppt(r: MpptReading, panelWp: number, performanceRatio = 0.8): number | undefined {
  if (r.error !== 0 || r.state === 2) return undefined;
  // Off with too little panel voltage to charge: no sun to speak of.
  if (r.state === 0) return r.solarV < r.batteryV + 1 ? 0 : undefined;
  // Bulk with the tracker at the maximum power point (older firmware sends no MPPT field).
  if (r.state !== 3 || (r.tracker !== undefined && r.tracker !== 2)) return undefined;
  return (r.solarW / (panelWp * performanceRatio)) * 1000;
}

export class ChargeController extends VeDirectDevice<MpptReading> {
  private faultLogged = false;

  constructor(private readonly opts: ChargeControllerOptions) {
    super('charge controller', mpptReading, opts);
    this.reader.on('reading', (r) => {
      if (r.error !== 0 && !this.faultLogged) this.log.warn(`charge controller error ${r.error}: ${r.errorName}`);
      this.faultLogged = r.error !== 0;
    });
  }

  /** For SiteOptions.referenceGhi: the sky the station panel sees, W/m². */
  readonly referenceGhiWm2 = (): number | undefined => {
    const r = this.reading;
    return r && irradianceFromMppt(r, this.opts.panelWp, this.opts.performanceRatio);
  };

  /** Measured station generation, W (what the charger puts into the battery from the panel). */
  solarW(): number | undefined {
    return this.reading?.solarW;
  }
}

/** One status line: what the station's panel and battery do now. */
export function formatChargeController(cc: ChargeController): string {
  const r = cc.reading;
  if (!r) return `charge controller ${cc.reader.url}: ${cc.whyNoReading}`;
  const ghi = cc.referenceGhiWm2();
  const kwh = (wh: number | undefined) => (wh === undefined ? '?' : (wh / 1000).toFixed(2));
  return [
    `charge controller ${r.productId ?? ''} ${r.serial ?? ''}:`.replace(/\s+/g, ' '),
    `battery ${r.batteryV.toFixed(2)} V ${r.batteryA.toFixed(2)} A,`,
    `PV ${r.solarV.toFixed(1)} V ${r.solarA.toFixed(2)} A ${r.solarW} W, ${r.stateName}${r.error ? ` (error ${r.error}: ${r.errorName})` : ''},`,
    `today ${kwh(r.yieldTodayWh)} kWh, total ${kwh(r.yieldTotalWh)} kWh,`,
    ghi === undefined ? 'sky not measured (charger not tracking)' : `sky ≈ ${Math.round(ghi)} W/m²`,
  ].join(' ');
}
