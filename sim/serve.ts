/**
 * The simulated swarm as a separate peer on real transports: each ground radio's bytes are
 * carried over a link URL (tcpin://, udpin://, udpout://, a serial device or a socat
 * pseudo-terminal), so any ground station — Canopy's `start --link`, MAVProxy, QGroundControl —
 * talks to the virtual ArduCopters exactly as it would to a SiK radio on USB. Runs on the wall
 * clock (`speed` × real time).
 */
import { createLink } from '../firmware-bridge/links/index.ts';
import type { Link } from '../firmware-bridge/links/link.ts';
import { buildSim, type BuiltSim } from './build.ts';
import { runRealTime } from './runner.ts';
import { SimSikAt, sikRegistersFor } from './sik-at.ts';
import type { Scenario } from './scenario.ts';

export interface ServedSim {
  sim: BuiltSim;
  links: Link[];
  /** Resolves when stopped. */
  done: Promise<number>;
  stop(): Promise<void>;
}

/** Serves `scenario`'s radios on `urls` (one URL per radio; extra radios are not allowed). */
export async function serveSim(scenario: Scenario, opts: { seed: number; urls: string[]; speed?: number }): Promise<ServedSim> {
  const s: Scenario = { ...scenario, radios: { ...scenario.radios, count: opts.urls.length } };
  const sim = buildSim(s, opts.seed);
  const links = opts.urls.map((url) => createLink(url, { clock: sim.clock }));
  await sim.world.start();
  sim.radios.forEach((radio, i) => {
    const outside = links[i]!;
    // The radio's ground end is the USB serial side of a SiK radio: bytes both ways, unframed,
    // through its AT command mode (`canopy radio setup` answers against it; sik-at.ts).
    const at = new SimSikAt({ clock: sim.clock, eeprom: sikRegistersFor(s.radios), output: (d) => outside.write(d), air: (d) => radio.ground.write(d) });
    radio.ground.on('data', (chunk) => at.fromAir(chunk));
    outside.on('data', (chunk) => at.input(chunk));
  });
  for (const l of links) await l.start();
  const abort = new AbortController();
  const done = runRealTime(sim.world, { speed: opts.speed ?? 1, signal: abort.signal, beforeStep: (now) => void sim.due(now) });
  return {
    sim,
    links,
    done,
    async stop() {
      abort.abort();
      await done;
      for (const l of links) await l.stop();
      await sim.world.stop();
    },
  };
}
