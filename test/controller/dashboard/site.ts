/**
 * The simulated site with its dashboard, in-process, for the dashboard tests: the default
 * scenario from 09:00 (the net goes up at once), the relay to the simulated cloud, the mesh on a
 * free loopback port with one user per role (cheap scrypt), and the dashboard on a free port,
 * paced at `speed` × real time, or with speed 'manual' stepped by the test (site.runFast), so
 * that what the mesh shows holds still between steps.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { Dashboard } from '../../../controller/dashboard/server.ts';
import { SimulatedSite } from '../../../harness/simulated-site.ts';
import { loadScenario } from '../../../sim/scenario.ts';
import { testUsers } from '../../../harness/rigs/mesh.ts';

export interface DashboardSite {
  site: SimulatedSite;
  dashboard: Dashboard;
  /** mqtt://127.0.0.1:<port> of the mesh. */
  mqttUrl: string;
}

/** The content server's item the dashboard test prefetches (a generated file). */
export const DEMO_ITEM = { item: 'demo-episode', bytes: 3 * 1024 * 1024 + 4321 };

export async function startDashboardSite(t: TestContext, opts: { speed: number | 'manual'; at?: string }): Promise<DashboardSite> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-dashboard-'));
  const base = loadScenario('clear-summer-day');
  const start = new Date(base.start);
  const [h, m] = (opts.at ?? '09:00').split(':').map(Number);
  start.setUTCHours(h!, m!, 0, 0);
  const site = await SimulatedSite.withUplink({
    scenario: { ...base, start: start.toISOString() },
    seed: 3,
    // Drone state at most every 10 simulated seconds: at 20× that is still 50 messages a second
    // for the browser, on a shared 2-core machine.
    mesh: { users: await testUsers(), tcp: { host: '127.0.0.1', port: 0 }, ws: false, stateRateHz: 0.1 },
    outboxPath: join(dir, 'outbox.sqlite'),
    // The simulated content server behind the satellite, and the downlink filling the phone's hot cache from it.
    content: { [DEMO_ITEM.item]: { bytes: DEMO_ITEM.bytes } },
    downlink: { path: join(dir, 'downlink.sqlite'), agent: 'phone' },
  });
  await site.start();
  const dashboard = new Dashboard({ mesh: site.app.mesh!, clock: site.clock, host: '127.0.0.1', port: 0 });
  await dashboard.start();
  // The admin actions are the application's own extension (as under `canopy start`).
  const stop = new AbortController();
  const running = opts.speed === 'manual' ? Promise.resolve(0) : site.runRealTime({ speed: opts.speed, signal: stop.signal });
  t.after(async () => {
    stop.abort();
    await running;
    await dashboard.stop();
    await site.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  return { site, dashboard, mqttUrl: `mqtt://127.0.0.1:${site.app.mesh!.addresses().tcp}` };
}
