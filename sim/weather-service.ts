/**
 * The simulator's weather service: Open-Meteo's forecast API (`GET /v1/forecast?latitude=…
 * &longitude=…&hourly=cloud_cover,shortwave_radiation&timezone=GMT&forecast_days=3`, the
 * response shape of controller/power/outside-forecast.ts) on a loopback HTTP server, forecasting
 * the scenario's true sky with a seeded error. The harness puts it behind the simulated satellite
 * link, so the site reaches it only while the dish is powered in a contact window.
 *
 * The error (the scenario's `weather.forecast`), per hour [a, a + 1 h):
 *   forecast GHI = min(clear-sky mean, mean of clear(t) × cloudFactor(t + Δ_day) × exp(d_day + s(t)))
 *   - Δ_day: the clouds come early or late, the same shift all day (normal, σ = `timing`): the
 *     hourly shape is wrong even where the day's energy is right;
 *   - d_day: the whole day too bright or too dark (normal, σ = `dailyError`);
 *   - s(t): the hour's own error, smooth between knots every 3 h (normal, σ = `hourlyError`).
 * Both ways, seeded per (seed, day, knot), a pure function of time: every fetch of an hour gets the
 * same forecast. cloud_cover is the cover that Kasten & Czeplak turn into the same transmittance.
 * The service knows one sky, the scenario's: asked for another place it answers for it all the same
 * (with that place's coordinates), as a real service would answer for wherever it was asked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackHttpServer } from './loopback-http.ts';
import type { Clock } from '../firmware-bridge/clock.ts';
import { seededRandom } from '../firmware-bridge/random.ts';
import { hashKnot } from './sun.ts';
import type { SkyModel } from './world.ts';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const SHAPE_KNOT_MS = 3 * HOUR_MS;
/** Open-Meteo answers for the grid cell nearest the request; this one's cells are 0.025° (≈ 2.8 km north–south). */
const GRID_DEG = 0.025;
const VARIABLES = ['shortwave_radiation', 'cloud_cover'] as const;
const UNITS: Record<(typeof VARIABLES)[number], string> = { shortwave_radiation: 'W/m²', cloud_cover: '%' };

export interface ForecastError {
  /** σ of the day's scale error (natural log): 0.1 ≈ a day 10 % too bright or too dark. */
  dailyError: number;
  /** σ of the hourly shape error (natural log), smooth over 3-hour knots. */
  hourlyError: number;
  /** σ of the clouds' timing error, ms. */
  timingMs: number;
}

export interface WeatherServiceOptions {
  clock: Clock;
  /** The scenario's true sky (clear sky × clouds). */
  sky: SkyModel;
  elevationM: number;
  error: ForecastError;
  seed: number;
}

/** A standard normal number from a seed (Box–Muller). */
function normal(seed: number): number {
  const r = seededRandom(seed);
  const u = Math.max(1e-12, r());
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

export class WeatherService extends LoopbackHttpServer {
  /** Requests answered (with a forecast or an error). */
  requests = 0;

  constructor(private readonly opts: WeatherServiceOptions) {
    super();
  }

  /** The timing shift of the day holding `t`, ms. */
  private shiftMs(t: number): number {
    return normal(hashKnot(this.opts.seed, 2 * Math.floor(t / DAY_MS))) * this.opts.error.timingMs;
  }

  /** The forecast's scale at `t`: the day's error times the hour's smooth one. */
  private scale(t: number): number {
    const e = this.opts.error;
    const day = normal(hashKnot(this.opts.seed, 2 * Math.floor(t / DAY_MS) + 1)) * e.dailyError;
    const k = Math.floor(t / SHAPE_KNOT_MS);
    const f = t / SHAPE_KNOT_MS - k;
    const knot = (i: number) => normal(hashKnot(this.opts.seed ^ 0x5eed, i)) * e.hourlyError;
    return Math.exp(day + knot(k) * (1 - f) + knot(k + 1) * f);
  }

  /** Forecast GHI over [startMs, startMs + 1 h), W/m² (Open-Meteo's shortwave_radiation at startMs + 1 h). */
  forecastGhiWm2(startMs: number): number {
    const { sky } = this.opts;
    const shift = this.shiftMs(startMs);
    let clear = 0;
    let forecast = 0;
    for (let i = 0; i < 12; i++) {
      const t = startMs + (i + 0.5) * 300_000;
      const c = sky.ghiWm2(t);
      clear += c / 12;
      forecast += (c * sky.cloudFactor(t + shift) * this.scale(t)) / 12;
    }
    return Math.min(clear, forecast);
  }

  /** Forecast cloud cover at `atMs`, %: the cover whose transmittance (Kasten & Czeplak) is the forecast's. */
  forecastCloudCoverPct(atMs: number): number {
    const transmitted = Math.min(1, this.opts.sky.cloudFactor(atMs + this.shiftMs(atMs)) * this.scale(atMs));
    return 100 * ((1 - transmitted) / 0.75) ** (1 / 3.4);
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const fail = (reason: string) => this.send(res, 400, { reason, error: true });
    if (req.method !== 'GET' || url.pathname !== '/v1/forecast') return this.send(res, 404, { reason: `${req.method} ${url.pathname}: the service answers GET /v1/forecast`, error: true });
    const q = url.searchParams;
    const lat = Number(q.get('latitude'));
    const lon = Number(q.get('longitude'));
    if (!q.has('latitude') || !q.has('longitude') || !(Math.abs(lat) <= 90) || !(Math.abs(lon) <= 180)) return fail("Parameter 'latitude' and 'longitude' must be given, within ±90 and ±180");
    const hourly = q.getAll('hourly').flatMap((h) => h.split(',')).filter(Boolean);
    for (const v of hourly) if (!(VARIABLES as readonly string[]).includes(v)) return fail(`Cannot initialize ForecastVariable from invalid String value ${v} for key hourly (the simulated service serves ${VARIABLES.join(', ')})`);
    const timezone = q.get('timezone') ?? 'GMT';
    if (timezone !== 'GMT' && timezone !== 'UTC') return fail(`the simulated service serves timezone=GMT only, not ${timezone}`);
    const days = Number(q.get('forecast_days') ?? 7);
    if (!Number.isInteger(days) || days < 0 || days > 16) return fail('Forecast days is invalid. Allowed range 0 to 16.');
    const unixtime = q.get('timeformat') === 'unixtime';
    const started = performance.now();
    // Open-Meteo's hourly series start at 00:00 of the day asked for.
    const from = Math.floor(this.opts.clock.now() / DAY_MS) * DAY_MS;
    const times = Array.from({ length: days * 24 }, (_, i) => from + i * HOUR_MS);
    const series: Record<string, unknown> = { time: times.map((t) => (unixtime ? t / 1000 : new Date(t).toISOString().slice(0, 16))) };
    for (const v of hourly) {
      series[v] = times.map((t) => (v === 'shortwave_radiation' ? Math.round(this.forecastGhiWm2(t - HOUR_MS) * 10) / 10 : Math.round(this.forecastCloudCoverPct(t))));
    }
    this.send(res, 200, {
      latitude: Math.round(lat / GRID_DEG) * GRID_DEG,
      longitude: Math.round(lon / GRID_DEG) * GRID_DEG,
      generationtime_ms: performance.now() - started,
      utc_offset_seconds: 0,
      timezone,
      timezone_abbreviation: timezone,
      elevation: this.opts.elevationM,
      hourly_units: { time: unixtime ? 'unixtime' : 'iso8601', ...Object.fromEntries(hourly.map((v) => [v, UNITS[v as keyof typeof UNITS]])) },
      hourly: series,
    });
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  }
}
