/**
 * The report of a simulation run: `figures.json` (the numbers a reviewer compares between runs)
 * and SVG plots of power, state of charge, coverage, wind and the uplink over the run, tied
 * together in `report.md` with a table saying what each figure is (FIGURE_DEFINITIONS). Plots are
 * plain SVG written here (no browser, no plotting library), so a headless Pi writes them too.
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

// ---- what each figure means ----------------------------------------------------------------------

export interface FigureDefinition {
  label: string;
  /** The unit the value is shown in ('' for a name or a count that is its own unit). */
  unit: string;
  meaning: string;
  /** figures.json holds a fraction 0–1; people read it as a percentage. */
  percent?: true;
}

/** The one place that says what each figure is: the report's table and the console summary read it. */
export const FIGURE_DEFINITIONS: Record<Exclude<keyof Figures, 'events'>, FigureDefinition> = {
  scenario: { label: 'Scenario', unit: '', meaning: 'the scenario flown: a shipped name (canopy sim list) or the file name' },
  seed: { label: 'Seed', unit: '', meaning: 'the random seed: the same scenario and seed fly the same run, byte for byte' },
  drones: { label: 'Drones', unit: 'drones', meaning: 'drones in the swarm' },
  simulated_h: { label: 'Simulated time', unit: 'h', meaning: 'simulated time flown' },
  wall_s: { label: 'Wall time', unit: 's', meaning: 'how long the run took on this machine' },
  rtf: { label: 'Speed', unit: '× real time', meaning: 'simulated seconds per wall-clock second' },
  min_separation_m: { label: 'Closest approach', unit: 'm', meaning: 'the smallest distance between two airborne drones (— if never two were in the air)' },
  command_denials: { label: 'Commands refused', unit: 'commands', meaning: 'commands an autopilot answered with a refusal (timeouts not counted)' },
  fleet_transitions: { label: 'Role changes', unit: 'changes', meaning: 'changes of a drone’s role in the fleet (charging, ready, launching, on station, returning, landing, away, fault, lost), all drones together' },
  generation_kwh: { label: 'Net generation', unit: 'kWh', meaning: 'energy the net’s panels delivered while held aloft' },
  hover_kwh: { label: 'Hover energy', unit: 'kWh', meaning: 'energy the airborne drones spent flying' },
  net_up_h: { label: 'Net up', unit: 'h', meaning: 'time with at least one station manned' },
  coverage: { label: 'Coverage', unit: '%', percent: true, meaning: 'manned station-hours over wanted station-hours: 100 % = every station the budget wanted was always manned (— if none was wanted)' },
  peak_net_area_m2: { label: 'Largest net', unit: 'm²', meaning: 'the largest net area held aloft at once' },
  min_drone_soc: { label: 'Lowest drone charge', unit: '%', percent: true, meaning: 'the lowest state of charge any drone’s battery reached' },
  final_station_soc: { label: 'Station battery at the end', unit: '%', percent: true, meaning: 'the ground station battery’s state of charge when the run ended' },
  satellite_in_view_h: { label: 'Satellite in view', unit: 'h', meaning: 'time the dish could see a satellite (obstructions and outages taken out)' },
  uplink_granted_h: { label: 'Dish power granted', unit: 'h', meaning: 'time the power budget granted the dish its power' },
  uplink_usable_h: { label: 'Uplink usable', unit: 'h', meaning: 'time the dish both saw a satellite and had its power: when the relay could send' },
  max_wind_ms: { label: 'Strongest wind', unit: 'm/s', meaning: 'the strongest wind at the net, gusts included' },
  tlog_sha256: { label: 'Telemetry log sha256', unit: '', meaning: 'hash of the --tlog file: a replay of the same scenario and seed gives the same' },
  fleet_warning: { label: 'Fleet warning', unit: '', meaning: 'the power budget’s warning when the fleet could not sustain the net it should hold (— if none)' },
};

/** A figure's value as people read it: its unit, fractions as percentages, — for none. */
export function formatFigure(key: Exclude<keyof Figures, 'events'>, value: unknown): string {
  if (value === null || value === undefined) return '—';
  const d = FIGURE_DEFINITIONS[key];
  const shown = d.percent && typeof value === 'number' ? String(Math.round(value * 1000) / 10) : String(value);
  return d.unit ? `${shown} ${d.unit}` : shown;
}

/** The figures in FIGURE_DEFINITIONS' order, as present (tlog_sha256 only with a tlog). */
export function figureEntries(figures: Figures): [Exclude<keyof Figures, 'events'>, unknown][] {
  return (Object.keys(FIGURE_DEFINITIONS) as Exclude<keyof Figures, 'events'>[]).filter((k) => k in figures).map((k) => [k, figures[k]]);
}

// ---- plots ---------------------------------------------------------------------------------------

export interface Series {
  name: string;
  color: string;
  values: readonly number[];
  /** Draw as a filled step band (counts that change in steps) instead of a line. */
  fill?: boolean;
}

const W = 900;
const PLOT_H = 200;
const M = { l: 72, r: 20, b: 52 };
const TITLE_Y = 24;
const LEGEND_ROW_H = 20;
/** Generous width of one character at 12 px sans-serif, so a legend entry never runs into the next. */
const CHAR_W = 7.2;

/**
 * A y axis from 0 with about five ticks on 1-2-2.5-5 steps. `integer` (drones, counts): only whole
 * steps, so no tick reads 6.25 drones.
 */
export function axisScale(maxValue: number, opts: { integer?: boolean } = {}): { max: number; step: number } {
  const top = Number.isFinite(maxValue) && maxValue > 0 ? maxValue : 1;
  const raw = top / 5;
  const p = 10 ** Math.floor(Math.log10(raw));
  const steps = [1, 2, 2.5, 5, 10].map((m) => m * p).filter((s) => !opts.integer || (Number.isInteger(s) && s >= 1));
  const step = steps.find((s) => s >= raw - 1e-12) ?? (opts.integer ? Math.max(1, 10 * p) : 10 * p);
  return { max: Math.ceil(top / step - 1e-9) * step, step };
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const tickText = (v: number) => String(+v.toFixed(6));

/** Legend entries laid out left to right under the title, wrapping to a new row when the width is used. */
function legendLayout(names: readonly string[], left: number): { x: number; row: number }[] {
  const out: { x: number; row: number }[] = [];
  let x = left;
  let row = 0;
  for (const n of names) {
    const w = 16 + n.length * CHAR_W + 18;
    if (x + w > W - M.r && x > left) {
      row++;
      x = left;
    }
    out.push({ x, row });
    x += w;
  }
  return out;
}

/** The frame every chart shares: title, legend under it, the time axis in UTC; returns the plot's coordinates. */
function frame(opts: { title: string; timesMs: readonly number[]; legend: readonly { name: string; color: string }[]; left?: number }) {
  const left = opts.left ?? M.l;
  const t = opts.timesMs;
  const t0 = t[0] ?? 0;
  const t1 = Math.max(t.at(-1) ?? 1, t0 + 1);
  const legend = legendLayout(opts.legend.map((s) => s.name), left);
  const rows = legend.length ? Math.max(...legend.map((l) => l.row)) + 1 : 0;
  const top = TITLE_Y + 14 + rows * LEGEND_ROW_H;
  const height = top + PLOT_H + M.b;
  const bottom = top + PLOT_H;
  const x = (ms: number) => left + ((ms - t0) / (t1 - t0)) * (W - left - M.r);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${height}" width="${W}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${height}" fill="white"/>`,
    `<text x="${left}" y="${TITLE_Y}" font-size="15" font-weight="bold">${esc(opts.title)}</text>`,
  ];
  opts.legend.forEach((s, i) => {
    const { x: lx, row } = legend[i]!;
    const y = TITLE_Y + 14 + row * LEGEND_ROW_H;
    out.push(`<rect x="${lx}" y="${y + 2}" width="12" height="10" fill="${s.color}"/><text x="${(lx + 16).toFixed(1)}" y="${y + 11}">${esc(s.name)}</text>`);
  });
  const spanH = (t1 - t0) / 3600_000;
  const stepH = spanH <= 1.5 ? 0.25 : spanH <= 12 ? 1 : spanH <= 30 ? 3 : spanH <= 24 * 8 ? 12 : 24;
  const stepMs = stepH * 3600_000;
  for (let ms = Math.ceil(t0 / stepMs) * stepMs; ms <= t1; ms += stepMs) {
    const d = new Date(ms);
    const hhmm = d.toISOString().slice(11, 16);
    const label = stepH >= 24 || (hhmm === '00:00' && spanH > 24) ? d.toISOString().slice(5, 10) : hhmm;
    out.push(`<line x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${top}" y2="${bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x(ms).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<text x="${((left + W - M.r) / 2).toFixed(0)}" y="${bottom + 38}" text-anchor="middle" fill="#444">time (UTC${spanH > 24 ? ', dates as MM-DD' : ''})</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${bottom}" stroke="#999"/><line x1="${left}" x2="${W - M.r}" y1="${bottom}" y2="${bottom}" stroke="#999"/>`);
  return { out, x, t0, top, bottom, left };
}

/**
 * A time-series chart as a standalone SVG document. Times are epoch ms, shown as UTC. `yLabel`
 * names the quantity and its unit; `integer` keeps the ticks whole.
 */
export function lineChart(opts: { title: string; yLabel: string; timesMs: readonly number[]; series: readonly Series[]; yMax?: number; integer?: boolean }): string {
  const t = opts.timesMs;
  const { out, x, t0, top, bottom } = frame({ title: opts.title, timesMs: t, legend: opts.series });
  const scale = axisScale(opts.yMax ?? Math.max(0, ...opts.series.flatMap((s) => s.values.filter(Number.isFinite))), { integer: opts.integer });
  const y = (v: number) => bottom - (Math.max(0, Math.min(v, scale.max)) / scale.max) * (bottom - top);
  for (let v = 0; v <= scale.max + 1e-9; v += scale.step) {
    out.push(`<line x1="${M.l}" x2="${W - M.r}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${tickText(v)}</text>`);
  }
  out.push(`<text transform="translate(18 ${((top + bottom) / 2).toFixed(0)}) rotate(-90)" text-anchor="middle" fill="#444">${esc(opts.yLabel)}</text>`);
  for (const s of opts.series) {
    if (s.fill) {
      const step: string[] = [];
      s.values.forEach((v, i) => {
        const xi = x(t[i]!).toFixed(1);
        if (i > 0) step.push(`${xi},${y(s.values[i - 1]!).toFixed(1)}`);
        step.push(`${xi},${y(v).toFixed(1)}`);
      });
      out.push(`<polygon points="${x(t0).toFixed(1)},${y(0)} ${step.join(' ')} ${x(t.at(-1) ?? t0).toFixed(1)},${y(0)}" fill="${s.color}" fill-opacity="0.3" stroke="${s.color}"/>`);
    } else {
      const pts = s.values.map((v, i) => `${x(t[i]!).toFixed(1)},${y(v).toFixed(1)}`);
      out.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${s.color}" stroke-width="1.5"/>`);
    }
  }
  out.push('</svg>');
  return out.join('\n');
}

/** On/off states over time, one named lane each, shaded where on (the lanes are the y axis: no numbers on it). */
export function laneChart(opts: { title: string; timesMs: readonly number[]; lanes: readonly { name: string; color: string; on: readonly boolean[] }[] }): string {
  const t = opts.timesMs;
  const left = Math.max(M.l, 16 + Math.max(0, ...opts.lanes.map((l) => l.name.length)) * CHAR_W);
  const { out, x, top, bottom } = frame({ title: `${opts.title} (shaded: on)`, timesMs: t, legend: [], left });
  const laneH = (bottom - top) / Math.max(1, opts.lanes.length);
  opts.lanes.forEach((lane, li) => {
    const y0 = top + li * laneH + 8;
    const h = (laneH - 16).toFixed(1);
    out.push(`<text x="${left - 6}" y="${(y0 + laneH / 2 - 4).toFixed(1)}" text-anchor="end">${esc(lane.name)}</text>`);
    out.push(`<rect x="${left}" y="${y0.toFixed(1)}" width="${W - left - M.r}" height="${h}" fill="#f4f4f4"/>`);
    // Each run of "on" samples is one band, to the next sample.
    for (let i = 0; i < t.length; i++) {
      if (!lane.on[i]) continue;
      let j = i;
      while (j + 1 < t.length && lane.on[j + 1]) j++;
      const x1 = x(t[i]!);
      const x2 = x(t[Math.min(j + 1, t.length - 1)]!);
      out.push(`<rect x="${x1.toFixed(1)}" y="${y0.toFixed(1)}" width="${Math.max(1, x2 - x1).toFixed(1)}" height="${h}" fill="${lane.color}" fill-opacity="0.75"/>`);
      i = j;
    }
  });
  out.push('</svg>');
  return out.join('\n');
}

interface Chart {
  file: string;
  /** What the chart shows, under it in report.md. */
  caption: string;
  svg: (samples: readonly ReportSample[]) => string;
}

const times = (samples: readonly ReportSample[]) => samples.map((s) => s.timeMs);

/** The report's charts, each with the sentence that explains it. */
export const CHARTS: readonly Chart[] = [
  {
    file: 'power.svg',
    caption: 'What the net’s panels deliver against what the airborne drones spend hovering. The net pays for itself where generation is above hover.',
    svg: (s) =>
      lineChart({
        title: 'Power: net generation and hover',
        yLabel: 'power (kW)',
        timesMs: times(s),
        series: [
          { name: 'net generation', color: '#e6a100', values: s.map((x) => x.generationW / 1000) },
          { name: 'hover', color: '#c0392b', values: s.map((x) => x.hoverW / 1000) },
        ],
      }),
  },
  {
    file: 'soc.svg',
    caption: 'State of charge of the drones’ batteries (their mean and the lowest) and of the ground station’s battery.',
    svg: (s) =>
      lineChart({
        title: 'Battery state of charge',
        yLabel: 'state of charge (%)',
        timesMs: times(s),
        yMax: 100,
        series: [
          { name: 'drones, mean', color: '#2e86de', values: s.map((x) => x.meanSoc * 100) },
          { name: 'drones, lowest', color: '#c0392b', values: s.map((x) => x.minSoc * 100) },
          { name: 'station battery', color: '#27ae60', values: s.map((x) => x.stationSoc * 100) },
        ],
      }),
  },
  {
    file: 'coverage.svg',
    caption: 'Stations the power budget wants manned (grey band), stations manned, and drones in the air (manned plus those launching, handing over or returning).',
    svg: (s) =>
      lineChart({
        title: 'Coverage: stations wanted and manned',
        yLabel: 'drones',
        integer: true,
        timesMs: times(s),
        series: [
          { name: 'stations wanted', color: '#7f8c8d', values: s.map((x) => x.stations), fill: true },
          { name: 'stations manned', color: '#2e86de', values: s.map((x) => x.manned) },
          { name: 'drones airborne', color: '#8e44ad', values: s.map((x) => x.airborne) },
        ],
      }),
  },
  {
    file: 'wind.svg',
    caption: 'Wind at the net, gusts included. The fleet lowers and shrinks the net as the sustained wind rises and lands it above its limit.',
    svg: (s) =>
      lineChart({
        title: 'Wind at the net',
        yLabel: 'wind speed (m/s)',
        timesMs: times(s),
        series: [{ name: 'wind, gusts included', color: '#34495e', values: s.map((x) => x.windMs) }],
      }),
  },
  {
    file: 'uplink.svg',
    caption: 'When the dish could see a satellite, when the power budget granted the dish its power, and when both held: the relay’s sending time.',
    svg: (s) =>
      laneChart({
        title: 'Uplink: satellite in view and dish power',
        timesMs: times(s),
        lanes: [
          { name: 'in view', color: '#16a085', on: s.map((x) => x.inContact) },
          { name: 'power granted', color: '#e67e22', on: s.map((x) => x.uplinkGranted) },
          { name: 'usable', color: '#2e86de', on: s.map((x) => x.inContact && x.uplinkGranted) },
        ],
      }),
  },
];

/** report.md: what was flown, the figures with their meaning, each chart with its caption, the scenario's events. */
export function reportMarkdown(figures: Figures): string {
  return [
    `# Canopy simulation report: ${figures.scenario} (seed ${figures.seed})`,
    '',
    `${figures.drones} drones, ${figures.simulated_h} simulated hours in ${figures.wall_s} s (${figures.rtf}× real time).`,
    '',
    '## Figures',
    '',
    'The same values are in `figures.json` under the keys shown (percentages there as fractions 0–1).',
    '',
    '| figure | value | what it is |',
    '|---|---|---|',
    ...figureEntries(figures).map(([k, v]) => `| ${FIGURE_DEFINITIONS[k].label} (\`${k}\`) | ${formatFigure(k, v).replace(/\|/g, '\\|')} | ${FIGURE_DEFINITIONS[k].meaning} |`),
    '',
    '## Charts',
    '',
    ...CHARTS.flatMap((c) => [`![${c.file.replace('.svg', '')}](${c.file})`, '', c.caption, '']),
    '## Scenario events',
    '',
    ...(figures.events.length ? figures.events.map((e) => `- ${e.at}: ${e.what}`) : ['- none']),
    '',
  ].join('\n');
}

/** Writes figures.json, the charts and report.md into `dir`; returns the file names. */
export function writeReport(dir: string, samples: readonly ReportSample[], figures: Figures): string[] {
  mkdirSync(dir, { recursive: true });
  for (const c of CHARTS) writeFileSync(join(dir, c.file), c.svg(samples));
  writeFileSync(join(dir, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  writeFileSync(join(dir, 'report.md'), reportMarkdown(figures));
  return ['figures.json', ...CHARTS.map((c) => c.file), 'report.md'];
}
