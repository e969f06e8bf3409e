/**
 * `canopy start` without drone links: the whole site simulated at 1× (or `--speed N`) on any
 * machine — 25 virtual ArduCopters on a shaped SiK radio, the controller flying the net by the
 * power budget, the MQTT mesh (TCP for tools and phones, WebSocket for the dashboard) with the
 * drones, power and uplink on it, QGroundControl fed on udp 14550, and the uplink relay sending
 * through the simulated satellite link (contact windows, dish power) to a simulated cloud broker.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CanopyError } from '../errors.ts';
import { streamLogger } from '../../firmware-bridge/log.ts';
import { loadScenario } from '../../sim/scenario.ts';
import { dataDir, meshOptions, type CanopyConfig } from '../config.ts';
import { ensureUsers } from '../credentials.ts';
import { formatFleet } from '../fleet-table.ts';
import { SimulatedSite } from '../simulated-site.ts';
import { startDashboard } from '../dashboard/server.ts';
import { registerActions } from '../bridge-actions.ts';
import { hashPassword } from '../mesh/users.ts';
import { ChunkStore } from '../store/chunk-store.ts';
import { PhoneAgent } from '../store/phone-agent.ts';
import { printCreated, printDashboard, untilStopped, type StartOptions } from './start.ts';
import { Teardown } from './teardown.ts';

/** The default site starts just before its net goes up, so a new user sees it launch. */
const DEFAULT_AT: Record<string, string> = { 'clear-summer-day': '06:40' };

function startTime(scenarioStart: string, at: string | undefined): string {
  if (!at) return scenarioStart;
  if (/^\d{1,2}:\d{2}$/.test(at)) {
    const [h, m] = at.split(':').map(Number);
    const d = new Date(scenarioStart);
    d.setUTCHours(h!, m!, 0, 0);
    return d.toISOString();
  }
  if (Number.isNaN(Date.parse(at))) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `simulation start "${at}": write HH:MM (UTC) or an ISO 8601 time`);
  return new Date(at).toISOString();
}

export async function runSimulated(c: CanopyConfig, o: StartOptions): Promise<number> {
  const sim = c.simulation;
  const base = loadScenario(sim.scenario);
  const scenario = { ...base, start: startTime(base.start, sim.at ?? DEFAULT_AT[sim.scenario]) };
  const log = streamLogger({ level: o.logLevel, namespace: 'canopy', write: (line) => process.stderr.write(`${line}\n`) });
  const dir = dataDir(c);
  const { users, created } = await ensureUsers(dir);
  if (c.relay) log.warn('relay.upstream is not used by the simulated site: its relay sends to the simulated cloud through the simulated satellite');
  // The owner's phone, simulated: a store agent on the site's mesh as it would run under Termux,
  // with a password made for this run (kept in memory only). A configured user of that name is
  // a real phone: then none is simulated.
  const phoneName = c.store?.owner ?? 'phone';
  const phonePassword = randomBytes(18).toString('base64url');
  const simulatePhone = c.mesh.mqtt !== false && !users.some((u) => u.username === phoneName);
  if (simulatePhone) users.push({ username: phoneName, role: 'phone', passwordHash: await hashPassword(phonePassword) });
  const site = await SimulatedSite.withUplink({
    scenario,
    seed: sim.seed,
    tlog: o.tlog,
    log,
    gcs: c.links.gcs,
    mesh: { ...meshOptions(c), users },
    outboxPath: join(dir, 'sim-outbox.sqlite'),
  });
  const satellite = site.satellite!;
  // Each part's stop is registered as it starts: a later part that fails stops the earlier ones.
  const teardown = new Teardown();
  try {
    await site.start(); // stops its own parts (the simulated uplink too) if one of them fails
    teardown.add('the simulated site', () => site.stop());
    const mesh = site.gs.mesh!.addresses();
    const phoneStore = simulatePhone && mesh.tcp !== undefined ? new ChunkStore({ dir: join(dir, 'sim-phone') }) : undefined;
    if (phoneStore) teardown.add("the simulated phone's store", () => phoneStore.close());
    const phone = phoneStore && new PhoneAgent({ store: phoneStore, url: `mqtt://127.0.0.1:${mesh.tcp}`, baseTopic: c.mesh.baseTopic, username: phoneName, password: phonePassword, name: phoneName, serveNeighbours: true, log });
    if (phone) {
      teardown.add('the simulated phone', () => phone.stop());
      await phone.start();
    }
    console.log(`canopy: simulated site "${scenario.name}" (${scenario.swarm.drones} drones, ${scenario.location.latitudeDeg}°, ${scenario.location.longitudeDeg}°) from ${scenario.start} at ${sim.speed}× real time`);
    console.log(`canopy: MQTT on ${mesh.tcp === undefined ? 'off' : `mqtt://localhost:${mesh.tcp}`}, WebSocket on ${mesh.ws === undefined ? 'off' : `ws://localhost:${mesh.ws}`}; QGroundControl on ${c.links.gcs.join(', ')}`);
    if (phone) console.log(`canopy: simulated phone "${phoneName}" keeps its store in ${join(dir, 'sim-phone')} (canopy backup PATH stores there)`);
    teardown.add('the admin actions', registerActions({ mesh: site.gs.mesh!, clock: site.clock, site: site.site, relay: site.gs.relay, drones: site.gs.drones }));
    const dashboard = await startDashboard(c.dashboard, { mesh: site.gs.mesh!, clock: site.clock, log });
    if (dashboard) teardown.add('the dashboard', () => dashboard.stop());
    printDashboard(dashboard);
    if (created) printCreated(created);

    if (o.statusEveryS > 0) {
      const status = setInterval(() => {
        const b = site.budget;
        const st = site.site.fleet.status();
        console.log(`${new Date(site.clock.now()).toISOString().slice(0, 19)}Z  net ${st.manned}/${st.stations} stations  sun ${b ? b.perDrone.solarW.toFixed(0) : '?'} W/drone vs hover ${b ? b.perDrone.hoverW.toFixed(0) : '?'} W  station battery ${b ? (b.stationBattery.soc * 100).toFixed(0) : '?'} %  uplink ${b?.decisions.uplinkGranted ? 'granted' : 'off'}${satellite.inContact ? '' : ' (no satellite in view)'}`);
        console.log(formatFleet(site.gs.vehicles.list(), site.clock.now()));
      }, o.statusEveryS * 1000);
      teardown.add('the status lines', () => clearInterval(status));
    }
    const stop = new AbortController();
    const finished = site.runRealTime({ speed: sim.speed, signal: stop.signal });
    teardown.add('the simulation', async () => {
      stop.abort();
      await finished;
    });
    await untilStopped(o.runForS);
  } finally {
    await teardown.run();
  }
  return 0;
}
