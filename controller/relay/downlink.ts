/**
 * The downlink: prefetch into the phone's hot cache (docs/prefetch.md). An admin or the owner asks
 * for an item (a URL upstream); the queue is committed to SQLite (like the outbox: better-sqlite3,
 * WAL), and the item comes down through the satellite link in HTTP Range requests (RFC 9110 §14),
 * each part written into the phone's hot cache with `hot-write` as it completes.
 *
 * Downlink traffic is scheduled like uplink traffic:
 * - only while a contact window is open, the power budget grants the dish, and the relay has the
 *   link up (the downlink asks for it with `want`, as the forecast's fetch does);
 * - by priority class (control, hot, bulk; within a class in arrival order), one item at a time,
 *   a higher class taking the link at the next span;
 * - within a byte budget per window (`windowBytes`, shared out by class like the uplink's);
 * - midday surplus first: a bulk item waits until the sun pays for the dish (the budget's
 *   `surplus`), unless it was asked to go now.
 * The dish's energy while the downlink holds the link (its watts × the time) is counted per byte.
 *
 * Resume: on start and before each item's turn, `hot-status` says which ranges the phone lacks and
 * only those are fetched. Bytes that came down but do not yet fill a part (the link cut mid-part,
 * the phone away) are kept — in memory, and in the queue's row when the fetch ends or Canopy stops
 * — and the next request starts after them: a byte is fetched once (a SIGKILL mid-part loses at
 * most the part under way). An item larger than the hot quota is refused with the numbers, as soon
 * as its size is known (the request's size, the first response's Content-Range or Content-Length).
 */
import Database from 'better-sqlite3';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { limitPageCache } from '../../common/sqlite.ts';
import { encodeJson, isPriorityClass, PRIORITY_CLASSES, type DownlinkItemView, type DownlinkState, type DownlinkStatus, type PerClass, type PriorityClass } from '../../common/topics.ts';
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { LatestThrottle } from '../mesh/throttle.ts';
import type { UplinkAccess } from '../power/forecast-feed.ts';
import { ContactPlan, WindowBudget, type ContactWindow } from './contact-plan.ts';
import { isHotItem, type HotStatus } from '../store/hot-items.ts';
import type { HotCache } from './hot-cache.ts';

export interface PrefetchRequest {
  item: string;
  /** http(s) URL of the item upstream. */
  url: string;
  /** Default bulk. */
  cls?: PriorityClass;
  /** Go in the next granted window without waiting for the midday surplus. */
  now?: boolean;
  title?: string;
  mime?: string;
  /** Who asked (the mesh user). */
  requestedBy: string;
  /** Bytes, when the asker knows them: refused at once when over the hot quota. */
  size?: number;
}

/** What the power budget says, asked at each step. */
export interface DownlinkPower {
  /** The budget grants the dish its watts now. */
  granted(): boolean;
  /** The sun pays for the dish now (midday surplus), not the station battery. */
  surplus(): boolean;
}

/** What the configuration (or the simulated site) says of the downlink. */
export interface DownlinkSettings {
  /** The queue's SQLite file. */
  path: string;
  /** The phone agent whose hot cache is filled. */
  agent: string;
  /** Bytes the downlink may carry per window; unlimited when absent. */
  windowBytes?: number;
}

export interface DownlinkOptions {
  /** The queue's SQLite file. */
  path: string;
  hot: HotCache;
  /** The link: ready while the dish is up; `want` asks the relay to bring it up. */
  link: UplinkAccess;
  power: DownlinkPower;
  /** The contact plan (the relay's); default 'always'. */
  plan?: readonly ContactWindow[] | 'always';
  /** Bytes the downlink may carry per window; unlimited when absent. */
  windowBytes?: number;
  /** Largest fraction of a window's downlink budget per class (0..1). Default 1 each. */
  shares?: Partial<PerClass<number>>;
  /** The dish's draw while on, W (its energy per byte is counted). Default 0. */
  dishWatts?: number;
  /** Parts per Range request. Default 16. */
  spanParts?: number;
  /** How often the queue is looked at. Default 5 s. */
  pollMs?: number;
  /** Real ms without a byte before a request is given up. Default 30 s. */
  stallMs?: number;
  /** Publishes the retained `<base>/relay/downlink` status (and hears the phone come back); absent in unit tests. */
  mesh?: Mesh;
  clock: Clock;
  log?: Logger;
}

interface Entry {
  seq: number;
  item: string;
  url: string;
  cls: PriorityClass;
  now: boolean;
  requestedBy: string;
  title: string | null;
  mime: string | null;
  total: number | null;
  state: DownlinkState;
  reason: string | null;
  have: number;
  fetched: number;
  /** Bytes fetched from `pendingOffset` (a part boundary) and not yet written to the phone. */
  pendingOffset: number | null;
  pending: Buffer[];
  created: number;
  updated: number;
  /** Clock ms before which the item is not tried again (a failure's backoff). */
  retryAt: number;
  backoffMs: number;
}

interface Row {
  seq: number;
  item: string;
  url: string;
  class: number;
  now: number;
  requested_by: string;
  title: string | null;
  mime: string | null;
  total: number | null;
  state: string;
  reason: string | null;
  have: number;
  fetched: number;
  pending_offset: number | null;
  pending: Buffer | null;
  created: number;
  updated: number;
}

/** Why an item can never come (404, over quota, no ranges): it is refused with this reason. */
class Refusal extends Error {}
/** The item must wait (the phone away, the upstream's 5xx): `state` with this reason, tried again after a backoff. */
class Wait extends Error {
  constructor(
    readonly state: DownlinkState,
    message: string,
    /** false: nothing went wrong (the window closed): no backoff. */
    readonly backoff = true,
  ) {
    super(message);
  }
}

const SCHEMA_VERSION = 1;
const RETRY_MS = { initial: 10_000, max: 10 * 60_000 };
const MB = 1e6;
const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;
const pendingBytes = (e: Entry) => e.pending.reduce((s, b) => s + b.length, 0);

export class Downlink {
  readonly name = 'downlink';
  private db: Database.Database | undefined;
  private readonly entries = new Map<string, Entry>();
  private readonly plan: ContactPlan;
  private readonly log: Logger;
  private budget: WindowBudget | undefined;
  private timer: TimerHandle | undefined;
  private boundary: TimerHandle | undefined;
  private active: { entry: Entry; abort: AbortController; done: Promise<void> } | undefined;
  private wanting = false;
  /** Set while stop() runs: no tick may start a fetch then (one would outlive the queue, a second fetch of the item). */
  private stopping = false;
  private fetchedBytes = 0;
  private energyWh = 0;
  /** Of energyWh, what the station battery paid: charged while the sun's surplus did not cover the dish. */
  private batteryWh = 0;
  /** Clock ms up to which the dish's energy has been charged to the downlink (during a fetch). */
  private chargedAt = 0;
  private status: LatestThrottle<DownlinkStatus> | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(private readonly opts: DownlinkOptions) {
    this.plan = new ContactPlan(opts.plan ?? 'always');
    this.log = (opts.log ?? silentLogger).child('downlink');
    for (const c of PRIORITY_CLASSES) {
      const share = opts.shares?.[c];
      if (share !== undefined && !(share >= 0 && share <= 1)) throw new CanopyError('CANOPY_ERR_CONFIG', `downlink share of ${c} must be between 0 and 1, got ${share}`);
    }
    if (opts.windowBytes !== undefined && !(opts.windowBytes >= 0)) throw new CanopyError('CANOPY_ERR_CONFIG', `downlink windowBytes must be ≥ 0, got ${opts.windowBytes}`);
  }

  async start(): Promise<void> {
    if (this.db) return;
    const o = this.opts;
    let db: Database.Database;
    try {
      db = new Database(o.path);
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `downlink queue "${o.path}" cannot be opened: ${(e as Error).message}`, { cause: e });
    }
    db.pragma('journal_mode = WAL');
    limitPageCache(db);
    this.migrate(db);
    this.db = db;
    for (const r of db.prepare('SELECT * FROM downlink ORDER BY seq').all() as Row[]) this.entries.set(r.item, fromRow(r));
    const meta = (key: string) => Number((db.prepare('SELECT value FROM meta WHERE key = ?').get(key) as { value: number } | undefined)?.value ?? 0);
    this.fetchedBytes = meta('fetched');
    this.energyWh = meta('energyWh');
    this.batteryWh = meta('batteryWh');
    const mesh = o.mesh;
    if (mesh) {
      this.status = new LatestThrottle(o.clock, 1000, (_k, s) => void mesh.publish(mesh.topics.downlink, encodeJson(s), { retain: true }).catch(() => {}));
      // The phone back online: what waited for it is tried at once.
      this.unsubscribe = await mesh.subscribe(mesh.topics.store(o.hot.agent, 'availability'), (_t, payload) => {
        if (payload.toString() !== 'online') return;
        for (const e of this.entries.values()) if (e.state === 'waiting-phone') e.retryAt = 0;
        this.tick();
      });
    }
    this.timer = o.clock.setInterval(() => this.tick(), o.pollMs ?? 5000);
    this.tick();
  }

  async stop(): Promise<void> {
    const db = this.db;
    if (!db || this.stopping) return;
    this.stopping = true;
    this.opts.clock.clearInterval(this.timer);
    this.opts.clock.clearTimeout(this.boundary);
    this.timer = this.boundary = undefined;
    const active = this.active;
    if (active) {
      active.abort.abort(new CanopyError('CANOPY_ERR_CANCELLED', 'Canopy stopped'));
      await active.done;
    }
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.want(false);
    this.status?.clear();
    this.status = undefined;
    this.db = undefined;
    this.entries.clear();
    db.close();
    this.stopping = false;
  }

  /** Queues an item (or answers with the one already queued under that id for the same URL). */
  async prefetch(req: PrefetchRequest): Promise<DownlinkItemView> {
    const db = this.requireDb();
    const cls = req.cls ?? 'bulk';
    if (!isHotItem(req.item)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `item id ${JSON.stringify(req.item)}: 1–64 of a-z 0-9 . _ -, starting with a letter or digit`);
    let url: URL;
    try {
      url = new URL(String(req.url));
    } catch {
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `url ${JSON.stringify(req.url)} is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `url ${url.href}: the downlink fetches http:// and https:// URLs`);
    if (!isPriorityClass(cls)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `class "${String(cls)}": one of ${PRIORITY_CLASSES.join(', ')}`);
    if (req.size !== undefined && !(Number.isSafeInteger(req.size) && req.size > 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `size ${req.size}: a number of bytes > 0`);
    const known = this.entries.get(req.item);
    if (known && known.url !== url.href) throw new CanopyError('CANOPY_ERR_STORE_EXISTS', `item "${req.item}" is already queued from ${known.url}; cancel it first to fetch it from ${url.href}`);
    if (known && known.state !== 'refused') return this.view(known);
    // What the phone says of its quota, if it answers now: an item known to be too large is refused at once.
    if (req.size !== undefined) {
      const list = await this.opts.hot.list().catch(() => undefined);
      if (list && list.quotaBytes !== null && req.size > list.quotaBytes) throw new CanopyError('CANOPY_ERR_STORE_QUOTA', overQuota(req.item, req.size, list.quotaBytes, list.usedBytes));
    }
    if (known) this.remove(known);
    const now = this.opts.clock.now();
    const r = db
      .prepare('INSERT INTO downlink (item, url, class, now, requested_by, title, mime, total, state, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(req.item, url.href, PRIORITY_CLASSES.indexOf(cls), req.now ? 1 : 0, req.requestedBy, req.title ?? null, req.mime ?? null, req.size ?? null, 'waiting-window', now, now);
    const entry: Entry = { seq: Number(r.lastInsertRowid), item: req.item, url: url.href, cls, now: !!req.now, requestedBy: req.requestedBy, title: req.title ?? null, mime: req.mime ?? null, total: req.size ?? null, state: 'waiting-window', reason: 'queued', have: 0, fetched: 0, pendingOffset: null, pending: [], created: now, updated: now, retryAt: 0, backoffMs: RETRY_MS.initial };
    this.entries.set(entry.item, entry);
    this.log.info('prefetch queued', { item: entry.item, url: entry.url, cls, by: req.requestedBy });
    this.tick();
    return this.view(entry);
  }

  /** Removes an item from the queue (stopping its fetch); with `deletePartial`, its parts leave the hot cache too. */
  async cancel(item: string, deletePartial = false): Promise<{ removed: boolean; deleted: boolean }> {
    this.requireDb();
    const e = this.entries.get(item);
    const active = this.active;
    if (e && active?.entry === e) {
      active.abort.abort(new CanopyError('CANOPY_ERR_CANCELLED', 'cancelled'));
      await active.done;
    }
    if (e) this.remove(e);
    const deleted = deletePartial ? await this.opts.hot.delete(item) : false;
    this.publish();
    this.tick();
    return { removed: e !== undefined, deleted };
  }

  /** The retained status. */
  view(e: Entry): DownlinkItemView {
    return { item: e.item, url: e.url, cls: e.cls, now: e.now, requestedBy: e.requestedBy, ...(e.title !== null && { title: e.title }), state: e.state, reason: e.reason, have: e.have, total: e.total, fetchedBytes: e.fetched, createdAt: e.created, updatedAt: e.updated };
  }

  snapshot(): DownlinkStatus {
    const now = this.opts.clock.now();
    const window = this.plan.current(now);
    return {
      agent: this.opts.hot.agent,
      items: [...this.entries.values()].map((e) => this.view(e)),
      fetchedBytes: this.fetchedBytes,
      energyWh: this.energyWh,
      batteryWh: this.batteryWh,
      whPerGb: this.fetchedBytes > 0 ? this.energyWh / (this.fetchedBytes / 1e9) : null,
      windowBytes: window ? { budget: this.opts.windowBytes ?? null, used: this.budget?.window.start === window.start ? this.budget.usedBytes : 0 } : null,
      updatedAt: now,
    };
  }

  /** The queue's item, if any (tests). */
  get(item: string): DownlinkItemView | undefined {
    const e = this.entries.get(item);
    return e && this.view(e);
  }

  // ---- scheduling ------------------------------------------------------------------------------

  /** Picks the next item that may go now and fetches it; says of every other why it waits. */
  private tick(): void {
    if (!this.db || this.stopping || this.active) return;
    const now = this.opts.clock.now();
    this.scheduleBoundary(now);
    let chosen: Entry | undefined;
    for (const e of this.queue()) {
      const why = this.holdOf(e, now);
      if (why) this.setState(e, why.state, why.reason);
      else if (!chosen) chosen = e;
      else this.setState(e, 'waiting-window', `in the queue behind ${chosen.item} (${chosen.cls})`);
    }
    if (!chosen) {
      this.want(false);
      this.publish();
      return;
    }
    this.want(true);
    if (!this.opts.link.ready()) {
      this.setState(chosen, 'waiting-window', 'the dish is coming up for it');
      this.publish();
      return;
    }
    const entry = chosen;
    const abort = new AbortController();
    const done = this.fetchItem(entry, abort.signal).finally(() => {
      this.active = undefined;
      this.persist(entry);
      this.publish();
      // The next item, or this one's next turn, once the event loop has moved on.
      setImmediate(() => this.tick());
    });
    this.active = { entry, abort, done };
  }

  /** Items not done nor refused, by class then arrival. */
  private queue(): Entry[] {
    return [...this.entries.values()].filter((e) => e.state !== 'done' && e.state !== 'refused').sort((a, b) => PRIORITY_CLASSES.indexOf(a.cls) - PRIORITY_CLASSES.indexOf(b.cls) || a.seq - b.seq);
  }

  /** Why `e` may not go now (no window, its budget spent, no grant, no surplus, a backoff), or undefined. */
  private holdOf(e: Entry, now: number): { state: DownlinkState; reason: string } | undefined {
    if (e.retryAt > now) return { state: e.state === 'fetching' ? 'waiting-window' : e.state, reason: e.reason ?? 'trying again shortly' };
    const window = this.plan.current(now);
    if (!window) {
      const next = this.plan.next(now);
      return { state: 'waiting-window', reason: next ? `no contact window open; the next opens at ${new Date(next.start).toISOString().slice(11, 16)} UTC` : 'no contact window open, and none planned' };
    }
    const budget = this.windowBudget(window);
    if (!budget.allows(e.cls, 1)) return { state: 'waiting-window', reason: `this window's downlink budget for ${e.cls} is spent (${plural(budget.usedBytes, 'byte')} of ${this.opts.windowBytes})` };
    if (!this.opts.power.granted()) return { state: 'waiting-energy', reason: 'the power budget does not grant the dish now' };
    if (e.cls === 'bulk' && !e.now && !this.opts.power.surplus()) return { state: 'waiting-energy', reason: 'a bulk prefetch waits for the midday surplus (ask with now: true to go at once)' };
    return undefined;
  }

  private windowBudget(window: ContactWindow): WindowBudget {
    if (this.budget?.window.start !== window.start) {
      const share = (c: PriorityClass) => this.opts.shares?.[c] ?? 1;
      const w = this.opts.windowBytes === undefined ? { start: window.start, end: window.end } : { start: window.start, end: window.end, budgetBytes: this.opts.windowBytes };
      this.budget = new WindowBudget(w, { control: share('control'), hot: share('hot'), bulk: share('bulk') });
    }
    return this.budget;
  }

  /** Wakes the queue when a window opens or a backoff ends, and stops a fetch when the window closes (the dish goes off then). */
  private scheduleBoundary(now: number): void {
    this.opts.clock.clearTimeout(this.boundary);
    const edge = this.plan.current(now)?.end ?? this.plan.next(now)?.start ?? Infinity;
    const retry = Math.min(...[...this.entries.values()].map((e) => (e.retryAt > now ? e.retryAt : Infinity)));
    const at = Math.min(edge, retry);
    if (at === Infinity || at - now > 2 ** 31 - 1) return;
    this.boundary = this.opts.clock.setTimeout(() => {
      this.boundary = undefined;
      if (at === edge && this.plan.current(this.opts.clock.now()) === undefined) this.active?.abort.abort(new Wait('waiting-window', 'the contact window closed', false));
      this.tick();
    }, at - now);
  }

  private want(on: boolean): void {
    if (on === this.wanting) return;
    this.wanting = on;
    this.opts.link.want(on);
  }

  // ---- fetching --------------------------------------------------------------------------------

  private async fetchItem(e: Entry, signal: AbortSignal): Promise<void> {
    const o = this.opts;
    this.chargedAt = o.clock.now();
    this.setState(e, 'fetching', null);
    try {
      const list = await this.phone(() => o.hot.list());
      let status = await this.phone(() => o.hot.status(e.item));
      const partBytes = status?.partBytes ?? list.partBytes;
      if (status) e.total ??= status.total;
      const usedByOthers = list.usedBytes - (status?.have ?? 0);
      this.checkQuota(e, list.quotaBytes, usedByOthers);
      for (;;) {
        if (status) e.have = status.have;
        if (status?.complete) {
          e.pending = [];
          e.pendingOffset = null;
          e.backoffMs = RETRY_MS.initial;
          this.setState(e, 'done', null);
          this.log.info('prefetch done', { item: e.item, bytes: status.have, fetched: e.fetched });
          return;
        }
        const stop = this.stopReason(e, signal);
        if (stop) {
          this.setState(e, stop.state, stop.reason);
          return;
        }
        const span = this.nextSpan(e, status, partBytes);
        if (!span) {
          // Nothing missing but not complete: the size is unknown to the phone; ask it again.
          status = await this.phone(() => o.hot.status(e.item));
          if (!status?.complete) throw new Refusal(`the phone's cache has all of ${e.item} it asked for but does not call it complete (${status?.have ?? 0} bytes)`);
          continue;
        }
        status = (await this.fetchSpan(e, span, partBytes, list.quotaBytes, usedByOthers, signal)) ?? status;
        this.charge();
        e.backoffMs = RETRY_MS.initial;
      }
    } catch (err) {
      const reason = signal.aborted ? signal.reason : err;
      if (reason instanceof Refusal) {
        this.setState(e, 'refused', reason.message);
        this.log.warn('prefetch refused', { item: e.item, reason: reason.message });
      } else if (reason instanceof Wait) {
        if (reason.backoff) this.backoff(e, reason.state, reason.message);
        else this.setState(e, reason.state, reason.message);
      } else if (isCanopyError(reason) && reason.code === 'CANOPY_ERR_CANCELLED') {
        this.setState(e, 'waiting-window', reason.message);
      } else {
        // The link cut (the window closed early, an outage) or a stall: resumed from what came.
        this.backoff(e, 'waiting-window', `the link failed during the fetch (${describe(reason)})`);
      }
    } finally {
      this.charge();
    }
  }

  /**
   * The dish's energy while the downlink holds the link: its watts × the time since the last charge,
   * span by span; the share the station battery paid is what was charged while the power budget
   * said the sun's surplus did not cover the dish.
   */
  private charge(): void {
    const now = this.opts.clock.now();
    const wh = ((this.opts.dishWatts ?? 0) * Math.max(0, now - this.chargedAt)) / 3_600_000;
    this.chargedAt = now;
    this.energyWh += wh;
    if (!this.opts.power.surplus()) this.batteryWh += wh;
  }

  /** Runs a store op on the phone; an agent that does not answer makes the item wait for it. */
  private async phone<T>(op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (e) {
      if (isCanopyError(e) && e.code === 'CANOPY_ERR_STORE_QUOTA') throw new Refusal(e.message);
      if (isCanopyError(e) && (e.code === 'CANOPY_ERR_TIMEOUT' || e.code === 'CANOPY_ERR_LINK_DOWN' || e.code === 'CANOPY_ERR_CANCELLED')) {
        throw new Wait('waiting-phone', `the phone's store agent "${this.opts.hot.agent}" does not answer (${e.message})`);
      }
      if (isCanopyError(e)) throw new Refusal(`the phone refused it: ${e.message}`);
      throw e;
    }
  }

  private checkQuota(e: Entry, quota: number | null, usedByOthers: number): void {
    if (e.total !== null && quota !== null && e.total > quota) throw new Refusal(overQuota(e.item, e.total, quota, usedByOthers));
  }

  /** Between spans: why this item should give the link up now, or undefined to go on. */
  private stopReason(e: Entry, signal: AbortSignal): { state: DownlinkState; reason: string } | undefined {
    if (signal.aborted) throw signal.reason;
    const now = this.opts.clock.now();
    const hold = this.holdOf(e, now);
    if (hold) return hold;
    const first = this.queue().find((q) => q === e || !this.holdOf(q, now));
    if (first !== e && first) return { state: 'waiting-window', reason: `${first.item} (${first.cls}) goes first` };
    if (!this.opts.link.ready()) return { state: 'waiting-window', reason: 'the link went down' };
    return undefined;
  }

  /** The next range to ask for: from the first missing range (after the bytes kept), up to spanParts parts and the window's budget. */
  private nextSpan(e: Entry, status: HotStatus | undefined, part: number): { start: number; end: number } | undefined {
    const missing: [number, number][] = !status ? [[0, e.total ?? Infinity]] : status.total === null ? [[status.contiguous, e.total ?? Infinity]] : status.missing;
    const kept = pendingBytes(e);
    const first = missing[0];
    if (!first) return undefined;
    // The kept bytes count only where they are still missing (the phone may have lost parts, or got them elsewhere).
    if (e.pendingOffset !== null && !(e.pendingOffset >= first[0] && e.pendingOffset + kept <= first[1])) {
      e.pending = [];
      e.pendingOffset = null;
    }
    const from = e.pendingOffset ?? first[0];
    const start = from + (e.pendingOffset === null ? 0 : kept);
    let end = Math.min(first[1], from + (this.opts.spanParts ?? 16) * part);
    const remaining = this.budget?.remaining ?? Infinity;
    if (end - start > remaining) end = start + remaining >= first[1] ? first[1] : from + Math.floor((kept + remaining) / part) * part;
    if (end <= start) throw new Wait('waiting-window', `this window's downlink budget is too small for the next part of ${e.item}`);
    return { start, end };
  }

  /**
   * One Range request (RFC 9110 §14.1.2: `bytes=first-last`, inclusive); every part that fills is
   * written to the phone as it completes. Returns the phone's status after the last write.
   */
  private async fetchSpan(e: Entry, span: { start: number; end: number }, part: number, quota: number | null, used: number, signal: AbortSignal): Promise<HotStatus | undefined> {
    const local = new AbortController();
    const onAbort = () => local.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    let stall: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(stall);
      stall = setTimeout(() => local.abort(new Error(`no byte for ${this.opts.stallMs ?? 30_000} ms`)), this.opts.stallMs ?? 30_000);
    };
    arm();
    const range = `bytes=${span.start}-${Number.isFinite(span.end) ? span.end - 1 : ''}`;
    let status: HotStatus | undefined;
    try {
      const res = await fetch(e.url, { headers: { range, 'accept-encoding': 'identity' }, signal: local.signal });
      const got = this.readResponse(e, res, span, range);
      this.checkQuota(e, quota, used);
      let received = 0;
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
        // Nothing kept (the first chunk, or every part so far written): the kept bytes start where this chunk
        // does, a part boundary. Set per chunk, since a chunk may end exactly on a part's end mid-response.
        if (e.pendingOffset === null) e.pendingOffset = span.start + received;
        received += bytes.length;
        e.fetched += bytes.length;
        this.fetchedBytes += bytes.length;
        this.budget?.spend(e.cls, bytes.length);
        e.pending.push(bytes);
        status = (await this.writeParts(e, part)) ?? status;
        if (received >= got.length) break;
      }
      if (received < got.length) throw new Error(`the response ended after ${received} of ${got.length} bytes`);
      // The last part of an item whose size came only now.
      status = (await this.writeParts(e, part)) ?? status;
      return status;
    } finally {
      clearTimeout(stall);
      signal.removeEventListener('abort', onAbort);
      local.abort();
    }
  }

  /** Checks the response against the request; returns how many body bytes to read. */
  private readResponse(e: Entry, res: Response, span: { start: number; end: number }, range: string): { length: number } {
    const what = `${res.status}${res.statusText ? ` ${res.statusText}` : ''}`;
    if (res.status === 206) {
      // RFC 9110 §14.4: Content-Range: bytes first-last/complete (complete may be "*").
      const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
      if (!m) throw new Refusal(`upstream answered 206 to ${range} without a single-range Content-Range (got ${JSON.stringify(res.headers.get('content-range'))})`);
      const first = Number(m[1]);
      const last = Number(m[2]);
      if (first !== span.start || last < first || (Number.isFinite(span.end) && last >= span.end)) throw new Refusal(`upstream answered bytes ${first}-${last} to ${range}`);
      if (m[3] !== '*') this.learnTotal(e, Number(m[3]));
      else if (Number.isFinite(span.end) && last < span.end - 1) this.learnTotal(e, last + 1);
      return { length: last - first + 1 };
    }
    if (res.status === 200) {
      // No Range support (RFC 9110 §14.2: a server may ignore Range). Taken only when the whole item is what was asked for.
      const length = Number(res.headers.get('content-length'));
      if (span.start === 0 && e.pendingOffset === null && Number.isSafeInteger(length) && length <= span.end) {
        this.learnTotal(e, length);
        return { length };
      }
      void res.body?.cancel().catch(() => {});
      throw new Refusal(`upstream does not support Range requests (it answered 200 with ${Number.isSafeInteger(length) ? plural(length, 'byte') : 'the whole item'} to ${range}): an item larger than one request cannot come in parts across windows`);
    }
    void res.body?.cancel().catch(() => {});
    if (res.status === 416) throw new Refusal(`upstream answered 416 Range Not Satisfiable to ${range} (${res.headers.get('content-range') ?? 'no Content-Range'}): the item is shorter than the phone's cache believes`);
    if (res.status >= 500 || res.status === 429 || res.status === 408) throw new Wait('waiting-upstream', `upstream answered ${what} for ${e.url}`);
    throw new Refusal(`upstream answered ${what} for ${e.url}`);
  }

  private learnTotal(e: Entry, total: number): void {
    if (e.total === total) return;
    if (e.total !== null && e.total !== total) this.log.warn('item size changed upstream', { item: e.item, was: e.total, now: total });
    e.total = total;
    this.persist(e);
  }

  /** Writes every complete part kept (and the last, shorter one at the item's end). */
  private async writeParts(e: Entry, part: number): Promise<HotStatus | undefined> {
    let status: HotStatus | undefined;
    for (;;) {
      const kept = pendingBytes(e);
      const offset = e.pendingOffset;
      if (offset === null) return status;
      const last = e.total !== null && offset + kept >= e.total && kept > 0;
      if (kept < part && !last) return status;
      const all = e.pending.length === 1 ? e.pending[0]! : Buffer.concat(e.pending);
      const n = last && kept <= part ? kept : part;
      const body = all.subarray(0, n);
      status = await this.phone(() =>
        this.opts.hot.write({ item: e.item, offset, ...(e.total !== null && { total: e.total }), ...(e.mime !== null && { mime: e.mime }), ...(e.title !== null && { title: e.title }), source: e.url }, body),
      );
      e.pending = n === all.length ? [] : [all.subarray(n)];
      e.pendingOffset = e.pending.length ? offset + n : null;
      e.have = status.have;
      if (e.pendingOffset === null) return status;
    }
  }

  // ---- state -----------------------------------------------------------------------------------

  private backoff(e: Entry, state: DownlinkState, message: string): void {
    const now = this.opts.clock.now();
    e.retryAt = now + e.backoffMs;
    const secs = Math.round(e.backoffMs / 1000);
    e.backoffMs = Math.min(RETRY_MS.max, e.backoffMs * 2);
    this.setState(e, state, `${message}; trying again in ${secs} s`);
  }

  private setState(e: Entry, state: DownlinkState, reason: string | null): void {
    if (e.state === state && e.reason === reason) return;
    e.state = state;
    e.reason = reason;
    e.updated = this.opts.clock.now();
    this.persist(e);
    this.publish();
  }

  private persist(e: Entry): void {
    const db = this.db;
    if (!db || !this.entries.has(e.item)) return;
    const kept = e.pending.length ? Buffer.concat(e.pending) : null;
    db.transaction(() => {
      db.prepare('UPDATE downlink SET total = ?, state = ?, reason = ?, have = ?, fetched = ?, pending_offset = ?, pending = ?, updated = ? WHERE seq = ?').run(e.total, e.state, e.reason, e.have, e.fetched, kept ? e.pendingOffset : null, kept, e.updated, e.seq);
      const set = db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');
      set.run('fetched', this.fetchedBytes);
      set.run('energyWh', this.energyWh);
      set.run('batteryWh', this.batteryWh);
    })();
  }

  private remove(e: Entry): void {
    this.db?.prepare('DELETE FROM downlink WHERE seq = ?').run(e.seq);
    this.entries.delete(e.item);
  }

  private publish(): void {
    this.status?.offer('downlink', this.snapshot());
  }

  private requireDb(): Database.Database {
    if (!this.db) throw new CanopyError('CANOPY_ERR_STATE', 'the downlink is not started');
    return this.db;
  }

  private migrate(db: Database.Database): void {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version === SCHEMA_VERSION) return;
    if (version !== 0) throw new CanopyError('CANOPY_ERR_CANNOT_OPEN', `downlink queue "${this.opts.path}" has schema version ${version}; this Canopy reads version ${SCHEMA_VERSION}`);
    db.exec(`
      CREATE TABLE downlink (
        seq            INTEGER PRIMARY KEY AUTOINCREMENT,
        item           TEXT NOT NULL UNIQUE,
        url            TEXT NOT NULL,
        class          INTEGER NOT NULL,
        now            INTEGER NOT NULL,
        requested_by   TEXT NOT NULL,
        title          TEXT,
        mime           TEXT,
        total          INTEGER,
        state          TEXT NOT NULL,
        reason         TEXT,
        have           INTEGER NOT NULL DEFAULT 0,
        fetched        INTEGER NOT NULL DEFAULT 0,
        pending_offset INTEGER,
        pending        BLOB,
        created        INTEGER NOT NULL,
        updated        INTEGER NOT NULL
      );
      CREATE TABLE meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
      PRAGMA user_version = ${SCHEMA_VERSION};
    `);
  }
}

function fromRow(r: Row): Entry {
  // A fetch under way when Canopy stopped waits for its next turn.
  const state = (r.state === 'fetching' ? 'waiting-window' : r.state) as DownlinkState;
  return {
    seq: r.seq,
    item: r.item,
    url: r.url,
    cls: PRIORITY_CLASSES[r.class]!,
    now: r.now === 1,
    requestedBy: r.requested_by,
    title: r.title,
    mime: r.mime,
    total: r.total,
    state,
    reason: r.state === 'fetching' ? 'Canopy restarted during the fetch' : r.reason,
    have: r.have,
    fetched: r.fetched,
    pendingOffset: r.pending ? r.pending_offset : null,
    pending: r.pending ? [r.pending] : [],
    created: r.created,
    updated: r.updated,
    retryAt: 0,
    backoffMs: RETRY_MS.initial,
  };
}

function overQuota(item: string, bytes: number, quota: number, used: number): string {
  return `item "${item}" is ${bytes} bytes (${(bytes / MB).toFixed(1)} MB), larger than the phone's hot quota of ${quota} bytes (${(quota / MB).toFixed(1)} MB; ${used} bytes in use by other items)`;
}

function describe(e: unknown): string {
  if (e instanceof Error) return e.cause instanceof Error ? e.cause.message : e.message;
  return String(e);
}
