/** "drone-state": each drone's retained state, availability and set commands on the mesh (drone-bridge.ts). */
import type { DroneBridge } from '../../drone-bridge.ts';
import type { Extension } from '../extension.ts';

export class DroneStateExtension implements Extension {
  readonly name = 'drone-state';

  constructor(readonly drones: DroneBridge) {}

  async start(): Promise<void> {
    this.drones.start();
  }

  async stop(): Promise<void> {
    this.drones.stop();
  }
}
