/** "battery-monitor": the station battery's VE.Direct monitor, the budget's measured state of charge (power/battery-monitor.ts). */
import type { BatteryMonitor } from '../../power/battery-monitor.ts';
import type { Extension } from '../extension.ts';

export class BatteryMonitorExtension implements Extension {
  readonly name = 'battery-monitor';

  constructor(readonly monitor: BatteryMonitor) {}

  start(): Promise<void> {
    return this.monitor.start();
  }

  stop(): Promise<void> {
    return this.monitor.stop();
  }
}
