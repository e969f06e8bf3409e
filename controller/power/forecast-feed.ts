/**
 * "forecast": how an outside weather forecast reaches the power budget (docs/forecast.md), by
 * either of two routes, each offered to the budget (PowerPlanner.offerForecast), which checks it:
 *
 * - uplink: the configured Open-Meteo URL is fetched every `everyMs` (and at the first chance
 *   after a start) when the uplink can carry it — with a relay, while the dish is powered and
 *   booted in a contact window the power budget grants (the feed asks the relay to wake the dish
 *   for it, as queued control traffic would); without a relay, while the budget grants the
 *   uplink. A fetch that fails (no link, a timeout, a server error) is tried again after a backoff.
 * - mesh: anything upstream with the right to (acl.ts: admin, homeassistant) publishes Open-Meteo's
 *   JSON on `<base>/weather/forecast`, optionally with an `issued_at`.
 *
 * A refusal is the budget's to show (its forecastSource; the site logs it once); the feed logs
 * only what kept a fetch from happening, once per reason.
 */
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import type { Logger } from '../../firmware-bridge/log.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { ForecastArrival } from './outside-forecast.ts';

/** The uplink as the feed sees it: whether a fetch can go out now, and a way to ask for the link. */
export interface UplinkAccess {
  ready(): boolean;
  /** Asks for the link (true) or gives it back (false); a no-op where nothing is switched. */
  want(on: boolean): void;
}

export interface ForecastFeedSettings {
  /** The forecast URL (Open-Meteo's format); a function when it is known only once the environment runs (the simulator's weather service). Absent: no fetching. */
  url?: string | (() => string);
  /** How often a fresh forecast is fetched. Default 3 h. */
  everyMs?: number;
  /** Take forecasts published on `<base>/weather/forecast`. Default true. */
  fromMesh?: boolean;
}

export interface ForecastFeedOptions extends ForecastFeedSettings {
  clock: Clock;
  log: Logger;
  /** The budget's door (PowerPlanner.offerForecast): null when taken, else why not. */
  offer: (text: string, arrival: ForecastArrival) => string | null;
  uplink: UplinkAccess;
  mesh?: Mesh;
  /** Real milliseconds a fetch may take. Default 30 s. */
  timeoutMs?: number;
  /** How often the feed looks whether a fetch is due and can go. Default 10 s. */
  pollMs?: number;
}

export const DEFAULT_FORECAST_EVERY_MS = 3 * 3_600_000;
/** After a failed fetch: 1 min, doubling up to 30 min. */
const RETRY_MS = { initial: 60_000, max: 30 * 60_000 };

export class ForecastFeed {
  readonly name = 'forecast';
  private timer: TimerHandle | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;
  private nextAtMs = 0;
  private retryMs = RETRY_MS.initial;
  private inflight: Promise<void> | undefined;
  private wanting = false;
  private lastProblem: string | undefined;
  private url: string | undefined;
  /** Forecasts offered, and the budget's answer (tests, the bench). */
  readonly offered: { route: ForecastArrival['route']; atMs: number; refused: string | null }[] = [];

  constructor(private readonly opts: ForecastFeedOptions) {}

  async start(): Promise<void> {
    const o = this.opts;
    this.url = typeof o.url === 'function' ? o.url() : o.url;
    if (o.mesh && (o.fromMesh ?? true)) {
      this.unsubscribe = await o.mesh.subscribe(o.mesh.topics.forecast, (_topic, payload) => this.offer(payload.toString('utf8'), 'mesh'));
    }
    if (this.url) {
      this.nextAtMs = o.clock.now();
      this.timer = o.clock.setInterval(() => this.poll(), o.pollMs ?? 10_000);
      this.poll();
    }
  }

  async stop(): Promise<void> {
    this.opts.clock.clearInterval(this.timer);
    this.timer = undefined;
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    await this.inflight;
    this.want(false);
  }

  private offer(text: string, route: ForecastArrival['route']): void {
    const atMs = this.opts.clock.now();
    const refused = this.opts.offer(text, { route, receivedAtMs: atMs });
    this.offered.push({ route, atMs, refused });
  }

  private want(on: boolean): void {
    if (on === this.wanting) return;
    this.wanting = on;
    this.opts.uplink.want(on);
  }

  private poll(): void {
    if (this.inflight || !this.url) return;
    const now = this.opts.clock.now();
    if (now < this.nextAtMs) return;
    if (!this.opts.uplink.ready()) {
      // A window, the dish's boot and the budget's grant: until then, the link is asked for.
      this.want(true);
      return;
    }
    this.inflight = this.fetchOnce(this.url).finally(() => {
      this.inflight = undefined;
      this.want(false);
    });
  }

  private async fetchOnce(url: string): Promise<void> {
    const o = this.opts;
    let text: string;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 30_000), headers: { accept: 'application/json' } });
      text = await res.text();
      // Open-Meteo says what was wrong with a request in a JSON body with 400; other failures are the link's or the server's.
      if (!res.ok && res.status !== 400) throw new Error(`HTTP ${res.status} ${res.statusText}`);
    } catch (e) {
      this.problem(`forecast fetch failed: ${e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e)}; trying again in ${Math.round(this.retryMs / 60_000)} min`);
      this.nextAtMs = o.clock.now() + this.retryMs;
      this.retryMs = Math.min(RETRY_MS.max, this.retryMs * 2);
      return;
    }
    this.lastProblem = undefined;
    this.retryMs = RETRY_MS.initial;
    // Taken or refused, the next try is a period away: asking again at once would get the same answer.
    this.nextAtMs = o.clock.now() + (o.everyMs ?? DEFAULT_FORECAST_EVERY_MS);
    this.offer(text, 'uplink');
  }

  /** Logs what kept a fetch from happening, once per reason (a link that stays down is said once). */
  private problem(message: string): void {
    const kind = message.replace(/in \d+ min$/, '');
    if (kind === this.lastProblem) return;
    this.lastProblem = kind;
    this.opts.log.info(message);
  }
}
