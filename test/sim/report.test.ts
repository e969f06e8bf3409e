/**
 * The `sim run` report reads well: ticks are whole where the unit is whole, every axis names its
 * unit, titles stay clear of their legends, and report.md explains every figure it lists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { axisScale, CHARTS, computeFigures, FIGURE_DEFINITIONS, formatFigure, lineChart, reportMarkdown, type ReportSample } from '../../sim/report.ts';

test('axis scales: whole steps for counts (no 6.25 drones), 1-2-2.5-5 steps otherwise, always covering the data', () => {
  for (const max of [1, 3, 4, 7, 12, 24, 25, 99, 250]) {
    const s = axisScale(max, { integer: true });
    assert.ok(Number.isInteger(s.step) && s.step >= 1, `step ${s.step} for ${max} drones`);
    assert.ok(s.max >= max && Number.isInteger(s.max / s.step), `max ${s.max} for ${max}`);
    assert.ok(s.max / s.step <= 10, `${s.max / s.step} ticks for ${max}`);
  }
  assert.deepEqual(axisScale(25, { integer: true }), { max: 25, step: 5 });
  assert.deepEqual(axisScale(4, { integer: true }), { max: 4, step: 1 });
  assert.deepEqual(axisScale(100), { max: 100, step: 20 });
  assert.deepEqual(axisScale(0.9), { max: 1, step: 0.2 });
  assert.deepEqual(axisScale(48.7), { max: 50, step: 10 });
  assert.deepEqual(axisScale(0, { integer: true }), { max: 1, step: 1 });
});

/** The text elements of an SVG: x, y and content. */
function texts(svg: string): { x: number; y: number; text: string; size: number }[] {
  return [...svg.matchAll(/<text x="([\d.]+)" y="([\d.]+)"([^>]*)>([^<]*)<\/text>/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
    text: m[4]!,
    size: /font-size="(\d+)"/.exec(m[3]!)?.[1] ? Number(/font-size="(\d+)"/.exec(m[3]!)![1]) : 12,
  }));
}

function samples(n: number, f: (i: number) => Partial<ReportSample>): ReportSample[] {
  const t0 = Date.parse('2026-07-15T09:00:00Z');
  return Array.from({ length: n }, (_, i) => ({
    timeMs: t0 + i * 60_000,
    airborne: 0, holding: 0, netAreaM2: 0, ghiWm2: 0, generationW: 0, hoverW: 0, meanSoc: 1, minSoc: 1, windMs: 3,
    stations: 0, manned: 0, uplinkGranted: false, inContact: true, stationSoc: 1,
    ...f(i),
  }));
}

test('charts: the title has its own line above the legend, legend entries do not overlap, drones tick in whole numbers, every axis names its unit', () => {
  const run = samples(300, (i) => ({ stations: i < 20 ? 0 : 24, manned: Math.min(24, i), airborne: Math.min(25, i), generationW: 450 * i, hoverW: 24_000, uplinkGranted: i > 100 }));
  for (const chart of CHARTS) {
    const svg = chart.svg(run);
    const all = texts(svg);
    const title = all[0]!;
    assert.equal(title.size, 15, `${chart.file}: the title comes first`);
    // Legend entries: the texts right after a swatch.
    const legend = [...svg.matchAll(/<rect x="([\d.]+)" y="([\d.]+)" width="12" height="10"[^>]*\/><text x="([\d.]+)" y="([\d.]+)">([^<]*)<\/text>/g)].map((m) => ({ x: Number(m[1]), y: Number(m[4]), name: m[5]! }));
    for (const l of legend) assert.ok(l.y - 12 >= title.y, `${chart.file}: legend "${l.name}" (y ${l.y}) is below the title (y ${title.y})`);
    for (let i = 1; i < legend.length; i++) {
      const [a, b] = [legend[i - 1]!, legend[i]!];
      if (a.y === b.y) assert.ok(b.x >= a.x + 16 + a.name.length * 7, `${chart.file}: "${a.name}" and "${b.name}" do not overlap`);
    }
    assert.ok(all.some((t) => t.text.startsWith('time (UTC')), `${chart.file}: the time axis names its unit`);
    if (!chart.file.startsWith('uplink')) assert.match(svg, /rotate\(-90\)" text-anchor="middle" fill="#444">[^<]*(\(|drones)/, `${chart.file}: the y axis names its unit`);
  }
  const coverage = CHARTS.find((c) => c.file === 'coverage.svg')!.svg(run);
  const ticks = texts(coverage).filter((t) => t.x === 66).map((t) => Number(t.text));
  assert.deepEqual(ticks, [0, 5, 10, 15, 20, 25], 'drones in whole steps');
  // A long legend wraps to a second row instead of running off (or into) anything.
  const wide = lineChart({ title: 'T', yLabel: 'x (W)', timesMs: [0, 3600_000], series: Array.from({ length: 8 }, (_, i) => ({ name: `a rather long series name ${i}`, color: '#000', values: [0, 1] })) });
  const rows = new Set([...wide.matchAll(/width="12" height="10"[^>]*\/><text x="[\d.]+" y="([\d.]+)"/g)].map((m) => m[1]));
  assert.ok(rows.size > 1, 'the legend wraps');
  for (const m of wide.matchAll(/width="12" height="10"[^>]*\/><text x="([\d.]+)" y="[\d.]+">([^<]*)</g)) assert.ok(Number(m[1]) + m[2]!.length * 7 <= 900, `"${m[2]}" fits`);
});

test('report.md explains each figure: label, value with its unit, and what it means, from the one table of definitions', () => {
  const run = samples(120, (i) => ({ stations: 4, manned: i > 10 ? 4 : 0, airborne: i > 10 ? 4 : 0, generationW: 4000, hoverW: 3000, minSoc: 0.8 }));
  const figures = computeFigures(run, { scenario: 'x', seed: 3, startMs: run[0]!.timeMs, durationMs: 2 * 3600_000, wallS: 4, drones: 4, minSeparationM: 9.5, denials: 0, transitions: 12, events: [{ atMs: run[5]!.timeMs, what: 'drone 3: motor failure in flight at 60 m' }] });
  const md = reportMarkdown(figures);
  for (const [key, def] of Object.entries(FIGURE_DEFINITIONS)) {
    if (!(key in figures)) continue;
    const row = md.split('\n').find((l) => l.includes(`(\`${key}\`)`));
    assert.ok(row, `a row for ${key}`);
    assert.ok(row.startsWith(`| ${def.label} `) && row.includes(def.meaning), `${key}: label and meaning`);
  }
  assert.match(md, /\| Lowest drone charge \(`min_drone_soc`\) \| 80 % \|/, 'fractions read as percentages');
  assert.match(md, /\| Net up \(`net_up_h`\) \| 1\.8\d* h \|/);
  assert.match(md, /\| Fleet warning \(`fleet_warning`\) \| — \|/);
  for (const c of CHARTS) assert.ok(md.includes(`![${c.file.replace('.svg', '')}](${c.file})\n\n${c.caption}`), `${c.file} has its caption`);
  assert.match(md, /- 2026-07-15T09:05:00\.000Z: drone 3: motor failure in flight at 60 m/);
  assert.equal(formatFigure('coverage', null), '—');
  assert.equal(formatFigure('max_wind_ms', 12.5), '12.5 m/s');
});
