/**
 * A shared in-memory radio for tests: what the ground writes reaches every drone, what a drone
 * writes reaches the ground. Deliveries are clock timers (1 ms), so a ManualClock run is
 * deterministic and needs no event-loop turns. The simulator's shaped radio is sim/radio.ts.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { RadioEnd } from '../../sim/radio.ts';
import type { RadioMedium } from '../../sim/world.ts';

export function memoryMedium(clock: Clock, name = 'radio'): RadioMedium & { drones: Map<number, RadioEnd> } {
  const drones = new Map<number, RadioEnd>();
  const ground = new RadioEnd(`memory:${name}-ground`, (data) => {
    clock.setTimeout(() => {
      for (const d of drones.values()) d.receive(data, 'ground');
    }, 1);
  });
  return {
    ground,
    drones,
    attach(sysid: number) {
      const end = new RadioEnd(`memory:${name}-${sysid}`, (data) => clock.setTimeout(() => ground.receive(data, `drone-${sysid}`), 1));
      drones.set(sysid, end);
      return end;
    },
  };
}
