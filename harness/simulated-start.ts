/**
 * `canopy start` without drone links: the whole site simulated at 1× (or `--speed N`) on any
 * machine — 25 virtual ArduCopters on a shaped SiK radio, the controller flying the net by the
 * power budget, the MQTT mesh (TCP for tools and phones, WebSocket for the dashboard) with the
 * drones, power and uplink on it, QGroundControl fed on udp 14550, and the uplink relay sending
 * through the simulated satellite link (contact windows, dish power) to a simulated cloud broker.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CanopyError } from '../common/errors.ts';
import { stationSummary, type Station, type StationInputs } from '../controller/commands/start.ts';
import { dataDir, type CanopyConfig } from '../controller/config.ts';
import { formatFleet } from '../controller/fleet-table.ts';
import { hashPassword } from '../controller/mesh/users.ts';
import { formatChargeController } from '../controller/power/charge-controller.ts';
import { ChunkStore } from '../controller/store/chunk-store.ts';
import { PhoneAgent } from '../controller/store/phone-agent.ts';
import { loadScenario } from '../sim/scenario.ts';
import { SimulatedSite } from './simulated-site.ts';

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

/**
 * The simulated site as `canopy start` runs it: the Application on the simulated environment
 * (simulated-site.ts) with the uplink's far end, the owner's phone simulated beside it, and the
 * simulated clock paced to the wall clock once everything is up.
 */
export async function simulatedStation(c: CanopyConfig, o: StationInputs): Promise<Station> {
  const sim = c.simulation;
  const base = loadScenario(sim.scenario);
  const scenario = { ...base, start: startTime(base.start, sim.at ?? DEFAULT_AT[sim.scenario]) };
  const { log } = o;
  const dir = dataDir(c);
  const users = [...o.users];
  if (c.relay) log.warn('relay.upstream is not used by the simulated site: its relay sends to the simulated cloud through the simulated satellite');
  // The owner's phone, simulated: a store agent on the site's mesh as it would run under Termux,
  // with a password made for this run (kept in memory only). A configured user of that name is
  // a real phone: then none is simulated.
  const phoneName = c.store?.owner ?? 'phone';
  const phonePassword = randomBytes(18).toString('base64url');
  const simulatePhone = c.mesh.mqtt !== false && !users.some((u) => u.username === phoneName);
  if (simulatePhone) users.push({ username: phoneName, role: 'phone', passwordHash: await hashPassword(phonePassword) });
  // The station's charge controller is simulated on VE.Direct, read by the same ChargeController as on a Pi.
  const panelWp = c.chargeController?.panelWp ?? 400;
  const site = await SimulatedSite.withUplink({ scenario, seed: sim.seed, tlog: o.tlog, log, config: c, mesh: { users, usersFile: o.usersFile }, chargeController: { panelWp }, outboxPath: join(dir, 'sim-outbox.sqlite') });
  const { app } = site;
  const satellite = site.satellite!;
  return {
    app,
    describe: () => {
      const mesh = app.mesh!.addresses();
      return [
        `canopy: simulated site "${scenario.name}" (${scenario.swarm.drones} drones, ${scenario.location.latitudeDeg}°, ${scenario.location.longitudeDeg}°) from ${scenario.start} at ${sim.speed}× real time`,
        `canopy: MQTT on ${mesh.tcp === undefined ? 'off' : `mqtt://localhost:${mesh.tcp}`}, WebSocket on ${mesh.ws === undefined ? 'off' : `ws://localhost:${mesh.ws}`}; QGroundControl on ${c.links.gcs.join(', ')}`,
      ];
    },
    summary: () => stationSummary(app, satellite.inContact ? [] : ['(no satellite in view)']),
    status: () => [formatFleet(app.gs.vehicles.list(), site.clock.now()), ...(app.chargeController ? [formatChargeController(app.chargeController)] : [])].join('\n'),
    afterStart: async () => {
      const tcp = app.mesh!.addresses().tcp;
      const phoneStore = simulatePhone && tcp !== undefined ? new ChunkStore({ dir: join(dir, 'sim-phone') }) : undefined;
      const phone = phoneStore && new PhoneAgent({ store: phoneStore, url: `mqtt://127.0.0.1:${tcp}`, baseTopic: c.mesh.baseTopic, username: phoneName, password: phonePassword, name: phoneName, serveNeighbours: true, log });
      try {
        await phone?.start();
      } catch (e) {
        phoneStore?.close();
        throw e;
      }
      if (phone) console.log(`canopy: simulated phone "${phoneName}" keeps its store in ${join(dir, 'sim-phone')} (canopy backup PATH stores there)`);
      const stop = new AbortController();
      const finished = site.runRealTime({ speed: sim.speed, signal: stop.signal });
      return async () => {
        stop.abort();
        await finished;
        await phone?.stop();
        phoneStore?.close();
      };
    },
  };
}
