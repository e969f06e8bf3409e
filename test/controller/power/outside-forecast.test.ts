/**
 * The outside forecast on its own and in the budget: Open-Meteo's response read (the recorded
 * fixture), stamped and checked; refused when stale, for another place or malformed, with the
 * reason; the budget's fallback to the measured sky; and the sunset plan an outside forecast moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ManualClock } from '../../../firmware-bridge/clock.ts';
import { PowerPlanner } from '../../../controller/power/budget.ts';
import { clearSky, cloudTransmittance } from '../../../common/solar.ts';
import { forecastRefusal, forecastSky, readForecast, skyFactorAt, type OutsideForecast } from '../../../controller/power/outside-forecast.ts';
import { powerProfile, ZURICH } from '../../helpers/power-profile.ts';

const HOUR = 3_600_000;
const RECORDED = readFileSync(new URL('./fixtures/open-meteo-hamburg.json', import.meta.url), 'utf8');
const HAMBURG = { latitudeDeg: 53.55, longitudeDeg: 9.99, elevationM: 10, linkeTurbidity: 3.5 };
const T0 = Date.parse('2026-06-08T00:00:00Z');

function read(text: string, receivedAtMs = T0 + 6 * HOUR, route: 'uplink' | 'mesh' = 'uplink'): OutsideForecast {
  const r = readForecast(text, { route, receivedAtMs });
  assert.ok(r.ok, r.ok ? '' : r.reason);
  return r.forecast;
}

function reason(text: string): string {
  const r = readForecast(text, { route: 'mesh', receivedAtMs: T0 });
  assert.equal(r.ok, false, 'refused');
  return (r as { reason: string }).reason;
}

/** The recorded response with `edit` applied to its parsed body. */
function edited(edit: (body: Record<string, any>) => void): string {
  const body = JSON.parse(RECORDED);
  edit(body);
  return JSON.stringify(body);
}

/** A forecast in Open-Meteo's shape for a site: GHI = clear sky × transmittance(cover at the hour). */
function openMeteo(site: { latitudeDeg: number; longitudeDeg: number; elevationM: number }, from: number, hours: number, coverAt: (t: number) => number): string {
  const sky = clearSky(site);
  const time: string[] = [];
  const cloud: number[] = [];
  const sw: number[] = [];
  for (let i = 0; i < hours; i++) {
    const t = from + i * HOUR;
    let clear = 0;
    for (let k = 0; k < 12; k++) clear += sky.ghiWm2(t - HOUR + (k + 0.5) * 300_000) / 12;
    const c = coverAt(t - HOUR / 2);
    time.push(new Date(t).toISOString().slice(0, 16));
    cloud.push(c);
    sw.push(Math.round(clear * cloudTransmittance(c / 100)));
  }
  return JSON.stringify({ latitude: site.latitudeDeg, longitude: site.longitudeDeg, generationtime_ms: 0.05, utc_offset_seconds: 0, timezone: 'GMT', timezone_abbreviation: 'GMT', elevation: site.elevationM, hourly_units: { time: 'iso8601', cloud_cover: '%', shortwave_radiation: 'W/m²' }, hourly: { time, cloud_cover: cloud, shortwave_radiation: sw } });
}

test('the recorded Open-Meteo response reads hour by hour, stamped with when it was fetched and for where it is', () => {
  const f = read(RECORDED, T0 + 7 * HOUR);
  assert.equal(f.hours.length, 72);
  assert.equal(f.hours[0]!.atMs, T0, 'times are GMT: "2026-06-08T00:00" is midnight UTC');
  assert.equal(f.hours[71]!.atMs, T0 + 71 * HOUR);
  assert.deepEqual({ lat: f.latDeg, lon: f.lonDeg, issued: f.issuedAtMs, route: f.route }, { lat: 53.56, lon: 10, issued: T0 + 7 * HOUR, route: 'uplink' });
  const noon = f.hours.find((h) => h.atMs === Date.parse('2026-06-10T12:00:00Z'))!;
  assert.ok(noon.ghiWm2! > 500 && noon.cloudCoverPct! <= 35, JSON.stringify(noon));
  assert.equal(f.hours[0]!.ghiWm2, 0, 'no sun at midnight');
  // The overcast morning of 9 June: its GHI is a quarter of the clear sky's (Kasten & Czeplak at 100 %).
  const sky = forecastSky(f, clearSky(HAMBURG));
  const overcast = skyFactorAt(sky, Date.parse('2026-06-09T09:30:00Z'))!;
  assert.ok(Math.abs(overcast - 0.25) < 0.02, `overcast factor ${overcast}`);
  assert.ok(skyFactorAt(sky, Date.parse('2026-06-10T11:30:00Z'))! > 0.9, 'the sunny 10 June');
  assert.equal(skyFactorAt(sky, T0 + 80 * HOUR), undefined, 'nothing beyond its last hour');
});

test('unixtime and a UTC offset read as the same hours', () => {
  const f = read(RECORDED);
  const unix = read(edited((b) => {
    b.hourly_units.time = 'unixtime';
    b.hourly.time = b.hourly.time.map((t: string) => Date.parse(`${t}:00Z`) / 1000);
  }));
  assert.deepEqual(unix.hours, f.hours);
  // timezone=Europe/Berlin: the same instants written two hours later, with the offset stated.
  const berlin = read(edited((b) => {
    b.utc_offset_seconds = 7200;
    b.hourly.time = b.hourly.time.map((t: string) => new Date(Date.parse(`${t}:00Z`) + 2 * HOUR).toISOString().slice(0, 16));
  }));
  assert.deepEqual(berlin.hours, f.hours);
});

test('a forecast published on the mesh is stamped with its issued_at, else its arrival, never after its first day', () => {
  assert.equal(read(edited((b) => (b.issued_at = '2026-06-08T05:00:00Z')), T0 + 9 * HOUR, 'mesh').issuedAtMs, T0 + 5 * HOUR);
  assert.equal(read(RECORDED, T0 + 9 * HOUR, 'mesh').issuedAtMs, T0 + 9 * HOUR);
  // Passed on two days late, it is as old as its first day says at the least.
  assert.equal(read(RECORDED, T0 + 50 * HOUR, 'mesh').issuedAtMs, T0 + 24 * HOUR);
  assert.match(reason(edited((b) => (b.issued_at = 'this morning'))), /^malformed: issued_at is "this morning", not an ISO 8601 time with a zone/);
});

test('stale, foreign and future forecasts are refused with the reason; a grid cell near the site is not foreign', () => {
  const site = { latDeg: 53.55, lonDeg: 9.99 };
  const f = read(RECORDED, T0 + 6 * HOUR);
  assert.equal(forecastRefusal(f, site, T0 + 7 * HOUR), null, 'Open-Meteo snapped the site to 53.56°, 10.0° (1.3 km): the same place');
  assert.match(forecastRefusal(f, { latDeg: ZURICH.latitudeDeg, lonDeg: ZURICH.longitudeDeg }, T0 + 7 * HOUR)!, /^for another place: 53\.560°, 10\.000° is 69\d km from the site \(47\.377°, 8\.542°; tolerance 30 km\)$/);
  assert.match(forecastRefusal(f, { latDeg: 53.9, lonDeg: 9.99 }, T0 + 7 * HOUR)!, /^for another place: .* is 38 km .*tolerance 30 km/);
  assert.equal(forecastRefusal(f, { latDeg: 53.9, lonDeg: 9.99 }, T0 + 7 * HOUR, { placeToleranceKm: 50 }), null, 'the tolerance is the site\'s');
  assert.match(forecastRefusal(f, site, T0 + 31 * HOUR)!, /^stale: issued 25\.0 h ago \(2026-06-08 06:00 UTC\), older than 24\.0 h$/);
  assert.equal(forecastRefusal(f, site, T0 + 31 * HOUR, { maxAgeMs: 48 * HOUR }), null, 'maxAge is the site\'s');
  assert.match(forecastRefusal(f, site, T0 + 72 * HOUR, { maxAgeMs: 100 * HOUR })!, /^stale: its last hour ended at 2026-06-10 23:00 UTC$/);
  assert.match(forecastRefusal(f, site, T0 + 3 * HOUR)!, /^issued in the future \(2026-06-08 06:00 UTC, the site's clock says 2026-06-08 03:00 UTC\)/);
});

test('malformed responses are refused, each with what is wrong', () => {
  assert.match(reason('<html>502 Bad Gateway</html>'), /^malformed: not JSON/);
  assert.match(reason('[1, 2]'), /^malformed: not an Open-Meteo forecast/);
  assert.equal(reason('{"reason":"Cannot initialize ForecastVariable from invalid String value sunshine for key hourly","error":true}'), 'the weather service refused the request: Cannot initialize ForecastVariable from invalid String value sunshine for key hourly');
  assert.match(reason(edited((b) => delete b.latitude)), /^malformed: no latitude and longitude/);
  assert.match(reason(edited((b) => delete b.hourly)), /^malformed: no hourly\.time/);
  assert.match(reason(edited((b) => (b.hourly_units.shortwave_radiation = 'kJ/m²'))), /^malformed: hourly\.shortwave_radiation is in kJ\/m²; Canopy reads W\/m²$/);
  assert.match(reason(edited((b) => b.hourly.cloud_cover.pop())), /^malformed: hourly\.cloud_cover must be an array as long as hourly\.time \(72\)$/);
  assert.match(reason(edited((b) => (b.hourly.time[5] = '2026-06-08T05:30'))), /^malformed: hourly\.time is not hour by hour at \[5\]/);
  assert.match(reason(edited((b) => (b.hourly.time[5] = 'noon'))), /^malformed: hourly\.time\[5\] is "noon", not a time$/);
  assert.match(reason(edited((b) => (b.hourly.shortwave_radiation[12] = -4))), /^malformed: hourly\.shortwave_radiation\[12\] is -4, not a number from 0 to 1500 or null$/);
  assert.match(reason(edited((b) => (b.hourly.cloud_cover[3] = '80'))), /^malformed: hourly\.cloud_cover\[3\] is "80"/);
  assert.match(reason(edited((b) => {
    delete b.hourly.cloud_cover;
    delete b.hourly.shortwave_radiation;
  })), /^malformed: neither hourly\.shortwave_radiation nor hourly\.cloud_cover/);
  assert.match(reason(edited((b) => {
    b.hourly.cloud_cover = b.hourly.cloud_cover.map(() => null);
    b.hourly.shortwave_radiation = b.hourly.shortwave_radiation.map(() => null);
  })), /^malformed: every hourly value is null$/);
  // Nulls here and there are hours without a forecast, not a malformed one.
  const gappy = read(edited((b) => (b.hourly.shortwave_radiation[30] = null)));
  assert.equal(gappy.hours[30]!.ghiWm2, undefined);
  assert.equal(gappy.hours[30]!.cloudCoverPct, JSON.parse(RECORDED).hourly.cloud_cover[30]);
});

const hamburgProfile = () => powerProfile({ site: HAMBURG });

test('the budget takes an outside forecast, shapes the day with it, and says so', () => {
  const clock = new ManualClock(Date.parse('2026-06-09T04:00:00Z'));
  const own = new PowerPlanner(new ManualClock(clock.now()), hamburgProfile());
  const p = new PowerPlanner(clock, hamburgProfile());
  assert.equal(p.offerForecast(RECORDED, { route: 'uplink', receivedAtMs: clock.now() }), null);
  const b = p.update({ available: 25, holding: 0, charging: 0 });
  const mine = own.update({ available: 25, holding: 0, charging: 0 });
  assert.deepEqual(b.forecastSource, { kind: 'outside', outside: { route: 'uplink', issuedAtMs: clock.now(), latDeg: 53.56, lonDeg: 10, untilMs: Date.parse('2026-06-10T23:00:00Z') }, refused: null });
  assert.equal(mine.forecastSource.kind, 'measured');
  // Nothing measured yet: the own model expects the clear sky; the outside forecast the overcast morning.
  const at = (points: typeof b.forecast, iso: string) => points.find((f) => f.atMs === Date.parse(iso))!;
  const nine = at(b.forecast, '2026-06-09T09:00:00Z');
  assert.ok(Math.abs(nine.expectedGhiWm2 / nine.clearSkyGhiWm2 - 0.25) < 0.03, `${nine.expectedGhiWm2} of ${nine.clearSkyGhiWm2}`);
  assert.equal(at(mine.forecast, '2026-06-09T09:00:00Z').expectedGhiWm2, nine.clearSkyGhiWm2);
  assert.equal(nine.stations, 0, 'no net under the overcast');
  assert.ok(at(mine.forecast, '2026-06-09T09:00:00Z').stations > 0, 'the own model would have flown it');
});

test('a refused forecast leaves the budget on its own model, the reason shown; a stale one in use is dropped', () => {
  const clock = new ManualClock(Date.parse('2026-06-09T04:00:00Z'));
  const p = new PowerPlanner(clock, hamburgProfile());
  const own = new PowerPlanner(clock, hamburgProfile());
  const foreign = edited((b) => {
    b.latitude = 48.14;
    b.longitude = 11.58;
  });
  const why = p.offerForecast(foreign, { route: 'mesh', receivedAtMs: clock.now() });
  assert.match(why!, /^for another place: 48\.140°, 11\.580° is \d+ km from the site/);
  const b = p.update({ available: 25, holding: 0, charging: 0 });
  assert.deepEqual(b.forecastSource, { kind: 'measured', outside: null, refused: { route: 'mesh', reason: why, atMs: clock.now() } });
  assert.deepEqual(b.forecast, own.update({ available: 25, holding: 0, charging: 0 }).forecast, 'the fallback is the budget\'s own forecast');
  assert.match(p.offerForecast('not json', { route: 'uplink', receivedAtMs: clock.now() })!, /^malformed/);

  // Taken, then left to go stale: dropped with the reason, and the own model forecasts again.
  assert.equal(p.offerForecast(RECORDED, { route: 'uplink', receivedAtMs: clock.now() }), null);
  assert.equal(p.update({ available: 25, holding: 0, charging: 0 }).forecastSource.kind, 'outside');
  assert.match(p.offerForecast(RECORDED, { route: 'mesh', receivedAtMs: clock.now() - HOUR })!, /^older than the forecast in use/);
  clock.advance(25 * HOUR);
  const stale = p.update({ available: 25, holding: 0, charging: 0 });
  assert.equal(stale.forecastSource.kind, 'measured');
  assert.match(stale.forecastSource.refused!.reason, /^dropped the forecast in use: stale: issued 25\.0 h ago/);
  assert.deepEqual(stale.forecast, own.update({ available: 25, holding: 0, charging: 0 }).forecast);
});

test('an outside forecast of an afternoon front moves the sunset plan forward; without it the plan waits for the evening', () => {
  // 10 June in Hamburg, a clear morning measured by the reference cell; the forecast has overcast from 13:00 UTC.
  const start = Date.parse('2026-06-10T09:00:00Z');
  const front = Date.parse('2026-06-10T13:00:00Z');
  const sky = clearSky(HAMBURG);
  const plan = (withForecast: boolean) => {
    const clock = new ManualClock(start);
    const p = new PowerPlanner(clock, hamburgProfile());
    if (withForecast) assert.equal(p.offerForecast(openMeteo(HAMBURG, Date.parse('2026-06-10T00:00:00Z'), 72, (t) => (t < front ? 0 : 100)), { route: 'mesh', receivedAtMs: start }), null);
    let b = p.update({ available: 25, holding: 0, charging: 0, referenceGhiWm2: sky.ghiWm2(start) });
    for (let i = 0; i < 60; i++) {
      clock.advance(60_000);
      b = p.update({ available: 25, holding: 24, charging: 0, referenceGhiWm2: sky.ghiWm2(clock.now()) });
    }
    return b;
  };
  const own = plan(false);
  const outside = plan(true);
  assert.equal(outside.forecastSource.kind, 'outside');
  assert.ok(own.sunset.breakEvenAtMs! > Date.parse('2026-06-10T15:00:00Z'), `own: break-even ${new Date(own.sunset.breakEvenAtMs!).toISOString()}`);
  // The measured clear sky persists an hour or two; the forecast's overcast takes over past 13:00.
  assert.ok(outside.sunset.breakEvenAtMs! <= front + HOUR, `outside: break-even ${new Date(outside.sunset.breakEvenAtMs!).toISOString()}`);
  assert.ok(outside.sunset.landByMs! < own.sunset.landByMs! - 2 * HOUR, 'the landing is planned hours earlier');
});
