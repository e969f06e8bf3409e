/**
 * The downlink end to end with the phone's real store agent: the controller's mesh (aedes), the
 * phone agent (PhoneAgent, its chunk store's hot class with a quota) answering hot-write and
 * hot-status over MQTT, and the simulator's content server behind the simulated satellite link
 * (sim/satellite.ts), up only while the dish is powered in a contact window of the fake clock.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CanopyError } from '../../../common/errors.ts';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { Downlink } from '../../../controller/relay/downlink.ts';
import { hotCache, MeshRequester } from '../../../controller/relay/hot-cache.ts';
import { ChunkStore } from '../../../controller/store/chunk-store.ts';
import { PhoneAgent } from '../../../controller/store/phone-agent.ts';
import { ContentServer, contentBytes } from '../../../sim/content-server.ts';
import { DISH_PROFILES, SatelliteLink } from '../../../sim/satellite.ts';
import { password, startMesh } from '../../../harness/rigs/mesh.ts';

const T0 = Date.UTC(2026, 5, 21, 10, 0, 0);
const MIN = 60_000;
const PART = 32 * 1024;
const SIZE = 40 * PART + 1234;
const QUOTA = 64 * PART;
const WINDOWS = [
  { start: T0 + 1 * MIN, end: T0 + 11 * MIN },
  { start: T0 + 30 * MIN, end: T0 + 40 * MIN },
];

async function site(t: TestContext) {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-downlink-phone-'));
  const clock = new ManualClock(T0);
  const { mesh, url } = await startMesh({ clock });
  const store = new ChunkStore({ dir: join(dir, 'phone'), quotas: { hot: QUOTA } });
  const phone = new PhoneAgent({ store, url, username: 'phone', password: password('phone'), name: 'phone', hotPartBytes: PART });
  await phone.start();
  const requester = new MeshRequester(mesh, 5000);
  await requester.start();
  const server = new ContentServer();
  server.add('ep', { bytes: SIZE });
  server.add('huge', { bytes: QUOTA + 3 * PART });
  await server.start();
  // A thin satellite (2 Mbit/s), so a window's close and a restart land in the middle of a request.
  const satellite = new SatelliteLink({ clock, targetPort: server.port, capacityBitsPerSec: 2e6, latencyMs: 5, windows: WINDOWS, dish: 'standard', powered: false });
  await satellite.start();
  const made: Downlink[] = [];
  /** What the power budget says: the sun pays for the dish (surplus), or the station battery does. */
  const power = { surplus: true };
  t.after(async () => {
    for (const d of made) await d.stop();
    await requester.stop();
    await satellite.stop();
    await server.stop();
    await phone.stop();
    store.close();
    await mesh.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = () => {
    const d = new Downlink({
      path: join(dir, 'downlink.sqlite'),
      hot: hotCache('phone', requester.request),
      link: { ready: () => satellite.isUp, want: (on) => void satellite.setPowered(on).catch(() => {}) },
      power: { granted: () => true, surplus: () => power.surplus },
      plan: WINDOWS,
      dishWatts: DISH_PROFILES.standard.activeW,
      spanParts: 8,
      pollMs: 1000,
      stallMs: 5000,
      mesh,
      clock,
    });
    made.push(d);
    return d;
  };
  /** Moves the fake clock a second at a time, letting real time pass for the transfer, until `done`. */
  const pump = async (done: () => boolean, what: string, maxSteps = 400) => {
    for (let i = 0; i < maxSteps; i++) {
      if (done()) return;
      await clock.advanceAsync(1000, 1000);
      await sleep(25);
    }
    if (!done()) throw new Error(`${what}: not within ${maxSteps} steps`);
  };
  return { clock, mesh, phone, server, satellite, power, make, pump, url: (item: string) => server.url(item, satellite.port) };
}

test('with the real phone agent: an item across two windows, the downlink restarted mid-item, no byte taken twice; an item over the hot quota refused', async (t) => {
  const s = await site(t);
  let d = s.make();
  await d.start();
  await d.prefetch({ item: 'ep', url: s.url('ep'), cls: 'hot', title: 'Episode 1', mime: 'audio/mpeg', requestedBy: 'admin' });
  // No window yet: nothing asked upstream.
  await s.clock.advanceAsync(30_000, 1000);
  assert.equal(d.get('ep')?.state, 'waiting-window');
  assert.equal(s.server.requests, 0);
  assert.equal(s.satellite.powered, false, 'the dish stays off outside a window');

  // Window 1 opens: the dish comes up for the downlink and the item (hot: it does not wait for the
  // sun) comes, paid by the station battery, until the window closes mid-item.
  s.power.surplus = false;
  await s.clock.advanceAsync(WINDOWS[0]!.start - s.clock.now(), 1000);
  await s.pump(() => (d.get('ep')?.have ?? 0) >= 12 * PART, 'a third of the item in window 1');
  assert.equal(s.satellite.powered, true);
  await s.clock.advanceAsync(WINDOWS[0]!.end - s.clock.now(), 1000);
  await s.pump(() => d.get('ep')?.state === 'waiting-window', 'window 1 closed');
  const afterFirst = s.phone.hot.status('ep');
  assert.ok(afterFirst.have >= 12 * PART && afterFirst.have < SIZE, `window 1 left the item incomplete (${afterFirst.have} of ${SIZE})`);
  assert.match(d.get('ep')!.reason!, /no contact window open; the next opens at 10:30 UTC/);
  await s.pump(() => !s.satellite.powered, 'the dish given back');
  const paid = d.snapshot();
  assert.ok(paid.energyWh > 0 && Math.abs(paid.batteryWh - paid.energyWh) < 1e-9, `window 1's dish energy all on the battery (${paid.batteryWh} of ${paid.energyWh} Wh)`);
  s.power.surplus = true;

  // Window 2: resumed from the phone's missing ranges; the downlink is restarted in the middle of it.
  await s.clock.advanceAsync(WINDOWS[1]!.start - s.clock.now(), 1000);
  await s.pump(() => (d.get('ep')?.have ?? 0) >= afterFirst.have + 10 * PART, 'more of the item in window 2');
  await d.stop();
  const beforeRestart = s.phone.hot.status('ep');
  assert.ok(!beforeRestart.complete, 'stopped mid-item');
  d = s.make();
  await d.start();
  await s.pump(() => d.get('ep')?.state === 'done', 'the item complete after the restart');
  assert.ok(s.clock.now() < WINDOWS[1]!.end, 'done within window 2');

  const status = s.phone.hot.status('ep');
  assert.equal(status.complete, true);
  assert.equal(status.total, SIZE);
  assert.equal(status.title, 'Episode 1');
  assert.equal(status.mime, 'audio/mpeg');
  const parts = Math.ceil(SIZE / PART);
  const cached = Buffer.concat(Array.from({ length: parts }, (_, i) => Buffer.from(s.phone.hot.readPart('ep', i)!)));
  assert.deepEqual(cached, contentBytes('ep', 0, SIZE));
  // Every byte came into the downlink once, across both windows and the restart.
  assert.equal(d.get('ep')!.fetchedBytes, SIZE);
  // At the content server: each request starts where what had come down ended — never back over
  // bytes the downlink had (only what the cuts lost on the wire was sent again).
  const served = s.server.served.filter((r) => r.item === 'ep');
  assert.ok(served.length >= 3, `requests in both windows: ${s.server.ranges.join(', ')}`);
  for (const [i, r] of served.entries()) {
    if (i === 0) continue;
    const prev = served[i - 1]!;
    assert.ok(r.start > prev.start && r.start <= prev.start + prev.sent, `request ${i} (${s.server.ranges[i]}) starts after request ${i - 1}'s first byte and no later than its last sent (${prev.start}+${prev.sent})`);
  }
  const again = s.server.sentTwice('ep');
  assert.ok(again <= s.server.bytesServed - SIZE, 'what was sent twice is the surplus over the item');
  assert.equal(s.server.bytesServed - again, SIZE, `the server sent each byte of the item (${SIZE}), ${again} bytes twice (lost on the wire at the cuts)`);
  t.diagnostic(`requests: ${s.server.ranges.join(', ')}; sent twice at the cuts: ${again} bytes`);
  const snap = d.snapshot();
  assert.ok(snap.energyWh > paid.energyWh && snap.whPerGb !== null, 'the dish energy of window 2 counted');
  assert.ok(Math.abs(snap.batteryWh - paid.batteryWh) < 1e-9, 'window 2 on the sun\'s surplus: nothing more on the battery (kept across the restart)');

  // Over the quota: refused at the first answer (its Content-Range gives the size), nothing written;
  // asked again with its size, refused at once. Both with the numbers.
  await d.prefetch({ item: 'huge', url: s.url('huge'), requestedBy: 'admin', cls: 'hot' });
  await s.pump(() => d.get('huge')?.state === 'refused', 'the large item refused');
  assert.match(d.get('huge')!.reason!, new RegExp(`item "huge" is ${QUOTA + 3 * PART} bytes .*hot quota of ${QUOTA} bytes \\(.*; ${s.phone.hot.list().usedBytes} bytes in use by other items\\)`));
  assert.equal(s.phone.hot.find('huge'), undefined, 'nothing of it in the cache');
  assert.equal(s.phone.hot.status('ep').complete, true, 'the cached item kept');
  await assert.rejects(d.prefetch({ item: 'huge', url: s.url('huge'), requestedBy: 'admin', size: QUOTA + 3 * PART }), (e: CanopyError) => {
    assert.equal(e.code, 'CANOPY_ERR_STORE_QUOTA');
    assert.match(e.message, new RegExp(`is ${QUOTA + 3 * PART} bytes .*hot quota of ${QUOTA} bytes`));
    return true;
  });
});
