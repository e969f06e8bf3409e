/**
 * The satellite link, as a simulator part: a Starlink-like dish and its contact plan in front of a
 * real loopback TCP proxy.
 *
 * - `LinkProxy`: an emulated thin link on loopback. A TCP proxy that carries each direction through
 *   a token bucket (`bytesPerSec`) and a delay line (`latencyMs`), and that can be taken down — then
 *   every connection is cut, whatever is still on the "wire" is lost, and new connections are
 *   refused — and brought back.
 * - `contactWindows()` / `isInContact()`: when the dish sees a satellite — the complement of periodic
 *   obstructions and outages over a span. The windows have the relay's shape (`{ start, end }`, epoch
 *   ms, end exclusive), so they go straight into `RelayOptions.plan` (controller/relay/contact-plan.ts).
 * - `DISH_PROFILES`: what the dish draws.
 * - `SatelliteLink`: a LinkProxy driven by a contact plan and a power switch on an injected Clock,
 *   with the dish's energy accounted on that clock.
 *
 * Two time lines, on purpose: the shaping (token bucket, latency) runs on real time
 * (performance.now, setTimeout) because the sockets it carries are real; the contact plan, the power
 * switch, `openMs` and the energy run on the injected Clock, so a simulation (ManualClock) decides
 * when windows open and close. With a SystemClock both are wall time.
 */
import { EventEmitter } from 'node:events';
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import { CanopyError } from '../common/errors.ts';
import { seededRandom } from '../firmware-bridge/random.ts';

export interface LinkProxyOptions {
  targetPort: number;
  targetHost?: string;
  bytesPerSec: number;
  latencyMs?: number;
  /** Largest burst, bytes. Default 1/50 s of traffic. */
  bucketBytes?: number;
}

export interface LinkStats {
  /** Bytes delivered client → target and target → client. */
  up: number;
  down: number;
  /** Bytes lost on the wire when the link went down or a side hung up. */
  lost: number;
  /** Time the link has been up, ms. */
  openMs: number;
}

/** Backlog per direction before the sending side is paused (a TCP send buffer's worth). */
const HIGH_WATER = 64 * 1024;
const TICK_MS = 2;

class Direction {
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private tokens: number;
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly delayed = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly opts: Required<Omit<LinkProxyOptions, 'targetHost' | 'targetPort'>>,
    private readonly count: (bytes: number) => void,
  ) {
    this.tokens = opts.bucketBytes;
    from.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued + this.inFlight > HIGH_WATER) from.pause();
      this.schedule();
    });
  }

  /** Bytes dropped: queued, and sent but not yet arrived. */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    clearTimeout(this.timer);
    for (const t of this.delayed) clearTimeout(t);
    const lost = this.queued + this.inFlight;
    this.queue = [];
    this.queued = this.inFlight = 0;
    return lost;
  }

  private schedule(): void {
    if (!this.timer && !this.closed) this.timer = setTimeout(() => this.transmit(), TICK_MS);
  }

  private transmit(): void {
    this.timer = undefined;
    const now = performance.now();
    this.tokens = Math.min(this.opts.bucketBytes, this.tokens + ((now - this.last) / 1000) * this.opts.bytesPerSec);
    this.last = now;
    while (this.queue.length > 0 && this.tokens >= 1) {
      const head = this.queue[0]!;
      const n = Math.min(head.length, Math.floor(this.tokens));
      const piece = head.subarray(0, n);
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
      this.queued -= n;
      this.tokens -= n;
      this.deliver(piece);
    }
    if (this.queued + this.inFlight <= HIGH_WATER / 2) this.from.resume();
    if (this.queue.length > 0) this.schedule();
  }

  private deliver(piece: Buffer): void {
    this.inFlight += piece.length;
    const t = setTimeout(() => {
      this.delayed.delete(t);
      this.inFlight -= piece.length;
      this.count(piece.length);
      this.to.write(piece);
      if (this.queued + this.inFlight <= HIGH_WATER / 2) this.from.resume();
    }, this.opts.latencyMs);
    this.delayed.add(t);
  }
}

export class LinkProxy {
  readonly stats: LinkStats = { up: 0, down: 0, lost: 0, openMs: 0 };
  private server: Server | undefined;
  private readonly pairs = new Set<{ a: Socket; b: Socket; dirs: Direction[] }>();
  private upSince: number | undefined;
  port = 0;

  private constructor(private readonly opts: LinkProxyOptions) {}

  static async start(opts: LinkProxyOptions): Promise<LinkProxy> {
    const proxy = new LinkProxy(opts);
    await proxy.bringUp();
    return proxy;
  }

  get isUp(): boolean {
    return this.upSince !== undefined;
  }

  /** Link time used so far, including the current up period. */
  openMs(): number {
    return this.stats.openMs + (this.upSince === undefined ? 0 : performance.now() - this.upSince);
  }

  async bringUp(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
    this.upSince = performance.now();
  }

  /** Cuts every connection (what is on the wire is lost) and refuses new ones until bringUp(). */
  async takeDown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.upSince !== undefined) this.stats.openMs += performance.now() - this.upSince;
    this.upSince = undefined;
    for (const pair of [...this.pairs]) this.cut(pair);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    await this.takeDown();
  }

  private accept(client: Socket): void {
    const o = this.opts;
    const target = netConnect(o.targetPort, o.targetHost ?? '127.0.0.1');
    const shaped = { bytesPerSec: o.bytesPerSec, latencyMs: o.latencyMs ?? 0, bucketBytes: o.bucketBytes ?? Math.max(1500, o.bytesPerSec / 50) };
    const pair = {
      a: client,
      b: target,
      dirs: [new Direction(client, target, shaped, (n) => (this.stats.up += n)), new Direction(target, client, shaped, (n) => (this.stats.down += n))],
    };
    this.pairs.add(pair);
    for (const s of [client, target]) {
      s.on('error', () => {});
      s.on('close', () => this.cut(pair));
    }
  }

  private cut(pair: { a: Socket; b: Socket; dirs: Direction[] }): void {
    if (!this.pairs.delete(pair)) return;
    for (const d of pair.dirs) this.stats.lost += d.close();
    pair.a.destroy();
    pair.b.destroy();
  }
}

// ─── Contact plan ────────────────────────────────────────────────────────────────────────────────

/**
 * A span in which the dish sees a satellite. Epoch ms on the simulation clock; `start` inclusive,
 * `end` exclusive. The same shape as the relay's ContactWindow (controller/relay/contact-plan.ts,
 * minus the optional byte budget), so a list of these is a valid `RelayOptions.plan`.
 */
export interface ContactWindow {
  start: number;
  end: number;
}

/** Something periodic in the dish's view (a tree, a roof edge, a handover gap): blocked `lengthMs` of every `everyMs`. */
export interface Obstruction {
  everyMs: number;
  lengthMs: number;
  /**
   * Where the first blocked span starts, ms after `startMs` (taken modulo everyMs). Default: 0, or a
   * seeded random phase when `seed` is given.
   */
  offsetMs?: number;
}

/** A span without service (a satellite outage, a scheduled maintenance), epoch ms, end exclusive. */
export interface Outage {
  startMs: number;
  endMs: number;
}

export interface ContactWindowOptions {
  /** Epoch ms where the plan starts. */
  startMs: number;
  durationMs: number;
  obstructions?: readonly Obstruction[];
  /** Spans without service (epoch ms, end exclusive); may reach outside the plan. Either shape. */
  outages?: readonly (Outage | ContactWindow)[];
  /** Seeds the phase of every obstruction that has no `offsetMs`. */
  seed?: number;
  /** Windows shorter than this are dropped (a dish cannot use a sliver). Default 0: only empty ones. */
  minWindowMs?: number;
}

function badArgument(message: string): CanopyError {
  return new CanopyError('CANOPY_ERR_BAD_ARGUMENT', message);
}

/**
 * The windows in [startMs, startMs + durationMs) in which the dish sees a satellite: that span minus
 * every obstruction and outage. Sorted, disjoint, non-empty.
 */
export function contactWindows(opts: ContactWindowOptions): ContactWindow[] {
  const { startMs, durationMs } = opts;
  if (!Number.isFinite(startMs) || !Number.isFinite(durationMs) || durationMs < 0) {
    throw badArgument(`contact plan: startMs and durationMs must be finite, durationMs ≥ 0 (got ${startMs}, ${durationMs})`);
  }
  const endMs = startMs + durationMs;
  const random = opts.seed === undefined ? undefined : seededRandom(opts.seed);
  const blocked: ContactWindow[] = [];
  for (const [i, o] of (opts.obstructions ?? []).entries()) {
    if (!(o.everyMs > 0) || !(o.lengthMs >= 0) || !Number.isFinite(o.everyMs) || !Number.isFinite(o.lengthMs)) {
      throw badArgument(`obstruction ${i}: everyMs must be > 0 and lengthMs ≥ 0 (got ${o.everyMs}, ${o.lengthMs})`);
    }
    if (o.lengthMs === 0) continue;
    if (o.lengthMs >= o.everyMs) {
      blocked.push({ start: startMs, end: endMs });
      continue;
    }
    const phase = o.offsetMs !== undefined ? ((o.offsetMs % o.everyMs) + o.everyMs) % o.everyMs : random ? random() * o.everyMs : 0;
    // One period early, so a blocked span that began before startMs is clipped in too.
    for (let t = startMs + phase - o.everyMs; t < endMs; t += o.everyMs) {
      blocked.push({ start: t, end: t + o.lengthMs });
    }
  }
  for (const [i, o] of (opts.outages ?? []).entries()) {
    const span = 'startMs' in o ? { start: o.startMs, end: o.endMs } : { start: o.start, end: o.end };
    if (!(span.start <= span.end)) throw badArgument(`outage ${i}: start must be ≤ end (got ${span.start}..${span.end})`);
    blocked.push(span);
  }
  blocked.sort((a, b) => a.start - b.start);
  const minMs = opts.minWindowMs ?? 0;
  const windows: ContactWindow[] = [];
  let cursor = startMs;
  const open = (until: number) => {
    const end = Math.min(until, endMs);
    if (end > cursor && end - cursor >= minMs) windows.push({ start: cursor, end });
  };
  for (const b of blocked) {
    if (b.end <= cursor) continue;
    if (b.start >= endMs) break;
    open(b.start);
    cursor = Math.max(cursor, b.end);
  }
  open(endMs);
  return windows;
}

/** Whether `tMs` falls in one of `windows` (start inclusive, end exclusive). */
export function isInContact(windows: readonly ContactWindow[], tMs: number): boolean {
  return windows.some((w) => w.start <= tMs && tMs < w.end);
}

/** The next time after `tMs` at which contact starts or ends, or undefined when nothing changes any more. */
export function nextContactChange(windows: readonly ContactWindow[], tMs: number): number | undefined {
  let next: number | undefined;
  for (const w of windows) {
    for (const t of [w.start, w.end]) if (t > tMs && (next === undefined || t < next)) next = t;
  }
  return next;
}

// ─── Dish ────────────────────────────────────────────────────────────────────────────────────────

/**
 * What a dish draws, W: `idleW` powered with no traffic (tracking, heating), `activeW` carrying
 * traffic. Starlink Mini 20–40 W, Standard 50–100 W (Starlink specifications, average ranges).
 */
export const DISH_PROFILES = {
  mini: { idleW: 20, activeW: 40 },
  standard: { idleW: 50, activeW: 100 },
} as const satisfies Record<string, DishProfile>;

export interface DishProfile {
  idleW: number;
  activeW: number;
}

export type DishKind = keyof typeof DISH_PROFILES;

// ─── The link ────────────────────────────────────────────────────────────────────────────────────

export interface SatelliteLinkOptions {
  /** The simulation clock: windows, power switching, openMs and energy run on it. */
  clock: Clock;
  targetPort: number;
  targetHost?: string;
  /** Link rate, bit/s. Default 17e6 (a Starlink uplink's typical median). */
  capacityBitsPerSec?: number;
  /** One-way delay added to each direction, ms (real time). Default 40. */
  latencyMs?: number;
  /** Largest burst of the token bucket, bytes; see LinkProxyOptions. */
  bucketBytes?: number;
  /** When the dish sees a satellite. */
  windows: readonly ContactWindow[];
  dish: DishKind | DishProfile;
  /** Whether the dish starts powered. Default true. */
  powered?: boolean;
  /** Called whenever the link goes up (true) or down (false). Same as the 'change' event. */
  onChange?: (up: boolean) => void;
}

export interface SatelliteLinkStats {
  /** Bytes delivered client → target and target → client. */
  up: number;
  down: number;
  /** Bytes lost on the wire when the link went down or a side hung up. */
  lost: number;
  /** Time the link was passable (powered and in a window), ms on the injected clock. */
  openMs: number;
}

export interface SatelliteLinkEvents {
  change: [up: boolean];
  /** A proxy transition failed (e.g. the port was taken while down); also thrown by settled(). */
  error: [error: Error];
}

/** Energy is sampled once per clock second: the second is charged at activeW if any byte moved in it. */
const ENERGY_SAMPLE_MS = 1000;

/**
 * A satellite uplink on loopback: connect to `port` and reach `targetPort` through the shaped proxy,
 * but only while the dish is powered and a contact window is open on the injected clock. When a
 * window closes or the dish is switched off, open connections are cut and new ones refused.
 *
 * Energy: while powered the dish draws `idleW`, or `activeW` for each clock second (sampled every
 * 1000 ms on the clock, and at every power or contact change) in which the proxy carried at least
 * one byte; unpowered it draws nothing. Bytes are counted in real time, so under a ManualClock a
 * burst is charged to whichever sampled clock interval sees it.
 *
 * Proxy transitions are asynchronous (a server to open or close); they are applied in order, and
 * `settled()` resolves once the proxy matches the plan (under a ManualClock: advance, then await
 * settled() before looking at sockets). Call `start()` before use, `stop()` after.
 */
export class SatelliteLink extends EventEmitter<SatelliteLinkEvents> {
  readonly profile: DishProfile;
  private readonly clock: Clock;
  private readonly windows: readonly ContactWindow[];
  private proxy: LinkProxy | undefined;
  /** Further destinations through the same dish (route()): up and down with the first. */
  private readonly routes: LinkProxy[] = [];
  private running = false;
  private poweredState: boolean;
  private boundaryTimer: TimerHandle | undefined;
  private sampleTimer: TimerHandle | undefined;
  /** Whether the link should be up (powered, running, in contact), as of the last reconcile. */
  private wantUp = false;
  /** Whether the proxy is up, as last applied. */
  private applied = false;
  private chain: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  private openMsAcc = 0;
  private openSince: number | undefined;
  private wh = 0;
  private accountedAt = 0;
  private bytesAtSample = 0;

  constructor(private readonly opts: SatelliteLinkOptions) {
    super();
    this.clock = opts.clock;
    this.profile = typeof opts.dish === 'string' ? DISH_PROFILES[opts.dish] : opts.dish;
    if (!this.profile) throw badArgument(`unknown dish ${String(opts.dish)}`);
    const sorted = [...opts.windows].sort((a, b) => a.start - b.start);
    for (const [i, w] of sorted.entries()) {
      if (!(w.start < w.end)) throw badArgument(`contact window ${i} (${w.start}..${w.end}): start must be < end`);
    }
    this.windows = sorted;
    this.poweredState = opts.powered ?? true;
    const capacity = opts.capacityBitsPerSec ?? 17e6;
    if (!(capacity > 0)) throw badArgument(`capacityBitsPerSec must be > 0, got ${capacity}`);
    if (opts.onChange) this.on('change', opts.onChange);
  }

  /** The loopback port clients connect to (stable across ups and downs); 0 before start(). */
  get port(): number {
    return this.proxy?.port ?? 0;
  }

  /** Whether the proxy currently accepts connections. */
  get isUp(): boolean {
    return this.applied;
  }

  get powered(): boolean {
    return this.poweredState;
  }

  /** Whether a contact window is open now, on the injected clock. */
  get inContact(): boolean {
    return isInContact(this.windows, this.clock.now());
  }

  get stats(): SatelliteLinkStats {
    const s = { up: 0, down: 0, lost: 0 };
    for (const p of this.proxies()) {
      s.up += p.stats.up;
      s.down += p.stats.down;
      s.lost += p.stats.lost;
    }
    const now = this.clock.now();
    return { up: s.up, down: s.down, lost: s.lost, openMs: this.openMsAcc + (this.openSince === undefined ? 0 : now - this.openSince) };
  }

  /** Dish energy since start(), Wh, up to now on the injected clock. */
  energyWh(): number {
    return this.running ? this.wh + this.charge(this.clock.now()).wh : this.wh;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const o = this.opts;
    const proxy = await LinkProxy.start({
      targetPort: o.targetPort,
      targetHost: o.targetHost,
      bytesPerSec: (o.capacityBitsPerSec ?? 17e6) / 8,
      latencyMs: o.latencyMs ?? 40,
      ...(o.bucketBytes === undefined ? {} : { bucketBytes: o.bucketBytes }),
    });
    // Bound once to learn the port; down until the plan says otherwise.
    await proxy.takeDown();
    this.proxy = proxy;
    this.running = true;
    this.accountedAt = this.clock.now();
    this.bytesAtSample = 0;
    this.sampleTimer = this.clock.setInterval(() => this.account(), ENERGY_SAMPLE_MS);
    this.reconcile();
    await this.settled();
  }

  /**
   * A further destination through the same dish (the internet behind a satellite reaches more than
   * one server): a loopback port to `targetPort`, passable exactly when the link is, shaped alike,
   * its bytes counted with the link's. Call after start().
   */
  async route(targetPort: number, targetHost?: string): Promise<number> {
    const o = this.opts;
    const proxy = await LinkProxy.start({ targetPort, targetHost, bytesPerSec: (o.capacityBitsPerSec ?? 17e6) / 8, latencyMs: o.latencyMs ?? 40, ...(o.bucketBytes === undefined ? {} : { bucketBytes: o.bucketBytes }) });
    await proxy.takeDown();
    // In line with the transitions, so none of them misses it.
    this.chain = this.chain.then(async () => {
      this.routes.push(proxy);
      if (this.applied) await proxy.bringUp();
    });
    await this.settled();
    return proxy.port;
  }

  private proxies(): LinkProxy[] {
    return this.proxy ? [this.proxy, ...this.routes] : [...this.routes];
  }

  /** Takes the link down for good and clears every clock timer. */
  async stop(): Promise<void> {
    if (!this.running) {
      await this.chain;
      return;
    }
    this.account();
    this.running = false;
    this.clock.clearInterval(this.sampleTimer);
    this.clock.clearTimeout(this.boundaryTimer);
    this.sampleTimer = this.boundaryTimer = undefined;
    this.reconcile();
    await this.settled();
    for (const p of this.proxies()) await p.stop();
  }

  /**
   * Switches the dish (the power budget's decision). Off takes the link down even inside a window;
   * on brings it back if a window is open. Resolves when the proxy has followed.
   */
  setPowered(on: boolean): Promise<void> {
    if (on !== this.poweredState) {
      if (this.running) this.account();
      this.poweredState = on;
      this.reconcile();
    }
    return this.settled();
  }

  /** Resolves once every queued proxy transition has been applied. */
  async settled(): Promise<void> {
    let seen: Promise<void>;
    do {
      seen = this.chain;
      await seen;
    } while (seen !== this.chain);
    const failure = this.failure;
    this.failure = undefined;
    if (failure) throw failure;
  }

  /** Charges the time since the last account at the power level of that interval. */
  private account(): void {
    const now = this.clock.now();
    const { wh, bytes } = this.charge(now);
    this.wh += wh;
    this.bytesAtSample = bytes;
    this.accountedAt = now;
  }

  /** What the interval since the last account costs, without closing it. */
  private charge(now: number): { wh: number; bytes: number } {
    const bytes = this.proxies().reduce((n, p) => n + p.stats.up + p.stats.down, 0);
    const watts = this.poweredState ? (bytes !== this.bytesAtSample ? this.profile.activeW : this.profile.idleW) : 0;
    return { wh: (watts * Math.max(0, now - this.accountedAt)) / 3_600_000, bytes };
  }

  /** Brings the desired state in line with power, plan and clock, and wakes at the next boundary. */
  private reconcile(): void {
    const now = this.clock.now();
    const want = this.running && this.poweredState && isInContact(this.windows, now);
    if (want !== this.wantUp) {
      this.wantUp = want;
      if (want) this.openSince = now;
      else if (this.openSince !== undefined) {
        this.openMsAcc += now - this.openSince;
        this.openSince = undefined;
      }
      this.chain = this.chain.then(() => this.apply(want)).catch((e: unknown) => {
        // E.g. the port was taken while the link was down. settled() reports it; listeners hear it.
        this.failure = e instanceof Error ? e : new Error(String(e));
        if (this.listenerCount('error') > 0) this.emit('error', this.failure);
      });
    }
    this.clock.clearTimeout(this.boundaryTimer);
    this.boundaryTimer = undefined;
    if (!this.running) return;
    const next = nextContactChange(this.windows, now);
    if (next !== undefined) {
      this.boundaryTimer = this.clock.setTimeout(() => {
        this.boundaryTimer = undefined;
        this.account();
        this.reconcile();
      }, next - now);
    }
  }

  private async apply(up: boolean): Promise<void> {
    if (!this.proxy || up === this.applied) return;
    for (const proxy of this.proxies()) {
      if (up) await proxy.bringUp();
      else await proxy.takeDown();
    }
    this.applied = up;
    this.emit('change', up);
  }
}
