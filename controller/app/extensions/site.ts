/** "site": the power budget and the fleet it sizes (site.ts); transitions, budgets and the uplink grant go on the bus. */
import type { SiteController } from '../../site.ts';
import type { Extension } from '../extension.ts';

export class SiteExtension implements Extension {
  readonly name = 'site';

  constructor(readonly site: SiteController) {}

  async start(): Promise<void> {
    this.site.start();
  }

  async stop(): Promise<void> {
    this.site.stop();
  }
}
