/**
 * `canopy start` without drone links: the whole site simulated at 1× (or `--speed N`) on any
 * machine — 25 virtual ArduCopters on a shaped SiK radio, the controller flying the net by the
 * power budget, the MQTT mesh (TCP for tools and phones, WebSocket for the dashboard) with the
 * drones, power and uplink on it, QGroundControl fed on udp 14550, and the uplink relay sending
 * through the simulated satellite link (contact windows, dish power) to a simulated cloud broker;
 * through the same link the power budget fetches its outside weather forecast from the simulated
 * weather service (Open-Meteo's format, docs/forecast.md).
 * The owner's phone and six neighbours' phones are simulated as store agents on the mesh, and the
 * phone backs up a small generated tree every few simulated minutes (demo-backups.ts), so the
 * uplink and the store carry traffic; `canopy backup PATH` from another terminal uses the
 * simulated phone's login (simulated-login.ts).
 */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { CanopyError } from '../common/errors.ts';
import { stationSummary, type Station, type StationInputs } from '../controller/commands/start.ts';
import { dataDir, type CanopyConfig } from '../controller/config.ts';
import { formatFleet } from '../controller/fleet-table.ts';
import type { Role } from '../controller/mesh/acl.ts';
import { hashPassword } from '../controller/mesh/users.ts';
import { formatChargeController } from '../controller/power/charge-controller.ts';
import { ChunkStore } from '../controller/store/chunk-store.ts';
import { storeConfig } from '../controller/store/command-line.ts';
import { PhoneAgent } from '../controller/store/phone-agent.ts';
import { Ledger } from '../controller/store/ledger.ts';
import { demoPassphrase, writeSimulatedLogin, type SimulatedLogin } from '../controller/store/simulated-login.ts';
import { loadScenario } from '../sim/scenario.ts';
import { DemoBackups } from './demo-backups.ts';
import { SimulatedSite } from './simulated-site.ts';

/** The simulated neighbours' phones, when canopy.yaml's store.neighbours names none. */
export const SIMULATED_NEIGHBOURS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

/** The simulated content server's demo item (a generated file): what `cache/prefetch` can fetch into the phone's hot cache. */
export const SIM_DEMO_ITEM = { item: 'demo-episode', bytes: 8 * 1024 * 1024, mime: 'application/octet-stream' };

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
  // The owner's phone and the neighbours' phones, simulated: store agents on the site's mesh as
  // they would run under Termux, with passwords made for this run (kept in memory, and the phone's
  // in the data directory's sim-login.json for the store commands). A configured user of such a
  // name is a real phone: then it is not simulated (and without the owner's phone, none is).
  const phoneName = c.store?.owner ?? 'phone';
  const isUser = (name: string) => users.some((u) => u.username === name);
  const simulatePhone = c.mesh.mqtt !== false && !isUser(phoneName);
  const neighbours = c.store?.neighbours.length ? [...c.store.neighbours] : SIMULATED_NEIGHBOURS;
  const simulated = new Map<string, string>(); // name → password
  if (simulatePhone) {
    const phones: [string, Role][] = [[phoneName, 'phone'], ...neighbours.filter((nb) => !isUser(nb)).map((nb): [string, Role] => [nb, 'neighbour'])];
    for (const [name, role] of phones) {
      const password = randomBytes(18).toString('base64url');
      simulated.set(name, password);
      users.push({ username: name, role, passwordHash: await hashPassword(password) });
    }
  }
  // The station's charge controller is simulated on VE.Direct, read by the same ChargeController as on a Pi.
  const panelWp = c.chargeController?.panelWp ?? 400;
  // The downlink is on unless canopy.yaml says relay.downlink: false: it prefetches from the simulated content server through the same satellite.
  const d = c.relay?.downlink;
  const downlink = d === false ? undefined : { path: join(dir, 'sim-downlink.sqlite'), agent: phoneName, windowBytes: d?.windowBytes };
  const content = { [SIM_DEMO_ITEM.item]: { bytes: SIM_DEMO_ITEM.bytes, mime: SIM_DEMO_ITEM.mime } };
  const site = await SimulatedSite.withUplink({ scenario, seed: sim.seed, tlog: o.tlog, log, config: c, mesh: { users, usersFile: o.usersFile }, chargeController: { panelWp }, weatherService: true, content, downlink, outboxPath: join(dir, 'sim-outbox.sqlite') });
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
      const agents: { agent: PhoneAgent; store: ChunkStore }[] = [];
      let demo: DemoBackups | undefined;
      let login: SimulatedLogin | undefined;
      // The owner's reciprocity ledger, where `canopy backup --audit` keeps it: the phone bounds neighbours' room by it and counts the hot bytes it serves them.
      let ledger: Ledger | undefined;
      const stopPhones = async () => {
        await demo?.stop();
        if (login) writeSimulatedLogin(dir, { ...login, pid: 0, password: '' }); // the run's login ends with it; the passphrase stays
        for (const { agent, store } of agents.reverse()) {
          await agent.stop();
          store.close();
        }
        ledger?.close();
      };
      if (simulatePhone && tcp !== undefined) {
        const url = `mqtt://127.0.0.1:${tcp}`;
        try {
          ledger = new Ledger(dir);
          for (const [name, password] of simulated) {
            const store = new ChunkStore({ dir: name === phoneName ? join(dir, 'sim-phone') : join(dir, 'sim-neighbours', name) });
            const agent = new PhoneAgent({ store, url, baseTopic: c.mesh.baseTopic, username: name, password, name, serveNeighbours: name === phoneName, log, ...(name === phoneName && { reciprocity: ledger }) });
            agents.push({ agent, store });
            await agent.start();
          }
          login = { pid: process.pid, broker: url, baseTopic: c.mesh.baseTopic, username: phoneName, password: simulated.get(phoneName)!, neighbours, passphrase: demoPassphrase(dir) };
          const file = writeSimulatedLogin(dir, login);
          const { k, n } = c.store ?? { k: 3, n: 6 };
          demo = new DemoBackups({ clock: site.clock, dir: join(dir, 'sim-demo'), url, baseTopic: c.mesh.baseTopic, owner: phoneName, password: login.password, neighbours, k, n, passphrase: login.passphrase, log });
          await demo.start();
          console.log(`canopy: simulated phone "${phoneName}" keeps its store in ${join(dir, 'sim-phone')}; neighbours' phones ${[...simulated.keys()].filter((nb) => nb !== phoneName).join(', ') || '(all real)'} in ${join(dir, 'sim-neighbours')}`);
          console.log(`canopy: the phone backs up ${demo.tree} every 5 simulated minutes (to the phone, the uplink and ${k}-of-${n} shares on the neighbours); newest manifest: ${demo.manifestFile}`);
          console.log(`canopy: from another terminal, canopy backup PATH${dataFlag(dir)} stores there (the phone's login and the demo passphrase: ${file})`);
          if (app.downlink) console.log(`canopy: ${prefetchHint(site.contentUrl(SIM_DEMO_ITEM.item), c.mesh.baseTopic, tcp)}`);
        } catch (e) {
          await stopPhones();
          throw e;
        }
      }
      const stop = new AbortController();
      const finished = site.runRealTime({ speed: sim.speed, signal: stop.signal });
      return async () => {
        await stopPhones();
        stop.abort();
        await finished;
      };
    },
  };
}

/** The bridge request that prefetches the demo item into the phone's hot cache (docs/prefetch.md). */
export function prefetchHint(url: string, baseTopic: string, port: number): string {
  const request = JSON.stringify({ item: SIM_DEMO_ITEM.item, url, class: 'hot' });
  return `the downlink prefetches into the phone's hot cache from the simulated content server, through the satellite; as an admin: mosquitto_pub -p ${port} -u admin -P PASSWORD -t ${baseTopic}/bridge/request/cache/prefetch -m '${request}' (its progress: ${baseTopic}/relay/downlink)`;
}

/** What `canopy backup` needs to find this data directory from here: nothing when it finds it by itself. */
function dataFlag(dir: string): string {
  try {
    if (resolve(dataDir(storeConfig(undefined).config)) === resolve(dir)) return '';
  } catch {
    // A configuration the store commands cannot read: name the directory.
  }
  return ` --data ${dir}`;
}
