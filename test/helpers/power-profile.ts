import type { PowerProfile } from '../../controller/power/budget.ts';

/** Zürich, where the budget's tests and the clear-summer-day scenario stand. */
export const ZURICH = { latitudeDeg: 47.3769, longitudeDeg: 8.5417, elevationM: 408 };

/** The default drone and net of the scenarios (2.5 kg quad, 12 m² of 20 % cells, 222 Wh), with overrides. */
export function powerProfile(over: Partial<PowerProfile> = {}): PowerProfile {
  return {
    site: ZURICH,
    airframeMassKg: 2.5,
    hoverWPerKg: 180,
    netMassKgPerM2: 0.25,
    netAreaM2PerDrone: 12,
    netEfficiency: 0.2,
    mpptEfficiency: 0.97,
    batteryWh: 222,
    padChargeW: 250,
    ...over,
  };
}
