/**
 * An extension for a part whose own start() and stop() are all it needs (sync or async): the mesh
 * ("mesh"), the drones' state on it ("drone-state", drone-bridge.ts), the site ("site": the power
 * budget and the fleet it sizes, which put transitions, budgets and the uplink grant on the bus),
 * the station's charge controller ("charge-controller") and battery monitor ("battery-monitor").
 */
import type { Extension } from '../extension.ts';

export class PartExtension implements Extension {
  constructor(
    readonly name: string,
    private readonly part: { start(): unknown; stop(): unknown },
  ) {}

  async start(): Promise<void> {
    await this.part.start();
  }

  async stop(): Promise<void> {
    await this.part.stop();
  }
}
