/** "charge-controller": the station's VE.Direct charge controller, the budget's reference cell (power/charge-controller.ts). */
import type { ChargeController } from '../../power/charge-controller.ts';
import type { Extension } from '../extension.ts';

export class ChargeControllerExtension implements Extension {
  readonly name = 'charge-controller';

  constructor(readonly cc: ChargeController) {}

  start(): Promise<void> {
    return this.cc.start();
  }

  stop(): Promise<void> {
    return this.cc.stop();
  }
}
