/**
 * "relay": the store-and-forward uplink (relay/relay.ts). It takes the power grant from the bus
 * (the site's budget decides; without a site every window is granted) and says on the bus when
 * the dish goes on or off, which the budget counts as a load.
 */
import type { Relay } from '../../relay/relay.ts';
import type { EventBus } from '../bus.ts';
import type { Extension } from '../extension.ts';

export class RelayExtension implements Extension {
  readonly name = 'relay';
  /** The power grant as the site last put it on the bus (false until it has). */
  granted = false;
  private dishOn = false;

  constructor(
    readonly relay: Relay,
    private readonly bus: EventBus,
  ) {}

  async start(): Promise<void> {
    this.bus.on(this.name, 'power-grant', (g) => (this.granted = g));
    this.relay.on('state', this.onState);
    await this.relay.start();
  }

  async stop(): Promise<void> {
    await this.relay.stop();
    this.relay.off('state', this.onState);
    this.bus.removeOwner(this.name);
  }

  private readonly onState = () => {
    if (this.relay.dishOn === this.dishOn) return;
    this.dishOn = this.relay.dishOn;
    this.bus.emit('uplink', { dishOn: this.dishOn });
  };
}
