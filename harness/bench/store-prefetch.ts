/**
 * The `store` bench's prefetch figures (docs/prefetch.md): in one simulated day, the dish energy per
 * GB of the downlink's bulk prefetch (waiting for the midday surplus) against the same items
 * fetched at once when asked (`now`).
 *
 * The day: the clear-summer-day scenario from 00:00 UTC with six drones (the budget's decisions do
 * not need the full net, and a day of 25 takes minutes), run once as fast as it goes; every
 * simulated minute the power budget's grant and surplus are kept, with the satellite's contact
 * windows. Then twice over that day, once as bulk prefetches and once with `now`, the same items are
 * asked at the same times of the controller's Downlink, which fills the hot cache of a real phone
 * agent over a real mesh from the simulator's content server behind the simulated satellite link
 * (the scenario's capacity). The day is followed by the same day again (its budget and windows),
 * so an item asked in the evening comes at the next midday. The clock jumps a minute at a time while no item may go, and follows
 * real time while one may, so the time the downlink holds the link is the transfer's.
 *
 *   prefetch_wh_per_gb          dish energy per GB of the prefetch run, as the downlink counts it (the
 *                               budget's dish watts × the time the downlink held the link)
 *   now_wh_per_gb               the same for the run that fetched each item when asked
 *   prefetch_vs_now_wh_per_gb   the first ÷ the second
 *   prefetch_battery_wh_per_gb  of prefetch_wh_per_gb, what the station battery paid (charged while
 *   now_battery_wh_per_gb       the budget's surplus did not cover the dish); and for `now`
 *   prefetch_wait_h_median      hours from asking to done, median over the items (the price of waiting)
 *   now_wait_h_median
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Figures } from '../../controller/commands/bench.ts';
import { Downlink } from '../../controller/relay/downlink.ts';
import { hotCache, MeshRequester } from '../../controller/relay/hot-cache.ts';
import { ChunkStore } from '../../controller/store/chunk-store.ts';
import { PhoneAgent } from '../../controller/store/phone-agent.ts';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { ContentServer } from '../../sim/content-server.ts';
import { DISH_PROFILES, isInContact, SatelliteLink } from '../../sim/satellite.ts';
import { loadScenario } from '../../sim/scenario.ts';
import type { ContactWindow } from '../../controller/relay/contact-plan.ts';
import { SimulatedSite } from '../simulated-site.ts';
import { password, startMesh } from '../rigs/mesh.ts';
import { median } from './stats.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const GB = 1e9;

/** The power budget's grant and surplus, minute by minute, over the day. */
interface Day {
  start: number;
  granted: boolean[];
  surplus: boolean[];
  contacts: ContactWindow[];
  capacityBitsPerSec: number;
  dishW: number;
}

async function simulatedDay(): Promise<Day> {
  const base = loadScenario('clear-summer-day');
  const start = new Date(base.start);
  start.setUTCHours(0, 0, 0, 0);
  const site = new SimulatedSite({ scenario: { ...base, swarm: { ...base.swarm, drones: 6 }, start: start.toISOString(), duration: DAY }, seed: 1 });
  const granted: boolean[] = [];
  const surplus: boolean[] = [];
  await site.start();
  try {
    await site.runFast(DAY, {
      sampleEveryMs: MIN,
      onSample: () => {
        const d = site.budget!.decisions;
        granted.push(d.uplinkGranted);
        surplus.push(d.uplinkOnSurplus);
      },
    });
  } finally {
    await site.stop();
  }
  return { start: start.getTime(), granted, surplus, contacts: site.sim.contacts, capacityBitsPerSec: base.satellite.capacityMbps * 1e6, dishW: DISH_PROFILES[base.satellite.dish].activeW };
}

interface Run {
  energyWh: number;
  batteryWh: number;
  bytes: number;
  waitsH: number[];
}

/** The day once through the downlink: `asks` items of `bytes` each at those times of day, bulk, `now` or not. */
async function runDay(work: string, day: Day, asks: number[], bytes: number, now: boolean): Promise<Run> {
  const dir = mkdtempSync(join(work, now ? 'now-' : 'prefetch-'));
  const clock = new ManualClock(day.start);
  // The day, then the same day again (an item asked in the evening waits for the next midday).
  const minute = () => Math.max(0, Math.floor((clock.now() - day.start) / MIN)) % day.granted.length;
  const contacts = [...day.contacts, ...day.contacts.map((w) => ({ ...w, start: w.start + DAY, end: w.end + DAY }))];
  const power = { granted: () => day.granted[minute()] ?? false, surplus: () => day.surplus[minute()] ?? false };
  const { mesh, url } = await startMesh({ clock });
  const store = new ChunkStore({ dir: join(dir, 'phone'), synchronous: 'NORMAL' });
  const phone = new PhoneAgent({ store, url, username: 'phone', password: password('phone'), name: 'phone' });
  const requester = new MeshRequester(mesh, 30_000);
  const server = new ContentServer();
  let downlink: Downlink | undefined;
  try {
    await phone.start();
    await requester.start();
    asks.forEach((_, i) => server.add(`item-${i}`, { bytes }));
    await server.start();
    const link = new SatelliteLink({ clock, targetPort: server.port, capacityBitsPerSec: day.capacityBitsPerSec, latencyMs: 40, windows: contacts, dish: 'standard', powered: false });
    await link.start();
    try {
      const d = new Downlink({
        path: join(dir, 'downlink.sqlite'),
        hot: hotCache('phone', requester.request),
        link: { ready: () => link.isUp, want: (on) => void link.setPowered(on).catch(() => {}) },
        power,
        plan: contacts,
        dishWatts: day.dishW,
        clock,
      });
      downlink = d;
      await d.start();
      const asked = new Map<string, number>();
      const doneAt = new Map<string, number>();
      const end = day.start + 2 * DAY;
      let stuckSince: number | undefined;
      while (clock.now() < end && doneAt.size < asks.length) {
        for (const [i, at] of asks.entries()) {
          const item = `item-${i}`;
          if (!asked.has(item) && clock.now() >= day.start + at) {
            asked.set(item, clock.now());
            await d.prefetch({ item, url: server.url(item, link.port), cls: 'bulk', now, requestedBy: 'bench', size: bytes });
          }
        }
        for (const item of asked.keys()) if (!doneAt.has(item) && d.get(item)?.state === 'done') doneAt.set(item, clock.now());
        const open = isInContact(contacts, clock.now());
        const mayGo = [...asked.keys()].some((item) => !doneAt.has(item)) && open && power.granted() && (now || power.surplus());
        if (!mayGo) {
          stuckSince = undefined;
          await clock.advanceAsync(MIN, 5000);
          continue;
        }
        // An item may go: the clock follows real time, so the downlink holds the link as long as the transfer takes.
        const t0 = performance.now();
        await sleep(20);
        await clock.advanceAsync(Math.round(performance.now() - t0), 1000);
        stuckSince ??= performance.now();
        if (performance.now() - stuckSince > 10 * 60_000) throw new Error(`the downlink made no headway for 10 minutes: ${JSON.stringify(d.snapshot())}`);
        if (d.snapshot().items.some((i) => i.state === 'fetching')) stuckSince = performance.now();
      }
      if (doneAt.size < asks.length) throw new Error(`not every item came within the two days: ${JSON.stringify(d.snapshot().items.map((i) => [i.item, i.state, i.reason]))}`);
      const s = d.snapshot();
      return { energyWh: s.energyWh, batteryWh: s.batteryWh, bytes: s.fetchedBytes, waitsH: [...doneAt].map(([item, at]) => (at - asked.get(item)!) / HOUR) };
    } finally {
      await downlink?.stop();
      await link.stop();
    }
  } finally {
    await requester.stop();
    await server.stop();
    await phone.stop();
    store.close();
    await mesh.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function prefetchFigures(work: string, quick: boolean, progress: (msg: string) => void): Promise<Figures> {
  progress('prefetch: a simulated day of the power budget (six drones)');
  const day = await simulatedDay();
  // Asked through the day: at night on the battery's grant, before dawn, mid-morning, noon, the evening.
  const asks = (quick ? [1, 9, 20] : [1, 5, 9, 12, 17, 20]).map((h) => h * HOUR);
  const bytes = (quick ? 8 : 32) * 1024 * 1024;
  progress(`prefetch: ${asks.length} items of ${bytes / 1024 / 1024} MiB as bulk prefetches, then fetched when asked`);
  const prefetch = await runDay(work, day, asks, bytes, false);
  const atOnce = await runDay(work, day, asks, bytes, true);
  const perGb = (wh: number, r: Run) => wh / (r.bytes / GB);
  return {
    prefetch_wh_per_gb: perGb(prefetch.energyWh, prefetch),
    now_wh_per_gb: perGb(atOnce.energyWh, atOnce),
    prefetch_vs_now_wh_per_gb: perGb(prefetch.energyWh, prefetch) / perGb(atOnce.energyWh, atOnce),
    prefetch_battery_wh_per_gb: perGb(prefetch.batteryWh, prefetch),
    now_battery_wh_per_gb: perGb(atOnce.batteryWh, atOnce),
    prefetch_wait_h_median: median(prefetch.waitsH),
    now_wait_h_median: median(atOnce.waitsH),
  };
}
