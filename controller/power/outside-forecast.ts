/**
 * A weather forecast from outside the site (docs/forecast.md): read from Open-Meteo's forecast
 * JSON (https://open-meteo.com/en/docs, `/v1/forecast?…&hourly=cloud_cover,shortwave_radiation
 * &timezone=GMT&forecast_days=3`), stamped with when it was issued and for where, checked before
 * the power budget takes it, and turned into the sky factor the budget's forecast multiplies the
 * clear sky by.
 *
 * Open-Meteo's response, as the budget reads it:
 *   latitude, longitude      the grid cell the model answered for (snapped from the request's)
 *   utc_offset_seconds       the `hourly.time` zone's offset (0 with timezone=GMT)
 *   hourly_units             "W/m²" for shortwave_radiation, "%" for cloud_cover, time "iso8601" or "unixtime"
 *   hourly.time[]            local times "YYYY-MM-DDTHH:MM" (or epoch seconds), hour by hour from 00:00 of the day asked
 *   hourly.shortwave_radiation[]  GHI, mean over the hour before the time (W/m²); may hold null
 *   hourly.cloud_cover[]     total cloud cover at the time (%); may hold null
 *   error: true, reason      instead of all that, with HTTP 400, when the request was wrong
 *
 * The response carries no issue time. A fetched forecast is stamped with the time it was fetched;
 * one published on the mesh with its `issued_at` (ISO 8601 with a zone) when the publisher adds
 * one, else the time it arrived, but never later than the end of the first day it covers (a
 * response without past_days starts at 00:00 of the day it was made, so an older one passed on
 * late is not taken for fresh).
 */
import type { ClearSky } from '../../common/solar.ts';
import { cloudTransmittance } from '../../common/solar.ts';
import type { ForecastRoute } from '../../common/topics.ts';

const HOUR_MS = 3_600_000;

/** One hour of the forecast: GHI over [atMs − 1 h, atMs), cloud cover at atMs. */
export interface ForecastHour {
  atMs: number;
  ghiWm2?: number;
  cloudCoverPct?: number;
}

export interface OutsideForecast {
  route: ForecastRoute;
  issuedAtMs: number;
  /** For where: the forecast's own coordinates. */
  latDeg: number;
  lonDeg: number;
  /** Hour by hour, oldest first. */
  hours: ForecastHour[];
}

/** How a forecast arrived: by which route and when (the mesh's may state its issue time). */
export interface ForecastArrival {
  route: ForecastRoute;
  receivedAtMs: number;
}

export type ForecastReading = { ok: true; forecast: OutsideForecast } | { ok: false; reason: string };

/** What the budget accepts (config `site.forecast`). */
export interface ForecastLimits {
  /** Older than this, a forecast is stale. Default 24 h. */
  maxAgeMs?: number;
  /**
   * How far the forecast's coordinates may lie from the site's. Open-Meteo answers for the grid
   * cell nearest the request (≈ 1–2 km in Europe's local models, up to ≈ 15 km in the global ones),
   * so an exact match is not to be had. Default 30 km.
   */
  placeToleranceKm?: number;
}

export const DEFAULT_FORECAST_MAX_AGE_MS = 24 * HOUR_MS;
export const DEFAULT_PLACE_TOLERANCE_KM = 30;
/** A forecast stamped further ahead of the site's clock than this is refused (one clock is wrong). */
const FUTURE_TOLERANCE_MS = HOUR_MS;

const malformed = (why: string): ForecastReading => ({ ok: false, reason: `malformed: ${why}` });

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Open-Meteo's local time "YYYY-MM-DDTHH:MM" (or epoch seconds) at a UTC offset, epoch ms; NaN when unreadable. */
function hourTime(t: unknown, unixtime: boolean, offsetS: number): number {
  if (unixtime) return typeof t === 'number' ? t * 1000 : NaN;
  if (typeof t !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(t)) return NaN;
  return Date.parse(`${t}:00Z`) - offsetS * 1000;
}

/** The values of one hourly variable: numbers or null, as many as the times; a reason when not. */
function series(hourly: Record<string, unknown>, units: Record<string, unknown> | undefined, name: string, unit: string, max: number, n: number): (number | null)[] | string | undefined {
  const values = hourly[name];
  if (values === undefined) return undefined;
  if (!Array.isArray(values) || values.length !== n) return `hourly.${name} must be an array as long as hourly.time (${n})`;
  const stated = units?.[name];
  if (stated !== undefined && stated !== unit) return `hourly.${name} is in ${String(stated)}; Canopy reads ${unit}`;
  for (const [i, v] of values.entries()) {
    if (v !== null && !(typeof v === 'number' && v >= 0 && v <= max)) return `hourly.${name}[${i}] is ${JSON.stringify(v)}, not a number from 0 to ${max} or null`;
  }
  return values as (number | null)[];
}

/**
 * Reads an Open-Meteo forecast response (the JSON text as fetched or published) and stamps it;
 * a response that is not one, or that Open-Meteo sent to say the request was wrong, is refused.
 */
export function readForecast(text: string, arrival: ForecastArrival): ForecastReading {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return malformed(`not JSON (${(e as Error).message})`);
  }
  if (!isRecord(body)) return malformed('not an Open-Meteo forecast (expected a JSON object)');
  if (body.error === true) return { ok: false, reason: `the weather service refused the request: ${typeof body.reason === 'string' ? body.reason : 'no reason given'}` };
  const { latitude, longitude } = body;
  if (typeof latitude !== 'number' || typeof longitude !== 'number' || Math.abs(latitude) > 90 || Math.abs(longitude) > 180) return malformed('no latitude and longitude: it does not say where it is for');
  const offsetS = body.utc_offset_seconds ?? 0;
  if (typeof offsetS !== 'number' || !Number.isFinite(offsetS)) return malformed('utc_offset_seconds is not a number');
  const hourly = body.hourly;
  if (!isRecord(hourly) || !Array.isArray(hourly.time) || hourly.time.length === 0) return malformed('no hourly.time: ask for hourly=cloud_cover,shortwave_radiation');
  const units = isRecord(body.hourly_units) ? body.hourly_units : undefined;
  const unixtime = units?.time === 'unixtime';
  const times = hourly.time.map((t) => hourTime(t, unixtime, offsetS));
  for (const [i, t] of times.entries()) {
    if (!Number.isFinite(t)) return malformed(`hourly.time[${i}] is ${JSON.stringify(hourly.time[i])}, not a time`);
    // Open-Meteo's hourly series are hour by hour; anything else is not what the budget reads.
    if (i > 0 && t - times[i - 1]! !== HOUR_MS) return malformed(`hourly.time is not hour by hour at [${i}] (${JSON.stringify(hourly.time[i])})`);
  }
  const ghi = series(hourly, units, 'shortwave_radiation', 'W/m²', 1500, times.length);
  const cover = series(hourly, units, 'cloud_cover', '%', 100, times.length);
  for (const s of [ghi, cover]) if (typeof s === 'string') return malformed(s);
  const ghiValues = ghi as (number | null)[] | undefined;
  const coverValues = cover as (number | null)[] | undefined;
  if (!ghiValues && !coverValues) return malformed('neither hourly.shortwave_radiation nor hourly.cloud_cover: ask for hourly=cloud_cover,shortwave_radiation');
  const hours: ForecastHour[] = times.map((atMs, i) => {
    const h: ForecastHour = { atMs };
    const g = ghiValues?.[i];
    const c = coverValues?.[i];
    if (typeof g === 'number') h.ghiWm2 = g;
    if (typeof c === 'number') h.cloudCoverPct = c;
    return h;
  });
  if (!hours.some((h) => h.ghiWm2 !== undefined || h.cloudCoverPct !== undefined)) return malformed('every hourly value is null');
  let issuedAtMs = arrival.receivedAtMs;
  if (arrival.route === 'mesh') {
    const stated = body.issued_at;
    if (stated !== undefined) {
      const ms = typeof stated === 'string' && /(Z|[+-]\d{2}:?\d{2})$/.test(stated) ? Date.parse(stated) : NaN;
      if (!Number.isFinite(ms)) return malformed(`issued_at is ${JSON.stringify(stated)}, not an ISO 8601 time with a zone`);
      issuedAtMs = ms;
    }
    issuedAtMs = Math.min(issuedAtMs, times[0]! + 24 * HOUR_MS);
  }
  return { ok: true, forecast: { route: arrival.route, issuedAtMs, latDeg: latitude, lonDeg: longitude, hours } };
}

/** Great-circle distance, km (haversine on a 6371 km sphere). */
export function distanceKm(a: { latDeg: number; lonDeg: number }, b: { latDeg: number; lonDeg: number }): number {
  const rad = Math.PI / 180;
  const dLat = (b.latDeg - a.latDeg) * rad;
  const dLon = (b.lonDeg - a.lonDeg) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latDeg * rad) * Math.cos(b.latDeg * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(h)));
}

const hoursAgo = (ms: number) => `${(ms / HOUR_MS).toFixed(1)} h`;
const utc = (ms: number) => `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;

/** Why the budget may not use this forecast now (stale, for another place), or null when it may. */
export function forecastRefusal(f: OutsideForecast, site: { latDeg: number; lonDeg: number }, now: number, limits: ForecastLimits = {}): string | null {
  const toleranceKm = limits.placeToleranceKm ?? DEFAULT_PLACE_TOLERANCE_KM;
  const km = distanceKm(site, f);
  if (km > toleranceKm) {
    return `for another place: ${f.latDeg.toFixed(3)}°, ${f.lonDeg.toFixed(3)}° is ${km.toFixed(0)} km from the site (${site.latDeg.toFixed(3)}°, ${site.lonDeg.toFixed(3)}°; tolerance ${toleranceKm} km)`;
  }
  if (f.issuedAtMs > now + FUTURE_TOLERANCE_MS) return `issued in the future (${utc(f.issuedAtMs)}, the site's clock says ${utc(now)}): one of the clocks is wrong`;
  const maxAgeMs = limits.maxAgeMs ?? DEFAULT_FORECAST_MAX_AGE_MS;
  if (now - f.issuedAtMs > maxAgeMs) return `stale: issued ${hoursAgo(now - f.issuedAtMs)} ago (${utc(f.issuedAtMs)}), older than ${hoursAgo(maxAgeMs)}`;
  const last = f.hours.at(-1)!.atMs;
  if (last <= now) return `stale: its last hour ended at ${utc(last)}`;
  return null;
}

/** Below this clear-sky mean an hour's GHI says little of the sky (dawn, dusk): its cloud cover is read instead. */
const MIN_CLEAR_WM2 = 20;
/** The same bound as the measured cloud factor's (budget-steps.ts learnSky). */
const MAX_FACTOR = 1.2;

/** The forecast's sky, hour by hour, as the fraction of clear-sky GHI (the budget's cloud factor). */
export interface ForecastSky {
  /** The hours' start, first one, ms. */
  fromMs: number;
  /** Factor per hour from fromMs (undefined: the hour says nothing). */
  factors: (number | undefined)[];
}

/**
 * The forecast as a sky factor per hour: the hour's forecast GHI over the clear sky's mean in
 * that hour (the site's own astronomy, 5-minute midpoints); where the sun is too low for that to
 * mean much, or no GHI is given, the cloud cover read through Kasten & Czeplak.
 */
export function forecastSky(f: OutsideForecast, sky: ClearSky): ForecastSky {
  const factors = f.hours.map((h) => {
    const start = h.atMs - HOUR_MS;
    let clear = 0;
    for (let i = 0; i < 12; i++) clear += sky.ghiWm2(start + (i + 0.5) * 300_000) / 12;
    if (h.ghiWm2 !== undefined && clear >= MIN_CLEAR_WM2) return Math.min(MAX_FACTOR, h.ghiWm2 / clear);
    // cloud_cover is at the hour's time, GHI over the hour before it: the cover at the hour's end is near enough.
    if (h.cloudCoverPct !== undefined) return cloudTransmittance(h.cloudCoverPct / 100);
    return undefined;
  });
  return { fromMs: f.hours[0]!.atMs - HOUR_MS, factors };
}

/** The forecast's factor at a time, undefined outside its hours or where it says nothing. */
export function skyFactorAt(s: ForecastSky, atMs: number): number | undefined {
  const i = Math.floor((atMs - s.fromMs) / HOUR_MS);
  return i >= 0 && i < s.factors.length ? s.factors[i] : undefined;
}
