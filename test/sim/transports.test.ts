/**
 * The simulator is a peer on the same transports as real drones: its radios served over TCP, UDP
 * and a serial pseudo-terminal (socat), with Canopy's ground station on the other end, in real
 * time. The ground station finds every virtual ArduCopter and a command round-trips.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import { minimal } from 'mavlink-mappings';
import { VehicleActions } from '../../firmware-bridge/actions.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { serveSim } from '../../sim/serve.ts';
import { loadScenario, type Scenario } from '../../sim/scenario.ts';
import { eventually } from '../helpers/events.ts';
import { freePort } from '../../harness/rigs/ports.ts';
import { PtyPair } from '../helpers/pty.ts';
import { needCommand } from '../helpers/tools.ts';

function threeDrones(): Scenario {
  const s = loadScenario('clear-summer-day');
  return { ...s, swarm: { ...s.swarm, drones: 3 } };
}

async function flyOver(t: TestContext, simUrl: string, gsUrl: string): Promise<void> {
  const served = await serveSim(threeDrones(), { seed: 2, urls: [simUrl] });
  t.after(() => served.stop());
  const clock = new SystemClock();
  const gs = new GroundStation({ clock, droneLinks: [{ link: createLink(gsUrl, { clock }), name: 'radio' }] });
  await gs.start();
  t.after(() => gs.stop());
  await eventually(() => gs.vehicles.list().filter((v) => v.compid === 1).length === 3, 20_000, 'three vehicles found');
  const v = gs.vehicles.list().find((x) => x.sysid === 2)!;
  assert.equal(v.autopilot, minimal.MavAutopilot.ARDUPILOTMEGA);
  assert.equal(v.mode, 'STABILIZE');
  // GPS needs 20 simulated seconds for a fix; GUIDED is refused before (ArduCopter's rule).
  await eventually(() => (v.telemetry.gpsFix ?? 0) >= 3, 30_000, 'GPS fix');
  const r = await new VehicleActions(v.port).setModeByName(v.autopilot, 'GUIDED');
  assert.equal(r.ok, true, `GUIDED accepted: ${JSON.stringify(r)}`);
  await eventually(() => v.mode === 'GUIDED', 5000, 'mode shows in HEARTBEAT');
  assert.equal(served.sim.world.drone(2)!.mode, 'GUIDED');
}

test('over TCP (the sim serves tcpin, the ground station connects)', { timeout: 90_000 }, async (t) => {
  const port = await freePort();
  await flyOver(t, `tcpin://127.0.0.1:${port}`, `tcp://127.0.0.1:${port}`);
});

test('over UDP (udpin on the ground station, udpout from the sim)', { timeout: 90_000 }, async (t) => {
  const port = await freePort();
  await flyOver(t, `udpout://127.0.0.1:${port}`, `udpin://127.0.0.1:${port}`);
});

test('over a serial pseudo-terminal pair (socat), as a SiK radio on USB', { timeout: 90_000 }, async (t) => {
  if (!needCommand(t, 'socat')) return;
  const pty = new PtyPair();
  await pty.start();
  t.after(() => pty.dispose());
  await flyOver(t, `serial:${pty.a}?baud=57600`, `serial:${pty.b}?baud=57600`);
});
