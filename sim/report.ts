/**
 * The report of a simulation run: `figures.json` (the numbers a reviewer compares between runs)
 * and SVG plots of power, state of charge, coverage and the uplink over the run, tied together in
 * `report.md`. Plots are plain SVG written here (no browser, no plotting library), so a headless
 * Pi writes them too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorldSample } from './world.ts';

/** What the report reads from each sample (harness/simulated-site.ts's SiteSample has it all). */
export interface ReportSample extends Pick<WorldSample, 'timeMs' | 'airborne' | 'holding' | 'netAreaM2' | 'ghiWm2' | 'generationW' | 'hoverW' | 'meanSoc' | 'minSoc' | 'windMs'> {
  stations: number;
  manned: number;
  uplinkGranted: boolean;
  inContact: boolean;
  stationSoc: number;
}

export interface RunInfo {
  scenario: string;
  seed: number;
  startMs: number;
  durationMs: number;
  wallS: number;
  drones: number;
  minSeparationM: number;
  denials: number;
  transitions: number;
  events: { atMs: number; what: string }[];
  tlogSha256?: string;
  warning?: string | null;
}

export interface Figures {
  scenario: string;
  seed: number;
  drones: number;
  simulated_h: number;
  wall_s: number;
  rtf: number;
  min_separation_m: number | null;
  command_denials: number;
  fleet_transitions: number;
  generation_kwh: number;
  hover_kwh: number;
  /** Time with at least one station manned, h. */
  net_up_h: number;
  /** Manned station-hours over wanted station-hours (1 = every wanted station always manned). */
  coverage: number | null;
  peak_net_area_m2: number;
  min_drone_soc: number;
  final_station_soc: number;
  satellite_in_view_h: number;
  uplink_granted_h: number;
  /** Hours the dish could see the satellite and the budget granted it power. */
  uplink_usable_h: number;
  max_wind_ms: number;
  events: { at: string; what: string }[];
  tlog_sha256?: string;
  fleet_warning?: string | null;
}

export function computeFigures(samples: readonly ReportSample[], info: RunInfo): Figures {
  let gen = 0;
  let hover = 0;
  let netUp = 0;
  let manned = 0;
  let wanted = 0;
  let view = 0;
  let granted = 0;
  let usable = 0;
  let peakArea = 0;
  let minSoc = 1;
  let maxWind = 0;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const h = (b.timeMs - a.timeMs) / 3600_000;
    gen += a.generationW * h;
    hover += a.hoverW * h;
    if (a.manned > 0) netUp += h;
    manned += Math.min(a.manned, a.stations) * h;
    wanted += a.stations * h;
    if (a.inContact) view += h;
    if (a.uplinkGranted) granted += h;
    if (a.inContact && a.uplinkGranted) usable += h;
  }
  for (const s of samples) {
    peakArea = Math.max(peakArea, s.netAreaM2);
    minSoc = Math.min(minSoc, s.minSoc);
    maxWind = Math.max(maxWind, s.windMs);
  }
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  return {
    scenario: info.scenario,
    seed: info.seed,
    drones: info.drones,
    simulated_h: r3(info.durationMs / 3600_000),
    wall_s: r3(info.wallS),
    rtf: Math.round(info.durationMs / 1000 / Math.max(info.wallS, 1e-3)),
    min_separation_m: Number.isFinite(info.minSeparationM) ? r3(info.minSeparationM) : null,
    command_denials: info.denials,
    fleet_transitions: info.transitions,
    generation_kwh: r3(gen / 1000),
    hover_kwh: r3(hover / 1000),
    net_up_h: r3(netUp),
    coverage: wanted > 0 ? r3(manned / wanted) : null,
    peak_net_area_m2: r3(peakArea),
    min_drone_soc: r3(minSoc),
    final_station_soc: r3(samples.at(-1)?.stationSoc ?? 0),
    satellite_in_view_h: r3(view),
    uplink_granted_h: r3(granted),
    uplink_usable_h: r3(usable),
    max_wind_ms: r3(maxWind),
    events: info.events.map((e) => ({ at: new Date(e.atMs).toISOString(), what: e.what })),
    ...(info.tlogSha256 ? { tlog_sha256: info.tlogSha256 } : {}),
    fleet_warning: info.warning ?? null,
  };
}

// ---- plots ---------------------------------------------------------------------------------------

export interface Series {
  name: string;
  color: string;
  values: readonly number[];
  /** Draw as a filled step band (booleans, counts) instead of a line. */
  fill?: boolean;
}

const W = 900;
const H = 280;
const M = { l: 64, r: 16, t: 34, b: 40 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A time-series chart as a standalone SVG document. Times are epoch ms, shown as UTC hours. */
export function lineChart(opts: { title: string; yLabel: string; timesMs: readonly number[]; series: readonly Series[]; yMax?: number }): string {
  const t = opts.timesMs;
  const t0 = t[0] ?? 0;
  const t1 = Math.max(t.at(-1) ?? 1, t0 + 1);
  const yMax = opts.yMax ?? niceMax(Math.max(0, ...opts.series.flatMap((s) => s.values.filter(Number.isFinite))));
  const x = (ms: number) => M.l + ((ms - t0) / (t1 - t0)) * (W - M.l - M.r);
  const y = (v: number) => H - M.b - (Math.max(0, Math.min(v, yMax)) / yMax) * (H - M.t - M.b);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.l}" y="20" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4;
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${+v.toPrecision(3)}</text>`);
  }
  out.push(`<text transform="translate(14 ${(H / 2).toFixed(0)}) rotate(-90)" text-anchor="middle">${esc(opts.yLabel)}</text>`);
  const spanH = (t1 - t0) / 3600_000;
  const stepH = spanH <= 12 ? 1 : spanH <= 48 ? 3 : spanH <= 24 * 8 ? 12 : 24;
  const firstTick = Math.ceil(t0 / (stepH * 3600_000)) * stepH * 3600_000;
  for (let ms = firstTick; ms <= t1; ms += stepH * 3600_000) {
    const d = new Date(ms);
    const label = stepH >= 24 || (d.getUTCHours() === 0 && spanH > 24) ? d.toISOString().slice(5, 10) : `${String(d.getUTCHours()).padStart(2, '0')}:00`;
    out.push(`<line x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${M.t}" y2="${H - M.b}" stroke="#eee"/>`);
    out.push(`<text x="${x(ms).toFixed(1)}" y="${H - M.b + 16}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<text x="${W - M.r}" y="${H - 6}" text-anchor="end" fill="#666">UTC</text>`);
  let legendX = M.l + 220;
  for (const s of opts.series) {
    const pts = s.values.map((v, i) => `${x(t[i]!).toFixed(1)},${y(v).toFixed(1)}`);
    if (s.fill) {
      const step: string[] = [];
      s.values.forEach((v, i) => {
        const xi = x(t[i]!).toFixed(1);
        if (i > 0) step.push(`${xi},${y(s.values[i - 1]!).toFixed(1)}`);
        step.push(`${xi},${y(v).toFixed(1)}`);
      });
      out.push(`<polygon points="${x(t0).toFixed(1)},${y(0)} ${step.join(' ')} ${x(t.at(-1)!).toFixed(1)},${y(0)}" fill="${s.color}" fill-opacity="0.3" stroke="${s.color}"/>`);
    } else out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    out.push(`<rect x="${legendX}" y="11" width="12" height="10" fill="${s.color}"/><text x="${legendX + 16}" y="20">${esc(s.name)}</text>`);
    legendX += 24 + s.name.length * 7;
  }
  out.push('</svg>');
  return out.join('\n');
}

/** Writes figures.json, the four plots and report.md into `dir`; returns the file names. */
export function writeReport(dir: string, samples: readonly ReportSample[], figures: Figures): string[] {
  mkdirSync(dir, { recursive: true });
  const t = samples.map((s) => s.timeMs);
  const col = (f: (s: ReportSample) => number) => samples.map(f);
  const charts: Record<string, string> = {
    'power.svg': lineChart({
      title: 'Power: net generation vs hover',
      yLabel: 'W',
      timesMs: t,
      series: [
        { name: 'generation', color: '#e6a100', values: col((s) => s.generationW) },
        { name: 'hover', color: '#c0392b', values: col((s) => s.hoverW) },
      ],
    }),
    'soc.svg': lineChart({
      title: 'State of charge',
      yLabel: '%',
      timesMs: t,
      yMax: 100,
      series: [
        { name: 'mean drone', color: '#2e86de', values: col((s) => s.meanSoc * 100) },
        { name: 'lowest drone', color: '#c0392b', values: col((s) => s.minSoc * 100) },
        { name: 'station battery', color: '#27ae60', values: col((s) => s.stationSoc * 100) },
      ],
    }),
    'coverage.svg': lineChart({
      title: 'Coverage: stations wanted and manned',
      yLabel: 'drones',
      timesMs: t,
      series: [
        { name: 'stations wanted', color: '#7f8c8d', values: col((s) => s.stations), fill: true },
        { name: 'manned', color: '#2e86de', values: col((s) => s.manned) },
        { name: 'airborne', color: '#8e44ad', values: col((s) => s.airborne) },
      ],
    }),
    'uplink.svg': lineChart({
      title: 'Uplink: satellite in view and dish power granted',
      yLabel: 'on',
      timesMs: t,
      yMax: 2.2,
      series: [
        { name: 'in view', color: '#16a085', values: col((s) => (s.inContact ? 1 : 0)), fill: true },
        { name: 'granted', color: '#e67e22', values: col((s) => (s.uplinkGranted ? 1.1 : 0)), fill: true },
      ],
    }),
  };
  for (const [name, svg] of Object.entries(charts)) writeFileSync(join(dir, name), svg);
  writeFileSync(join(dir, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  const md = [
    `# Canopy simulation report: ${figures.scenario} (seed ${figures.seed})`,
    '',
    `${figures.drones} drones, ${figures.simulated_h} simulated hours in ${figures.wall_s} s (${figures.rtf}× real time).`,
    '',
    '| figure | value |',
    '|---|---|',
    ...Object.entries(figures)
      .filter(([k]) => k !== 'events')
      .map(([k, v]) => `| ${k} | ${v === null ? '—' : String(v)} |`),
    '',
    ...Object.keys(charts).map((n) => `![${n.replace('.svg', '')}](${n})\n`),
    '## Scenario events',
    '',
    ...(figures.events.length ? figures.events.map((e) => `- ${e.at}: ${e.what}`) : ['- none']),
    '',
  ].join('\n');
  writeFileSync(join(dir, 'report.md'), md);
  return ['figures.json', ...Object.keys(charts), 'report.md'];
}
