/**
 * A shared in-memory radio for tests: what the ground writes reaches every drone, what a drone
 * writes reaches the ground. Deliveries are clock timers (1 ms), so a ManualClock run is
 * deterministic and needs no event-loop turns. The simulator's shaped radio is sim/radio.ts.
 */
import type { Clock } from '../../firmware-bridge/clock.ts';
import { BaseLink } from '../../firmware-bridge/links/link.ts';
import type { RadioMedium } from '../../sim/world.ts';

class End extends BaseLink {
  running = false;
  constructor(
    name: string,
    private readonly deliver: (from: End, data: Buffer) => void,
  ) {
    super(`memory:${name}`);
  }
  async start(): Promise<void> {
    this.running = true;
    this.setUp();
  }
  async stop(): Promise<void> {
    this.running = false;
    this.setDown('stopped');
  }
  write(data: Buffer): void {
    if (!this.running) return void this.stats.dropsOut++;
    this.sent(data.length);
    this.deliver(this, Buffer.from(data));
  }
  receive(data: Buffer, from: string): void {
    if (this.running) this.received(data, from);
  }
}

export function memoryMedium(clock: Clock, name = 'radio'): RadioMedium & { drones: Map<number, End> } {
  const drones = new Map<number, End>();
  const ground: End = new End(`${name}-ground`, (_from, data) => {
    clock.setTimeout(() => {
      for (const d of drones.values()) d.receive(data, 'ground');
    }, 1);
  });
  return {
    ground,
    drones,
    attach(sysid: number) {
      const end = new End(`${name}-${sysid}`, (_from, data) => clock.setTimeout(() => ground.receive(data, `drone-${sysid}`), 1));
      drones.set(sysid, end);
      return end;
    },
  };
}
