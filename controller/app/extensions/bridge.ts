/**
 * "bridge": the MAVLink sessions (ground-station.ts) without their links, and what they hear put
 * on the bus: a drone found, back, lost, and each message that updated its telemetry.
 * "radios": the links themselves, started last so that every part listens before the first frame.
 */
import type { Vehicle } from '../../../firmware-bridge/vehicles/index.ts';
import type { Channel } from '../../../firmware-bridge/channel.ts';
import type { GroundStation } from '../../ground-station.ts';
import type { EventBus } from '../bus.ts';
import type { Extension } from '../extension.ts';

export class BridgeExtension implements Extension {
  readonly name = 'bridge';
  private readonly offs: (() => void)[] = [];

  constructor(
    private readonly gs: GroundStation,
    private readonly bus: EventBus,
  ) {}

  async start(): Promise<void> {
    const { vehicles, node } = this.gs;
    const found = (v: Vehicle) => this.bus.emit('vehicle-found', v);
    const back = (v: Vehicle) => this.bus.emit('vehicle-back', v);
    const lost = (v: Vehicle) => this.bus.emit('vehicle-lost', v);
    vehicles.on('vehicle-added', found).on('vehicle-alive', back).on('vehicle-lost', lost);
    // A message from a drone's own autopilot on its own channel updates its telemetry.
    const message = ({ frame, channel }: { frame: { sysid: number; compid: number }; channel: Channel }) => {
      const v = vehicles.bySysid(frame.sysid);
      if (v && v.channel === channel && v.compid === frame.compid) this.bus.emit('telemetry', v);
    };
    node.on('message', message);
    this.offs.push(() => {
      vehicles.off('vehicle-added', found).off('vehicle-alive', back).off('vehicle-lost', lost);
      node.off('message', message);
    });
    await this.gs.startSessions();
  }

  async stop(): Promise<void> {
    await this.gs.stopSessions();
    for (const off of this.offs.splice(0)) off();
  }
}

export class RadiosExtension implements Extension {
  readonly name = 'radios';

  constructor(private readonly gs: GroundStation) {}

  start(): Promise<void> {
    return this.gs.startLinks();
  }

  stop(): Promise<void> {
    return this.gs.stopLinks();
  }
}
