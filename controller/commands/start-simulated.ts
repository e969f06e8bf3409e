/**
 * `canopy start` without drone links: the whole site simulated at 1× (or `--speed N`) on any
 * machine — 25 virtual ArduCopters on a shaped SiK radio, the controller flying the net by the
 * power budget, the MQTT mesh (TCP for tools and phones, WebSocket for the dashboard) with the
 * drones, power and uplink on it, QGroundControl fed on udp 14550, and the uplink relay sending
 * through the simulated satellite link (contact windows, dish power) to a simulated cloud broker.
 */
import { join } from 'node:path';
import { CanopyError } from '../../firmware-bridge/errors.ts';
import { streamLogger } from '../../firmware-bridge/log.ts';
import { loadScenario } from '../../sim/scenario.ts';
import { ensureUsers } from '../credentials.ts';
import { formatFleet } from '../fleet-table.ts';
import { SimulatedSite } from '../simulated-site.ts';

export interface SimulatedStartOptions {
  scenario: string;
  /** UTC time of day the simulated clock starts at, on the scenario's date ("06:40"), or an ISO time. */
  at?: string;
  speed: number;
  seed: number;
  dataDir: string;
  gcs: string[];
  mqttPort: number;
  wsPort: number;
  statusEveryS: number;
  runForS?: number;
  tlog?: string;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
}

function startTime(scenarioStart: string, at: string | undefined): string {
  if (!at) return scenarioStart;
  if (/^\d{1,2}:\d{2}$/.test(at)) {
    const [h, m] = at.split(':').map(Number);
    const d = new Date(scenarioStart);
    d.setUTCHours(h!, m!, 0, 0);
    return d.toISOString();
  }
  if (Number.isNaN(Date.parse(at))) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--sim-at "${at}": write HH:MM (UTC) or an ISO 8601 time`);
  return new Date(at).toISOString();
}

export async function runSimulated(o: SimulatedStartOptions): Promise<number> {
  const base = loadScenario(o.scenario);
  const scenario = { ...base, start: startTime(base.start, o.at) };
  const log = streamLogger({ level: o.logLevel, namespace: 'canopy', write: (line) => process.stderr.write(`${line}\n`) });
  const { users, created } = await ensureUsers(o.dataDir);

  const site = await SimulatedSite.withUplink({
    scenario,
    seed: o.seed,
    tlog: o.tlog,
    log,
    gcs: o.gcs,
    mesh: { users, tcp: { port: o.mqttPort }, ws: { port: o.wsPort } },
    outboxPath: join(o.dataDir, 'outbox.sqlite'),
  });
  const satellite = site.satellite!;
  await site.start();

  const mesh = site.gs.mesh!.addresses();
  console.log(`canopy: simulated site "${scenario.name}" (${scenario.swarm.drones} drones, ${scenario.location.latitudeDeg}°, ${scenario.location.longitudeDeg}°) from ${scenario.start} at ${o.speed}× real time`);
  console.log(`canopy: MQTT on mqtt://localhost:${mesh.tcp}, WebSocket on ws://localhost:${mesh.ws}; QGroundControl on ${o.gcs.join(', ')}`);
  if (created) {
    console.log(`canopy: created the mesh admin (first start): username "${created.username}", password "${created.password}"`);
    console.log(`canopy: only its hash is kept, in ${created.file}; anonymous access is off`);
  }

  const stop = new AbortController();
  const status =
    o.statusEveryS > 0
      ? setInterval(() => {
          const b = site.budget;
          const st = site.site.fleet.status();
          console.log(`${new Date(site.clock.now()).toISOString().slice(0, 19)}Z  net ${st.manned}/${st.stations} stations  sun ${b ? b.perDrone.solarW.toFixed(0) : '?'} W/drone vs hover ${b ? b.perDrone.hoverW.toFixed(0) : '?'} W  station battery ${b ? (b.stationBattery.soc * 100).toFixed(0) : '?'} %  uplink ${b?.decisions.uplinkGranted ? 'granted' : 'off'}${satellite.inContact ? '' : ' (no satellite in view)'}`);
          console.log(formatFleet(site.gs.vehicles.list(), site.clock.now()));
        }, o.statusEveryS * 1000)
      : undefined;
  const finished = site.runRealTime({ speed: o.speed, signal: stop.signal });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (o.runForS) setTimeout(resolve, o.runForS * 1000);
  });
  stop.abort();
  await finished;
  if (status) clearInterval(status);
  await site.stop();
  return 0;
}
