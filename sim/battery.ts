/**
 * A lithium-polymer flight battery: energy in Wh, open-circuit voltage from a state-of-charge curve,
 * sag through an internal resistance, and charging on a ground pad with a constant-voltage taper.
 */

/** Resting LiPo cell voltage against state of charge (typical 1C discharge curves, e.g. Tattu/Grepow data sheets). */
const CELL_OCV: readonly (readonly [number, number])[] = [
  [0, 3.27], [0.05, 3.61], [0.1, 3.69], [0.15, 3.71], [0.2, 3.73], [0.3, 3.77], [0.4, 3.79],
  [0.5, 3.82], [0.6, 3.87], [0.7, 3.92], [0.8, 3.98], [0.9, 4.06], [1, 4.2],
];

export function cellOpenCircuitVoltage(soc: number): number {
  const s = Math.min(1, Math.max(0, soc));
  for (let i = 1; i < CELL_OCV.length; i++) {
    const [s1, v1] = CELL_OCV[i]!;
    if (s <= s1) {
      const [s0, v0] = CELL_OCV[i - 1]!;
      return v0 + ((v1 - v0) * (s - s0)) / (s1 - s0);
    }
  }
  return CELL_OCV[CELL_OCV.length - 1]![1];
}

export interface BatteryOptions {
  capacityWh: number;
  cells: number;
  internalResistanceOhm: number;
  /** Fraction of the rated capacity lost to age (0..0.5). */
  ageing?: number;
  /** Starting state of charge, 0..1 (default full). */
  soc?: number;
}

export class Battery {
  readonly cells: number;
  readonly internalResistanceOhm: number;
  capacityWh: number;
  energyWh: number;
  /** Current out of the battery (negative while charging), A. */
  currentA = 0;
  consumedMah = 0;

  constructor(opts: BatteryOptions) {
    this.cells = opts.cells;
    this.internalResistanceOhm = opts.internalResistanceOhm;
    this.capacityWh = opts.capacityWh * (1 - (opts.ageing ?? 0));
    this.energyWh = this.capacityWh * (opts.soc ?? 1);
  }

  get soc(): number {
    return this.energyWh / this.capacityWh;
  }

  get openCircuitV(): number {
    return this.cells * cellOpenCircuitVoltage(this.soc);
  }

  /** Terminal voltage under the present current. */
  get voltageV(): number {
    return this.openCircuitV - this.currentA * this.internalResistanceOhm;
  }

  /** Rated capacity in mAh at the nominal 3.7 V per cell, as BATT_CAPACITY counts it. */
  get capacityMah(): number {
    return (this.capacityWh / (3.7 * this.cells)) * 1000;
  }

  setAgeing(fraction: number): void {
    const soc = this.soc;
    this.capacityWh *= 1 - fraction;
    this.energyWh = this.capacityWh * soc;
  }

  /**
   * Delivers `powerW` at the terminals for `dtS` seconds. The current solves P = (Voc − I·R)·I;
   * the cells lose Voc·I (the I²R part heats the pack). Returns false when the pack cannot deliver.
   */
  discharge(powerW: number, dtS: number): boolean {
    const voc = this.openCircuitV;
    const r = this.internalResistanceOhm;
    const disc = voc * voc - 4 * r * powerW;
    if (this.energyWh <= 0) {
      // Empty: the protection circuit has cut the pack off.
      this.currentA = 0;
      return false;
    }
    if (disc < 0) {
      this.currentA = voc / (2 * r);
      this.energyWh = Math.max(0, this.energyWh - (voc * this.currentA * dtS) / 3600);
      return false;
    }
    this.currentA = r > 0 ? (voc - Math.sqrt(disc)) / (2 * r) : powerW / voc;
    this.energyWh = Math.max(0, this.energyWh - (voc * this.currentA * dtS) / 3600);
    this.consumedMah += (this.currentA * dtS * 1000) / 3600;
    return this.energyWh > 0;
  }

  /** Charges at up to `powerW`, tapering linearly above 90 % (the constant-voltage phase). */
  charge(powerW: number, dtS: number): number {
    const taper = this.soc < 0.9 ? 1 : Math.max(0.05, (1 - this.soc) / 0.1);
    const p = Math.min(powerW * taper, ((this.capacityWh - this.energyWh) * 3600) / dtS);
    this.energyWh = Math.min(this.capacityWh, this.energyWh + (p * dtS) / 3600);
    this.currentA = -p / this.openCircuitV;
    if (this.soc >= 0.999) this.consumedMah = 0;
    return p;
  }

  rest(): void {
    this.currentA = 0;
  }
}
