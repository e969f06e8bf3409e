/**
 * Bench suite `relay`: the uplink relay on an emulated satellite link (token bucket + latency on
 * loopback, sim/satellite.ts) that is only passable in contact windows, with outages
 * inside some windows.
 *   goodput_ratio            payload bytes delivered upstream ÷ (link capacity × time the link was
 *                            passable), with a backlog larger than the run can carry (goal ≥ 0.95)
 *   wh_per_gb_vs_always_on   dish Wh per GB delivered ÷ the same for a dish powered all the time,
 *                            for a backup trickle of a quarter of the link's capacity (goal ≤ 0.7)
 *   lost_after_kills         acknowledged items missing upstream after 50 SIGKILLs (goal 0)
 *   vs_mosquitto             Canopy goodput ÷ a Mosquitto bridge's goodput on the same link and
 *                            windows, where mosquitto is installed
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { Mesh } from '../../controller/mesh/mesh.ts';
import { Relay, type RelayEnergy, type RelayOptions } from '../../controller/relay/relay.ts';
import type { ContactWindow } from '../../controller/relay/contact-plan.ts';
import { LinkProxy } from '../../sim/satellite.ts';
import { hasCommand } from '../rigs/processes.ts';
import { runCrashTrial } from '../rigs/crash-trial.ts';
import { Upstream } from '../../sim/cloud.ts';
import { mosquittoGoodput } from './relay-mosquitto.ts';

const PREFIX = 'bench/site';

/** A contact window relative to the start of a run, with outages (ms offsets inside the window). */
export interface WindowSpec {
  start: number;
  length: number;
  outages: { at: number; length: number }[];
}

export interface LinkScenario {
  bytesPerSec: number;
  latencyMs: number;
  windows: WindowSpec[];
  itemBytes: number;
}

export interface LinkRunResult {
  /** Distinct payload bytes upstream when the last window closed. */
  deliveredBytes: number;
  /** Time the emulated link was passable, ms. */
  openMs: number;
  /** From the first window's start to the last window's end, ms. */
  runMs: number;
  energy: RelayEnergy;
}

/**
 * Drives the emulated link through the scenario's windows and outages. `load` puts items in
 * front of the link: called once before the first window with the relay (or broker) under test.
 */
export async function driveLink<T>(scenario: LinkScenario, setup: (link: LinkProxy, upstream: Upstream, windows: ContactWindow[]) => Promise<T>, teardown: (t: T) => Promise<void>): Promise<{ t: T; deliveredBytes: number; openMs: number; runMs: number }> {
  const upstream = await Upstream.start(PREFIX);
  const link = await LinkProxy.start({ targetPort: upstream.port, bytesPerSec: scenario.bytesPerSec, latencyMs: scenario.latencyMs });
  await link.takeDown();
  const base = Date.now() + 1500;
  const windows = scenario.windows.map((w) => ({ start: base + w.start, end: base + w.start + w.length }));
  const subject = await setup(link, upstream, windows);
  const timers: NodeJS.Timeout[] = [];
  const at = (time: number, fn: () => void) => timers.push(setTimeout(fn, Math.max(0, time - Date.now())));
  for (const w of scenario.windows) {
    at(base + w.start, () => void link.bringUp());
    for (const o of w.outages) {
      at(base + w.start + o.at, () => void link.takeDown());
      at(base + w.start + o.at + o.length, () => void link.bringUp());
    }
    at(base + w.start + w.length, () => void link.takeDown());
  }
  const last = scenario.windows[scenario.windows.length - 1]!;
  const end = base + last.start + last.length;
  await new Promise((resolve) => setTimeout(resolve, end - Date.now() + 50));
  const deliveredBytes = distinctBytes(upstream);
  const openMs = link.openMs();
  for (const t of timers) clearTimeout(t);
  await teardown(subject);
  await link.stop();
  await upstream.stop();
  return { t: subject, deliveredBytes, openMs, runMs: end - base };
}

function distinctBytes(upstream: Upstream): number {
  const seen = new Map<string, number>();
  for (const r of upstream.received) seen.set(r.id, r.body.length);
  let total = 0;
  for (const n of seen.values()) total += n;
  return total;
}

/** Runs Canopy's relay through the scenario. `feed` queues items (a backlog, or a trickle over time). */
async function canopyRun(scenario: LinkScenario, feed: (relay: Relay, windows: ContactWindow[]) => Promise<() => void>, relayOptions: Partial<RelayOptions> = {}): Promise<LinkRunResult> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-bench-relay-'));
  let energy!: RelayEnergy;
  const run = await driveLink(
    scenario,
    async (link, _upstream, windows) => {
      const mesh = new Mesh({ tcp: { host: '127.0.0.1', port: 0 }, ws: false });
      await mesh.start();
      const relay = new Relay({
        mesh,
        path: join(dir, 'outbox.db'),
        origin: 'bench',
        plan: windows,
        upstream: { url: `mqtt://127.0.0.1:${link.port}`, topicPrefix: PREFIX, backoffMs: { initial: 20, max: 100 } },
        ...relayOptions,
      });
      await relay.start();
      const stopFeed = await feed(relay, windows);
      return { mesh, relay, stopFeed };
    },
    async ({ mesh, relay, stopFeed }) => {
      stopFeed();
      energy = relay.energy();
      await relay.stop();
      await mesh.stop();
    },
  );
  rmSync(dir, { recursive: true, force: true });
  return { deliveredBytes: run.deliveredBytes, openMs: run.openMs, runMs: run.runMs, energy };
}

/** Queues `bytes` of bulk items before the first window. */
function backlog(bytes: number, itemBytes: number) {
  return async (relay: Relay) => {
    const body = new Uint8Array(itemBytes);
    const submissions: Promise<string>[] = [];
    for (let i = 0; i * itemBytes < bytes; i++) submissions.push(relay.submit('bulk', `backup/${i}`, body));
    await Promise.all(submissions);
    return () => {};
  };
}

/** Queues bulk items at `bytesPerSec` from now until stopped. */
function trickle(bytesPerSec: number, itemBytes: number) {
  return async (relay: Relay) => {
    const body = new Uint8Array(itemBytes);
    let n = 0;
    const timer = setInterval(() => void relay.submit('bulk', `backup/${n++}`, body).catch(() => {}), (1000 * itemBytes) / bytesPerSec);
    return () => clearInterval(timer);
  };
}

export function scenario(quick: boolean): LinkScenario {
  // Windows of 8 s every 10 s (full: 12 s every 15 s), the link lost for 0.5 s in every other
  // window; 1 MB/s (Starlink's median uplink is about 2 MB/s), 30 ms one way.
  const count = quick ? 3 : 5;
  const length = quick ? 8000 : 12_000;
  const period = quick ? 10_000 : 15_000;
  const windows = Array.from({ length: count }, (_, i) => ({ start: i * period, length, outages: i % 2 === 1 ? [{ at: length / 2, length: 500 }] : [] }));
  return { bytesPerSec: 1_000_000, latencyMs: 30, windows, itemBytes: 64 * 1024 };
}

export const suite: BenchSuite = {
  description: 'relay: goodput over contact windows and outages on an emulated link, dish energy vs always on, loss after SIGKILLs, vs a Mosquitto bridge',
  async run(progress, { quick }) {
    const figures: Figures = {};
    const s = scenario(quick);
    const totalWindowMs = s.windows.reduce((t, w) => t + w.length, 0);

    progress(`goodput: ${s.windows.length} windows, ${s.bytesPerSec / 1e6} MB/s, ${s.latencyMs} ms latency, backlog of 1.5× what the windows can carry`);
    const saturated = await canopyRun(s, backlog(1.5 * s.bytesPerSec * (totalWindowMs / 1000), s.itemBytes));
    const canopyGoodput = saturated.deliveredBytes / ((s.bytesPerSec * saturated.openMs) / 1000);
    figures.goodput_ratio = canopyGoodput;
    figures.delivered_mb = saturated.deliveredBytes / 1e6;
    figures.link_open_s = saturated.openMs / 1000;

    progress('energy: a backup trickle of 25% of the link, dish 75 W with 200 ms boot, bulk waits for 1 s of traffic or 2 windows');
    const period = s.windows[1] ? s.windows[1].start - s.windows[0]!.start : totalWindowMs;
    const light = await canopyRun(s, trickle(0.25 * s.bytesPerSec, s.itemBytes), {
      dish: { watts: 75, bootMs: 200, idleOffMs: 300 },
      bulkWake: { bytes: s.bytesPerSec, maxHoldMs: 2 * period },
    });
    const alwaysOnWh = (75 * light.runMs) / 3_600_000;
    figures.wh_per_gb_vs_always_on = light.energy.deliveredBytes > 0 ? light.energy.wh / alwaysOnWh : Number.NaN;

    const kills = 50;
    progress(`kills: ${quick ? 2000 : 5000} items, ${kills} SIGKILLs of the controller`);
    const crash = await runCrashTrial({ items: quick ? 2000 : 5000, kills, seed: 7, link: { bytesPerSec: 1_000_000, latencyMs: 100 }, progress });
    figures.lost_after_kills = crash.lost + crash.corrupted + crash.twiceAfterDedup;
    figures.resent_copies_dropped = crash.duplicatesDropped;

    if (hasCommand('mosquitto')) {
      progress('vs_mosquitto: the same backlog through a Mosquitto bridge on the same link and windows');
      figures.vs_mosquitto = canopyGoodput / (await mosquittoGoodput(s, 1.5 * s.bytesPerSec * (totalWindowMs / 1000)));
    } else {
      figures.vs_mosquitto = 'skipped: mosquitto not installed (apt-get install mosquitto)';
    }
    return figures;
  },
};
