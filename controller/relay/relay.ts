/**
 * The storage relay: store-and-forward from the mesh to an upstream broker over a satellite link
 * that comes and goes. An extension: the constructor keeps its options, start() opens the outbox.
 *
 *   mesh  ──`<base>/relay/<class>/<dest>`──▶ outbox (SQLite) ──uplink (mqtt.js, QoS 1)──▶ upstream
 *
 * Ingress: a publish to a relay topic is committed to the outbox inside the mesh's authorizePublish
 * hook, i.e. before aedes writes the PUBACK (see PublishInterceptor in mesh/mesh.ts). Publishes that
 * arrive together share one transaction (group commit), so the fsync cost is per batch, not per item.
 *
 * Egress: the dish is powered, and the uplink connects, only while (1) a contact window is open,
 * (2) the window's byte budget is not spent, (3) the power budget grants the dish its watts, and
 * (4) there is something to send, or a part of the controller wants the link for its own traffic
 * (the weather forecast's fetch: `want`). The dish's energy is accounted from the time it is powered,
 * boot included, to the time it is switched off.
 */
import { EventEmitter } from 'node:events';
import { SystemClock, type Clock, type TimerHandle } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { LatestThrottle } from '../mesh/throttle.ts';
import { decodeEnvelope, encodeJson, parseTopic, PRIORITY_CLASSES, type ContactWindowView, type PerClass, type PriorityClass, type UplinkStatus } from '../../common/topics.ts';
import { ContactPlan, WindowBudget, type ContactWindow } from './contact-plan.ts';
import { Outbox, type OutboxInput, type OutboxItem } from './outbox.ts';
import { Uplink, type UpstreamOptions } from './uplink.ts';
import { dayStart } from '../power/energy.ts';

/** The power budget's answer: may the dish draw `dishWatts` now, in this window? */
export type UplinkGrant = (request: { now: number; window: ContactWindow; dishWatts: number }) => boolean;

export interface DishOptions {
  /** Power drawn while on (Starlink Mini 20–40 W, Standard 75–100 W). */
  watts: number;
  /** Time from power-on until the link can carry traffic. Default 0. */
  bootMs?: number;
  /** How long the dish stays on with nothing to send before it is switched off. Default 30 s. */
  idleOffMs?: number;
  /** Switches the dish's power (a relay on a GPIO, a PoE port …). */
  power?: (on: boolean) => void;
}

export interface ClassOptions {
  /** Time to live in ms; null: kept until delivered. */
  ttlMs?: number | null;
  /** Largest fraction of a window's byte budget this class may use (0..1). Default 1. */
  share?: number;
}

export interface RelayOptions {
  mesh: Mesh;
  /** The outbox's SQLite file. */
  path: string;
  synchronous?: 'FULL' | 'NORMAL';
  /** Names this relay in the ids it assigns and in its default upstream topics. */
  origin: string;
  classes?: Partial<PerClass<ClassOptions>>;
  upstream: UpstreamOptions;
  /** Contact windows, or 'always' (default). */
  plan?: readonly ContactWindow[] | 'always';
  /** The power budget's grant; every window is granted when absent. */
  grant?: UplinkGrant;
  dish?: DishOptions;
  /**
   * Bulk alone wakes the dish only once `bytes` of it are queued or its oldest item has waited
   * `maxHoldMs`, so a trickle of backups goes out in a few full bursts instead of keeping the dish
   * on. Control and hot items always wake it; once on, it sends everything. Default: any bulk wakes.
   */
  bulkWake?: { bytes: number; maxHoldMs: number };
  /** How often the grant is asked again. Default 10 s. */
  grantPollMs?: number;
  /** How often expired items are dropped. Default 60 s. */
  expirySweepMs?: number;
  clock?: Clock;
  log?: Logger;
}

export const DEFAULT_TTL_MS: PerClass<number | null> = {
  control: 3600_000,
  hot: 24 * 3600_000,
  bulk: 30 * 24 * 3600_000,
};

export type RelayState = UplinkStatus['state'];

export interface RelayEnergy {
  /** Time the dish was powered since start(). */
  poweredMs: number;
  wh: number;
  /** Payload bytes delivered upstream since start(). */
  deliveredBytes: number;
  /** Wh per GB delivered; null before the first byte. */
  whPerGb: number | null;
}

export interface RelayEvents {
  state: [state: RelayState];
  accepted: [items: OutboxItem[]];
  delivered: [items: OutboxItem[]];
  expired: [dropped: PerClass<number>];
}

interface Running {
  outbox: Outbox;
  uplink: Uplink;
  plan: ContactPlan;
  removeInterceptor: () => void;
  timers: TimerHandle[];
  status: LatestThrottle<UplinkStatus>;
}

interface PendingCommit {
  input: OutboxInput;
  resolve: (item: OutboxItem | undefined) => void;
  reject: (e: Error) => void;
}

export class Relay extends EventEmitter<RelayEvents> {
  private running: Running | undefined;
  private readonly clock: Clock;
  private readonly log: Logger;
  private state: RelayState = 'off';
  private budget: WindowBudget | undefined;
  /** The window whose budget ran out: no more powering up until it closes. */
  private exhausted: ContactWindow | undefined;
  private boundary: TimerHandle | undefined;
  private bootTimer: TimerHandle | undefined;
  /** Runs from the moment the uplink first ran out of work; the dish lingers until it fires. */
  private idleTimer: TimerHandle | undefined;
  /**
   * The dish lingered idleOffMs after running dry: from now on it stays on only for what would
   * wake it (control, hot, enough bulk), so a trickle of bulk cannot keep it on.
   */
  private drained = false;
  private transition: Promise<void> | undefined;
  private dishOnSince: number | undefined;
  private poweredMs = 0;
  private deliveredBytes = 0;
  private sentToday = { bytes: 0, dayStartMs: 0 };
  /** An admin paused the uplink (dashboard): the dish stays off whatever the grant. */
  private paused = false;
  /** Parts that want the link for traffic of their own (want()): it wakes the dish as queued control items do. */
  private readonly wanted = new Set<string>();
  private batch: PendingCommit[] = [];

  constructor(private readonly opts: RelayOptions) {
    super();
    this.clock = opts.clock ?? new SystemClock();
    this.log = (opts.log ?? silentLogger).child('relay');
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { mesh } = this.opts;
    const base = mesh.topics.base;
    if (!mesh.started) throw new CanopyError('CANOPY_ERR_STATE', 'start the mesh before the relay');
    this.checkClasses();
    const plan = new ContactPlan(this.opts.plan ?? 'always');
    const ttl = (c: PriorityClass) => (this.opts.classes?.[c]?.ttlMs === undefined ? DEFAULT_TTL_MS[c] : this.opts.classes[c]!.ttlMs!);
    const outbox = new Outbox({
      path: this.opts.path,
      origin: this.opts.origin,
      ttlMs: { control: ttl('control'), hot: ttl('hot'), bulk: ttl('bulk') },
      clock: this.clock,
      synchronous: this.opts.synchronous,
    });
    const uplink = new Uplink(outbox, { ...this.opts.upstream, origin: this.opts.origin }, this.clock, this.log);
    const removeInterceptor = mesh.intercept(`${base}/relay/+/#`, async (packet) => {
      const parsed = parseTopic(base, packet.topic);
      if (parsed?.kind !== 'relay') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${packet.topic}: relay topics are ${base}/relay/<${PRIORITY_CLASSES.join('|')}>/<destination>`);
      const envelope = decodeEnvelope(packet.payload);
      await this.commit({ id: envelope?.id, cls: parsed.cls, dest: parsed.dest, body: envelope ? envelope.body : packet.payload });
    });
    const running: Running = {
      outbox,
      uplink,
      plan,
      removeInterceptor,
      timers: [],
      status: new LatestThrottle(this.clock, 1000, (_key, status) => void mesh.publish(mesh.topics.uplink, encodeJson(status), { retain: true }).catch(() => {})),
    };
    this.running = running;
    uplink.on('up', () => this.setState('up'));
    uplink.on('down', () => {
      if (this.state !== 'off') this.setState('connecting');
    });
    uplink.on('delivered', (items) => {
      const bytes = items.reduce((s, i) => s + i.body.length, 0);
      this.deliveredBytes += bytes;
      const today = dayStart(this.clock.now());
      if (today !== this.sentToday.dayStartMs) this.sentToday = { bytes: 0, dayStartMs: today };
      this.sentToday.bytes += bytes;
      this.emit('delivered', items);
      this.publishStatus();
    });
    uplink.on('idle', (budgetBlocked) => this.onIdle(budgetBlocked));
    running.timers.push(
      this.clock.setInterval(() => this.sweep(), this.opts.expirySweepMs ?? 60_000),
      this.clock.setInterval(() => this.reconsider(), this.opts.grantPollMs ?? 10_000),
    );
    this.sweep();
    this.reconsider();
  }

  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    r.removeInterceptor();
    this.running = undefined;
    for (const t of r.timers) this.clock.clearInterval(t);
    this.clock.clearTimeout(this.boundary);
    r.status.clear();
    await this.transition;
    await this.powerOff(r);
    // Publishes still waiting for their commit are refused: their publishers get no PUBACK and resend.
    for (const p of this.batch.splice(0)) p.reject(relayStopped());
    r.outbox.close();
  }

  /**
   * Queues an item from inside the controller (the store protocol's backups, say). Resolves with
   * its id once committed. `id` keeps a caller's own id across its retries.
   */
  async submit(cls: PriorityClass, dest: string, body: Uint8Array, id?: string): Promise<string> {
    const item = await this.commit({ id, cls, dest, body });
    return item?.id ?? id!;
  }

  /** The retained `<base>/uplink` payload. */
  status(): UplinkStatus {
    const r = this.requireRunning();
    const now = this.clock.now();
    const counts = r.outbox.stats();
    const window = r.plan.current(now);
    const next = r.plan.next(now);
    const energy = this.energy();
    return {
      state: this.state,
      window: window ? view(window) : null,
      nextWindow: next ? view(next) : null,
      upcoming: r.plan.between(now, now + 24 * 3_600_000).map(view),
      windowBytes: window ? { budget: window.budgetBytes ?? null, used: this.budget?.window === window ? this.budget.usedBytes : 0 } : null,
      queued: counts.queued,
      delivered: counts.delivered,
      expired: counts.expired,
      dish: { on: this.dishOnSince !== undefined, energyWh: energy.wh, whPerGb: energy.whPerGb },
      paused: this.paused,
      sentToday: this.sentToday.dayStartMs === dayStart(now) ? { ...this.sentToday } : { bytes: 0, dayStartMs: dayStart(now) },
      updatedAt: now,
    };
  }

  energy(): RelayEnergy {
    const poweredMs = this.poweredMs + (this.dishOnSince === undefined ? 0 : this.clock.now() - this.dishOnSince);
    const wh = ((this.opts.dish?.watts ?? 0) * poweredMs) / 3_600_000;
    return { poweredMs, wh, deliveredBytes: this.deliveredBytes, whPerGb: this.deliveredBytes > 0 ? wh / (this.deliveredBytes / 1e9) : null };
  }

  get currentState(): RelayState {
    return this.state;
  }

  /** Whether the dish is powered now (cheap: no outbox query, unlike status()). */
  get dishOn(): boolean {
    return this.dishOnSince !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /**
   * A part of the controller wants the link (true) for traffic that is not the outbox's — the
   * forecast's fetch — or is done with it (false). While any part wants it, the dish is woken as
   * for a control item: in a contact window, with the power budget's grant.
   */
  want(owner: string, on: boolean): void {
    if (on === this.wanted.has(owner)) return;
    if (on) this.wanted.add(owner);
    else this.wanted.delete(owner);
    this.reconsider();
  }

  /** The dish is powered and booted: traffic of the link's own can pass (the uplink connecting or up). */
  get linkReady(): boolean {
    return this.state === 'connecting' || this.state === 'up';
  }

  /** Pauses (true) or resumes the uplink: a paused relay powers the dish off and keeps queueing. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    this.reconsider();
  }

  /** Group commit: items arriving in the same turn of the event loop share one transaction. */
  private commit(input: OutboxInput): Promise<OutboxItem | undefined> {
    this.requireRunning();
    return new Promise((resolve, reject) => {
      this.batch.push({ input, resolve, reject });
      if (this.batch.length === 1) setImmediate(() => this.flushBatch());
    });
  }

  private flushBatch(): void {
    const batch = this.batch.splice(0);
    const r = this.running;
    if (batch.length === 0) return;
    if (!r) {
      for (const p of batch) p.reject(relayStopped());
      return;
    }
    let results: (OutboxItem | undefined)[];
    try {
      results = r.outbox.add(batch.map((p) => p.input));
    } catch (e) {
      this.log.error('outbox commit failed', { error: String(e) });
      for (const p of batch) p.reject(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    batch.forEach((p, i) => p.resolve(results[i]));
    const added = results.filter((i): i is OutboxItem => i !== undefined);
    if (added.length > 0) {
      this.emit('accepted', added);
      this.publishStatus();
      r.uplink.kick();
      this.reconsider();
    }
  }

  private sweep(): void {
    const r = this.running;
    if (!r) return;
    const dropped = r.outbox.expire();
    if (PRIORITY_CLASSES.some((c) => dropped[c] > 0)) {
      this.log.warn('expired items dropped', dropped);
      this.emit('expired', dropped);
      this.publishStatus();
    }
  }

  private onIdle(budgetBlocked: boolean): void {
    if (budgetBlocked) {
      this.exhausted = this.budget?.window;
      this.reconsider();
      return;
    }
    if (this.idleTimer || this.drained) {
      this.reconsider();
      return;
    }
    // Nothing to send: keep the dish on a little in case more comes, then let it go.
    this.idleTimer = this.clock.setTimeout(() => {
      this.idleTimer = undefined;
      this.drained = true;
      this.sweep();
      this.reconsider();
    }, this.opts.dish?.idleOffMs ?? 30_000);
  }

  /** Decides whether the dish should be on and moves towards that; calls during a transition coalesce. */
  private reconsider(): void {
    const r = this.running;
    if (!r) return;
    if (this.transition) return; // reconsidered when the transition ends
    const now = this.clock.now();
    const window = r.plan.current(now);
    if (this.exhausted && this.exhausted !== window) this.exhausted = undefined;
    if (this.budget?.window !== window) {
      this.budget = window ? new WindowBudget(window, this.shares()) : undefined;
      r.uplink.budget = this.budget;
    }
    this.scheduleBoundary(r, now);
    const work = this.worthWaking(r, now) || (this.state !== 'off' && !this.drained);
    const want = !this.paused && window !== undefined && this.exhausted === undefined && work && this.granted(window, now);
    if (want && this.state === 'off') this.run(() => this.powerOn(r));
    else if (!want && this.state !== 'off') this.run(() => this.powerOff(r));
    this.publishStatus();
  }

  private run(step: () => Promise<void> | void): void {
    this.transition = Promise.resolve()
      .then(step)
      .catch((e: unknown) => this.log.error('uplink transition failed', { error: String(e) }))
      .finally(() => {
        this.transition = undefined;
        // Once more from the new state: what changed meanwhile, and the timers the new state needs.
        this.reconsider();
      });
  }

  private powerOn(r: Running): void {
    this.opts.dish?.power?.(true);
    this.dishOnSince = this.clock.now();
    this.setState('booting');
    const connect = () => {
      this.bootTimer = undefined;
      if (this.running !== r || this.state !== 'booting') return;
      this.setState('connecting');
      r.uplink.open();
    };
    const bootMs = this.opts.dish?.bootMs ?? 0;
    if (bootMs > 0) this.bootTimer = this.clock.setTimeout(connect, bootMs);
    else connect();
  }

  private async powerOff(r: Running): Promise<void> {
    this.clock.clearTimeout(this.bootTimer);
    this.clock.clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
    this.drained = false;
    await r.uplink.close();
    if (this.dishOnSince !== undefined) {
      this.opts.dish?.power?.(false);
      this.poweredMs += this.clock.now() - this.dishOnSince;
      this.dishOnSince = undefined;
    }
    this.setState('off');
  }

  private worthWaking(r: Running, now: number): boolean {
    if (this.wanted.size > 0) return true;
    const { queued } = r.outbox.stats();
    if (queued.control.items > 0 || queued.hot.items > 0) return true;
    if (queued.bulk.items === 0) return false;
    const wake = this.opts.bulkWake;
    return !wake || queued.bulk.bytes >= wake.bytes || now - (r.outbox.oldest('bulk') ?? now) >= wake.maxHoldMs;
  }

  private granted(window: ContactWindow, now: number): boolean {
    const grant = this.opts.grant;
    return !grant || grant({ now, window, dishWatts: this.opts.dish?.watts ?? 0 });
  }

  /** Wakes reconsider() at the current window's end, the next window's start, or when held bulk is due. */
  private scheduleBoundary(r: Running, now: number): void {
    this.clock.clearTimeout(this.boundary);
    const oldestBulk = this.opts.bulkWake && this.state === 'off' ? r.outbox.oldest('bulk') : undefined;
    const held = oldestBulk === undefined ? Infinity : oldestBulk + this.opts.bulkWake!.maxHoldMs;
    const at = Math.min(r.plan.current(now)?.end ?? r.plan.next(now)?.start ?? Infinity, held > now ? held : Infinity);
    if (at === Infinity || at - now > 2 ** 31 - 1) return;
    this.boundary = this.clock.setTimeout(() => this.reconsider(), at - now);
  }

  private checkClasses(): void {
    for (const c of PRIORITY_CLASSES) {
      const { ttlMs, share } = this.opts.classes?.[c] ?? {};
      if (ttlMs !== undefined && ttlMs !== null && !(ttlMs > 0)) throw new CanopyError('CANOPY_ERR_CONFIG', `relay.classes.${c}.ttlMs must be > 0 or null (never expires), got ${ttlMs}`);
      if (share !== undefined && !(share >= 0 && share <= 1)) throw new CanopyError('CANOPY_ERR_CONFIG', `relay.classes.${c}.share must be between 0 and 1, got ${share}`);
    }
  }

  private shares(): PerClass<number> {
    const share = (c: PriorityClass) => this.opts.classes?.[c]?.share ?? 1;
    return { control: share('control'), hot: share('hot'), bulk: share('bulk') };
  }

  private setState(state: RelayState): void {
    if (state === this.state) return;
    this.state = state;
    this.log.info('uplink state', { state });
    this.emit('state', state);
    this.publishStatus();
  }

  private publishStatus(): void {
    if (this.running) this.running.status.offer('uplink', this.status());
  }

  private requireRunning(): Running {
    if (!this.running) throw new CanopyError('CANOPY_ERR_STATE', 'the relay is not started');
    return this.running;
  }
}

function view(w: ContactWindow): ContactWindowView {
  return w.budgetBytes === undefined ? { start: w.start, end: w.end } : { start: w.start, end: w.end, budgetBytes: w.budgetBytes };
}

/** A publish whose commit the stop overtook: its publisher gets no PUBACK and resends it. */
function relayStopped(): CanopyError {
  return new CanopyError('CANOPY_ERR_CANCELLED', 'the relay stopped before the publish was committed; the publisher resends it');
}
