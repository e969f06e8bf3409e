/** "dashboard": the web app, MQTT over WebSocket and /metrics (dashboard/server.ts). */
import { Dashboard, type DashboardOptions } from '../../dashboard/server.ts';
import type { Extension } from '../extension.ts';

export class DashboardExtension implements Extension {
  readonly name = 'dashboard';
  private running: Dashboard | undefined;

  constructor(private readonly opts: DashboardOptions) {}

  get dashboard(): Dashboard | undefined {
    return this.running;
  }

  async start(): Promise<void> {
    const d = new Dashboard(this.opts);
    await d.start();
    this.running = d;
  }

  async stop(): Promise<void> {
    await this.running?.stop();
    this.running = undefined;
  }
}
