/**
 * The downlink's scheduler and fetcher against the simulated content server on loopback and a
 * small in-memory hot cache that keeps the contract's rules (aligned parts, idempotent writes, the
 * quota, missing ranges). The phone's real agent is in downlink-phone.test.ts.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CanopyError } from '../../../common/errors.ts';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { Downlink, type DownlinkOptions } from '../../../controller/relay/downlink.ts';
import type { HotCache, HotList, HotStatus, HotWrite } from '../../../controller/relay/hot-cache.ts';
import { ContentServer, contentBytes } from '../../../sim/content-server.ts';
import { LinkProxy } from '../../../sim/satellite.ts';
import { eventually } from '../../helpers/events.ts';

const T0 = Date.UTC(2026, 5, 21, 10, 0, 0);
const PART = 16 * 1024;
const MIN = 60_000;

/** The contract's hot cache, in memory. */
class MemoryHot implements HotCache {
  readonly agent = 'phone';
  readonly items = new Map<string, { total: number | null; parts: Map<number, Buffer>; mime: string }>();
  writes = 0;
  /** While set, every op fails as an absent phone's would. */
  away = false;
  deleted: string[] = [];
  constructor(readonly quotaBytes: number | null = null) {}

  private used(): number {
    let n = 0;
    for (const i of this.items.values()) for (const p of i.parts.values()) n += p.length;
    return n;
  }

  private check(): void {
    if (this.away) throw new CanopyError('CANOPY_ERR_TIMEOUT', 'store agent "phone" did not answer within 10 ms');
  }

  statusOf(item: string): HotStatus | undefined {
    const i = this.items.get(item);
    if (!i) return undefined;
    let have = 0;
    for (const p of i.parts.values()) have += p.length;
    let contiguous = 0;
    while (i.parts.has(contiguous / PART)) contiguous += i.parts.get(contiguous / PART)!.length;
    const missing: [number, number][] = [];
    if (i.total !== null) {
      for (let off = 0; off < i.total; off += PART) {
        if (i.parts.has(off / PART)) continue;
        const end = Math.min(i.total, off + PART);
        const last = missing[missing.length - 1];
        if (last && last[1] === off) last[1] = end;
        else missing.push([off, end]);
      }
    }
    return { item, mime: i.mime, total: i.total, partBytes: PART, have, contiguous, missing, complete: i.total !== null && have === i.total, updatedAt: 0 };
  }

  readonly log: string[] = [];
  async write(req: HotWrite, body: Uint8Array): Promise<HotStatus> {
    this.log.push(`${req.offset}+${body.length}`);
    this.check();
    if (req.offset % PART !== 0) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `offset ${req.offset} is not a multiple of ${PART}`);
    const ends = req.total !== undefined && req.offset + body.length === req.total;
    if (body.length !== PART && !ends) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `a part of ${body.length} bytes`);
    if (this.quotaBytes !== null && req.total !== undefined && req.total > this.quotaBytes) throw new CanopyError('CANOPY_ERR_STORE_QUOTA', `item ${req.item} is ${req.total} bytes, the quota ${this.quotaBytes}`);
    const i = this.items.get(req.item) ?? { total: req.total ?? null, parts: new Map(), mime: req.mime ?? 'application/octet-stream' };
    if (req.total !== undefined) i.total = req.total;
    this.items.set(req.item, i);
    if (!i.parts.has(req.offset / PART)) {
      this.writes++;
      i.parts.set(req.offset / PART, Buffer.from(body));
    }
    return this.statusOf(req.item)!;
  }

  async status(item: string): Promise<HotStatus | undefined> {
    this.check();
    return this.statusOf(item);
  }

  async list(): Promise<HotList> {
    this.check();
    return { items: [...this.items.keys()].map((k) => this.statusOf(k)!), usedBytes: this.used(), quotaBytes: this.quotaBytes, partBytes: PART };
  }

  async delete(item: string): Promise<boolean> {
    this.check();
    this.deleted.push(item);
    return this.items.delete(item);
  }

  /** The item's bytes as cached, in order. */
  bytes(item: string): Buffer {
    const i = this.items.get(item)!;
    return Buffer.concat([...i.parts.entries()].sort((a, b) => a[0] - b[0]).map(([, b]) => b));
  }
}

interface Rig {
  clock: ManualClock;
  server: ContentServer;
  hot: MemoryHot;
  power: { granted: boolean; surplus: boolean };
  link: { ready: boolean; wants: boolean[] };
  dir: string;
  make: (over?: Partial<DownlinkOptions>) => Downlink;
}

async function rig(t: TestContext, opts: { quota?: number | null; ranges?: boolean; pieceBytes?: number; pieceDelayMs?: number } = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-downlink-'));
  const clock = new ManualClock(T0);
  const server = new ContentServer({ ranges: opts.ranges, pieceBytes: opts.pieceBytes, pieceDelayMs: opts.pieceDelayMs });
  await server.start();
  const hot = new MemoryHot(opts.quota ?? null);
  const power = { granted: true, surplus: true };
  const link = { ready: true, wants: [] as boolean[] };
  const made: Downlink[] = [];
  t.after(async () => {
    for (const d of made) await d.stop();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const make = (over: Partial<DownlinkOptions> = {}) => {
    const d = new Downlink({
      path: join(dir, 'downlink.db'),
      hot,
      link: { ready: () => link.ready, want: (on) => link.wants.push(on) },
      power: { granted: () => power.granted, surplus: () => power.surplus },
      spanParts: 4,
      stallMs: 5000,
      clock,
      ...over,
    });
    made.push(d);
    return d;
  };
  return { clock, server, hot, power, link, dir, make };
}

const settled = (d: Downlink, item: string, state: string, what = `${item} ${state}`) => eventually(() => d.get(item)?.state === state, 10_000, what);

test('window closed: nothing is fetched; the window opens and the item comes, each byte once', async (t) => {
  const r = await rig(t);
  r.server.add('ep1', { bytes: 10 * PART + 123 });
  const d = r.make({ plan: [{ start: T0 + 10 * MIN, end: T0 + 20 * MIN }] });
  await d.start();
  await d.prefetch({ item: 'ep1', url: r.server.url('ep1'), requestedBy: 'admin' });
  await r.clock.advanceAsync(5 * MIN, 5000);
  assert.equal(d.get('ep1')?.state, 'waiting-window');
  assert.match(d.get('ep1')!.reason!, /no contact window open; the next opens at 10:10 UTC/);
  assert.equal(r.server.requests, 0);
  assert.equal(r.link.wants.includes(true), false, 'the dish is not asked for outside a window');
  await r.clock.advanceAsync(6 * MIN, 5000);
  await settled(d, 'ep1', 'done');
  const v = d.get('ep1')!;
  assert.equal(v.total, 10 * PART + 123);
  assert.equal(v.fetchedBytes, v.total, 'every byte fetched once');
  assert.deepEqual(r.hot.bytes('ep1'), contentBytes('ep1', 0, v.total!));
  // Requests are aligned Range requests of at most spanParts parts (RFC 9110 §14.1.2).
  // The size came with the first answer's Content-Range: the last request stops at the item's end.
  assert.deepEqual(r.server.ranges, [`bytes=0-${4 * PART - 1}`, `bytes=${4 * PART}-${8 * PART - 1}`, `bytes=${8 * PART}-${v.total! - 1}`]);
  await eventually(() => r.link.wants.at(-1) === false, 5000, 'the link given back');
});

test('the grant denied: the item waits for energy; a bulk item waits for the surplus unless asked to go now', async (t) => {
  const r = await rig(t);
  r.server.add('a', { bytes: 3 * PART });
  r.server.add('b', { bytes: 2 * PART });
  r.power.granted = false;
  const d = r.make();
  await d.start();
  await d.prefetch({ item: 'a', url: r.server.url('a'), requestedBy: 'admin' });
  await r.clock.advanceAsync(30_000, 5000);
  assert.equal(d.get('a')?.state, 'waiting-energy');
  assert.match(d.get('a')!.reason!, /does not grant the dish/);
  assert.equal(r.server.requests, 0);
  // Granted, but the battery pays, not the sun: bulk still waits; one asked to go now goes.
  r.power.granted = true;
  r.power.surplus = false;
  await r.clock.advanceAsync(10_000, 5000);
  assert.equal(d.get('a')?.state, 'waiting-energy');
  assert.match(d.get('a')!.reason!, /midday surplus/);
  await d.prefetch({ item: 'b', url: r.server.url('b'), requestedBy: 'admin', now: true });
  await settled(d, 'b', 'done');
  assert.equal(d.get('a')?.state, 'waiting-energy');
  assert.equal(r.server.requests, 1);
  r.power.surplus = true;
  await r.clock.advanceAsync(10_000, 5000);
  await settled(d, 'a', 'done');
  assert.equal(d.get('a')!.fetchedBytes, 3 * PART);
});

test('a large item across several windows within each window\'s byte budget, nothing fetched twice', async (t) => {
  const r = await rig(t);
  const size = 10 * PART + 7;
  r.server.add('big', { bytes: size });
  const windows = [0, 1, 2, 3].map((i) => ({ start: T0 + i * 20 * MIN, end: T0 + i * 20 * MIN + 5 * MIN }));
  const d = r.make({ plan: windows, windowBytes: 4 * PART });
  await d.start();
  await d.prefetch({ item: 'big', url: r.server.url('big'), requestedBy: 'admin' });
  await eventually(() => d.get('big')?.have === 4 * PART && d.get('big')?.state === 'waiting-window', 10_000, 'first window used');
  assert.match(d.get('big')!.reason!, /budget/);
  assert.equal(d.snapshot().windowBytes?.used, 4 * PART);
  await r.clock.advanceAsync(20 * MIN, 10_000);
  await eventually(() => d.get('big')?.have === 8 * PART, 10_000, 'second window used');
  await r.clock.advanceAsync(20 * MIN, 10_000);
  await settled(d, 'big', 'done');
  assert.equal(d.get('big')!.fetchedBytes, size);
  assert.deepEqual(r.hot.bytes('big'), contentBytes('big', 0, size));
});

test('a restart of Canopy mid-part resumes after the bytes kept: no byte fetched twice', async (t) => {
  const r = await rig(t);
  const size = 12 * PART;
  r.server.add('slow', { bytes: size });
  // A thin link, so the stop lands mid-request.
  const proxy = await LinkProxy.start({ targetPort: r.server.port, bytesPerSec: 40 * 1024 });
  t.after(() => proxy.stop());
  const url = r.server.url('slow', proxy.port);
  const first = r.make();
  await first.start();
  await first.prefetch({ item: 'slow', url, requestedBy: 'admin' });
  await eventually(() => (first.get('slow')?.fetchedBytes ?? 0) > PART + PART / 2, 10_000, 'some parts fetched');
  await first.stop();
  const before = r.hot.statusOf('slow')!;
  assert.ok(before.have < size, 'stopped mid-item');
  const second = r.make();
  await second.start();
  const kept = second.get('slow')!;
  assert.ok(kept.fetchedBytes > before.have, `the bytes of the part under way were kept (${kept.fetchedBytes} fetched, ${before.have} written)`);
  await settled(second, 'slow', 'done');
  assert.equal(second.get('slow')!.fetchedBytes, size, `fetched in all: the item, once (${r.server.ranges.join(', ')}; kept ${kept.fetchedBytes}, written ${before.have}; writes ${r.hot.log.join(' ')})`);
  assert.deepEqual(r.hot.bytes('slow'), contentBytes('slow', 0, size));
  // The resumed request started after the kept bytes, not at a part boundary.
  const resumed = r.server.ranges.find((h) => h !== undefined && !(Number(/bytes=(\d+)/.exec(h)![1]) % PART === 0));
  assert.ok(resumed, `a request started mid-part: ${r.server.ranges.join(', ')}`);
});

test('chunks that end exactly on a part boundary mid-response: every part written where it belongs, none fetched twice', async (t) => {
  // The server writes one part at a time with a pause, so the client's chunks end on part boundaries and the
  // bytes kept empty out in the middle of a response (the cause of the restart test's old flake).
  const r = await rig(t, { pieceBytes: PART, pieceDelayMs: 5 });
  const size = 9 * PART + 100;
  r.server.add('edges', { bytes: size });
  const d = r.make();
  await d.start();
  await d.prefetch({ item: 'edges', url: r.server.url('edges'), requestedBy: 'admin' });
  await settled(d, 'edges', 'done', JSON.stringify([d.get('edges'), r.server.ranges, r.hot.log]));
  assert.equal(d.get('edges')!.fetchedBytes, size, `fetched once (${r.server.ranges.join(', ')}; writes ${r.hot.log.join(' ')})`);
  assert.deepEqual(r.server.ranges, [`bytes=0-${4 * PART - 1}`, `bytes=${4 * PART}-${8 * PART - 1}`, `bytes=${8 * PART}-${size - 1}`]);
  assert.deepEqual(r.hot.log, [0, 1, 2, 3, 4, 5, 6, 7, 8].map((i) => `${i * PART}+${PART}`).concat(`${9 * PART}+100`));
  assert.deepEqual(r.hot.bytes('edges'), contentBytes('edges', 0, size));
});

test('the phone away: the item waits for it and resumes from what it has', async (t) => {
  const r = await rig(t);
  const size = 8 * PART;
  r.server.add('p', { bytes: size });
  const proxy = await LinkProxy.start({ targetPort: r.server.port, bytesPerSec: 60 * 1024 });
  t.after(() => proxy.stop());
  const d = r.make();
  await d.start();
  await d.prefetch({ item: 'p', url: r.server.url('p', proxy.port), requestedBy: 'admin' });
  await eventually(() => (d.get('p')?.have ?? 0) >= 2 * PART, 10_000, 'two parts written');
  r.hot.away = true;
  await settled(d, 'p', 'waiting-phone');
  assert.match(d.get('p')!.reason!, /does not answer/);
  r.hot.away = false;
  await r.clock.advanceAsync(15_000, 5000);
  await settled(d, 'p', 'done');
  assert.equal(d.get('p')!.fetchedBytes, size);
  assert.deepEqual(r.hot.bytes('p'), contentBytes('p', 0, size));
});

test('an item larger than the hot quota is refused with the numbers: at once when its size is given, else at the first response', async (t) => {
  const r = await rig(t, { quota: 5 * PART });
  r.server.add('huge', { bytes: 9 * PART });
  const d = r.make();
  await d.start();
  await assert.rejects(d.prefetch({ item: 'huge', url: r.server.url('huge'), requestedBy: 'admin', size: 9 * PART }), (e: CanopyError) => {
    assert.equal(e.code, 'CANOPY_ERR_STORE_QUOTA');
    assert.match(e.message, new RegExp(`${9 * PART} bytes .*hot quota of ${5 * PART} bytes`));
    return true;
  });
  assert.equal(d.get('huge'), undefined);
  await d.prefetch({ item: 'huge', url: r.server.url('huge'), requestedBy: 'admin' });
  await settled(d, 'huge', 'refused');
  assert.match(d.get('huge')!.reason!, new RegExp(`is ${9 * PART} bytes .*quota of ${5 * PART} bytes`));
  assert.equal(r.hot.writes, 0, 'nothing written');
  assert.ok(d.get('huge')!.fetchedBytes <= 4 * PART, 'at most the first request came down');
});

test('upstream 404, 5xx and no Range support each end in a clear state', async (t) => {
  const r = await rig(t);
  const d = r.make();
  await d.start();
  await d.prefetch({ item: 'gone', url: r.server.url('gone'), requestedBy: 'admin' });
  await settled(d, 'gone', 'refused');
  assert.match(d.get('gone')!.reason!, /upstream answered 404/);
  r.server.add('flaky', { bytes: 2 * PART });
  r.server.failNext(2, 503);
  await d.prefetch({ item: 'flaky', url: r.server.url('flaky'), requestedBy: 'admin' });
  await settled(d, 'flaky', 'waiting-upstream');
  assert.match(d.get('flaky')!.reason!, /upstream answered 503.*trying again in 10 s/);
  await r.clock.advanceAsync(11_000, 1000);
  await eventually(() => /trying again in 20 s/.test(d.get('flaky')?.reason ?? ''), 5000, 'backoff doubles');
  await r.clock.advanceAsync(21_000, 1000);
  await eventually(() => d.get('flaky')?.state === 'done', 10_000, JSON.stringify(d.get('flaky')));
  assert.equal(d.get('flaky')!.fetchedBytes, 2 * PART);
});

test('a server without Range support: a large item is refused, one that fits a request is taken whole', async (t) => {
  const r = await rig(t, { ranges: false });
  r.server.add('large', { bytes: 9 * PART });
  r.server.add('small', { bytes: 3 * PART + 5 });
  const d = r.make();
  await d.start();
  await d.prefetch({ item: 'large', url: r.server.url('large'), requestedBy: 'admin' });
  await settled(d, 'large', 'refused');
  assert.match(d.get('large')!.reason!, /does not support Range requests \(it answered 200 with 147456 bytes/);
  await d.prefetch({ item: 'small', url: r.server.url('small'), requestedBy: 'admin' });
  await settled(d, 'small', 'done');
  assert.deepEqual(r.hot.bytes('small'), contentBytes('small', 0, 3 * PART + 5));
});

test('cancel removes the queue entry and, if asked, the partial item; bad requests are refused', async (t) => {
  const r = await rig(t);
  r.server.add('c', { bytes: 6 * PART });
  const d = r.make({ plan: [{ start: T0 + 60 * MIN, end: T0 + 70 * MIN }] });
  await d.start();
  await d.prefetch({ item: 'c', url: r.server.url('c'), requestedBy: 'admin' });
  assert.deepEqual(await d.cancel('c', true), { removed: true, deleted: false });
  assert.equal(d.get('c'), undefined);
  assert.deepEqual(r.hot.deleted, ['c']);
  assert.deepEqual(await d.cancel('c'), { removed: false, deleted: false });
  await assert.rejects(d.prefetch({ item: 'Bad Id', url: r.server.url('c'), requestedBy: 'admin' }), /item id/);
  await assert.rejects(d.prefetch({ item: 'c', url: 'ftp://example.org/c', requestedBy: 'admin' }), /http:\/\/ and https:\/\//);
  await d.prefetch({ item: 'c', url: r.server.url('c'), requestedBy: 'admin' });
  await assert.rejects(d.prefetch({ item: 'c', url: `${r.server.url('c')}?other`, requestedBy: 'admin' }), /already queued/);
  // The queue is persisted: a new Downlink on the same file has it.
  await d.stop();
  const again = r.make({ plan: [{ start: T0 + 60 * MIN, end: T0 + 70 * MIN }] });
  await again.start();
  assert.equal(again.get('c')?.url, r.server.url('c'));
});
