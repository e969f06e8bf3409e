/**
 * `canopy sim run --scenario NAME|FILE [--seed N] [--speed max|N] [--report DIR] [--tlog FILE]`:
 * the controller flies a scenario headless on the simulated clock, with a progress bar, and
 * writes a report (figures.json + plots) at the end. `canopy sim list` names the shipped scenarios.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CanopyError } from '../common/errors.ts';
import { computeFigures, figureEntries, FIGURE_DEFINITIONS, formatFigure, writeReport, type Figures } from '../sim/report.ts';
import { loadScenario, shippedScenarios, type Scenario } from '../sim/scenario.ts';
import { startMs } from '../sim/build.ts';
import { SimulatedSite, type SiteSample } from './simulated-site.ts';
import { progressBar } from '../controller/progress.ts';

export interface SimRunResult {
  figures: Figures;
  samples: SiteSample[];
  site: SimulatedSite;
}

/** Runs a scenario to its end (or `durationMs`) and returns the figures; used by the CLI, the bench and tests. */
export async function runScenario(
  scenario: Scenario,
  opts: { seed: number; speed?: number | 'max'; tlog?: string; durationMs?: number; sampleEveryMs?: number; onProgress?: (fraction: number, site: SimulatedSite) => void },
): Promise<SimRunResult> {
  const site = new SimulatedSite({ scenario, seed: opts.seed, tlog: opts.tlog });
  const samples: SiteSample[] = [];
  const durationMs = opts.durationMs ?? scenario.duration;
  const sampleEveryMs = opts.sampleEveryMs ?? 60_000;
  await site.start();
  const wall0 = performance.now();
  if (opts.speed === undefined || opts.speed === 'max') {
    await site.runFast(durationMs, { sampleEveryMs, onSample: (s) => samples.push(s), onProgress: (f) => opts.onProgress?.(f, site) });
  } else {
    const stop = new AbortController();
    const end = site.clock.now() + durationMs;
    let nextProgress = 0;
    await site.runRealTime({
      speed: opts.speed,
      signal: stop.signal,
      sampleEveryMs,
      onSample: (s) => {
        samples.push(s);
        const f = 1 - (end - s.timeMs) / durationMs;
        if (f >= nextProgress) {
          opts.onProgress?.(Math.min(1, f), site);
          nextProgress = f + 0.01;
        }
        if (s.timeMs >= end) stop.abort();
      },
    });
  }
  const wallS = (performance.now() - wall0) / 1000;
  await site.stop();
  const figures = computeFigures(samples, {
    scenario: scenario.name,
    seed: opts.seed,
    startMs: startMs(scenario),
    durationMs,
    wallS,
    drones: scenario.swarm.drones,
    minSeparationM: site.world.minSeparationM,
    denials: site.site.fleet.denials,
    transitions: site.site.fleet.transitions.length,
    events: site.events.map((e) => ({ atMs: e.firedAtMs, what: e.what })),
    tlogSha256: opts.tlog ? createHash('sha256').update(readFileSync(opts.tlog)).digest('hex') : undefined,
    warning: site.budget?.warning,
  });
  return { figures, samples, site };
}

export async function run(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  if (verb === 'list') {
    parseArgs({ args: rest, options: {} }); // it takes none: an option given is refused by name
    for (const name of shippedScenarios()) console.log(`${name.padEnd(20)} ${loadScenario(name).description}`);
    return 0;
  }
  if (verb === 'serve') return serve(rest);
  if (verb !== 'run') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `unknown sim command "${verb ?? ''}" (use: canopy sim run --scenario NAME | canopy sim serve --link URL | canopy sim list)`);
  const { values } = parseArgs({
    args: rest,
    options: {
      scenario: { type: 'string', default: 'clear-summer-day' },
      seed: { type: 'string', default: '1' },
      speed: { type: 'string', default: 'max' },
      report: { type: 'string' },
      tlog: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const seed = Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--seed must be a non-negative integer, got "${values.seed}"`);
  const speed = values.speed === 'max' ? 'max' : Number(values.speed);
  if (speed !== 'max' && !(speed > 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--speed must be "max" or a positive number, got "${values.speed}"`);
  const scenario = loadScenario(values.scenario!);
  const bar = progressBar(`${scenario.name} (seed ${seed})`);
  const { figures, samples } = await runScenario(scenario, {
    seed,
    speed,
    tlog: values.tlog,
    onProgress: (f, site) => {
      const st = site.site.fleet.status();
      bar(f, `${new Date(site.clock.now()).toISOString().slice(0, 16)}Z  ${st.manned}/${st.stations} stations  ${st.roles['on-station']} up`);
    },
  });
  if (values.report) {
    const files = writeReport(values.report, samples, figures);
    console.error(`report: ${files.map((f) => `${values.report}/${f}`).join(', ')}`);
  }
  if (values.json) console.log(JSON.stringify(figures));
  else {
    const entries = figureEntries(figures);
    const width = Math.max(...entries.map(([k]) => FIGURE_DEFINITIONS[k].label.length));
    for (const [k, v] of entries) console.log(`${FIGURE_DEFINITIONS[k].label.padEnd(width)}  ${formatFigure(k, v)}`);
    for (const e of figures.events) console.log(`event ${e.at}  ${e.what}`);
  }
  return 0;
}

/** `canopy sim serve --link URL [--link URL …]`: the swarm's radios on real transports, at `--speed` × real time. */
async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      scenario: { type: 'string', default: 'clear-summer-day' },
      link: { type: 'string', multiple: true },
      drones: { type: 'string' },
      seed: { type: 'string', default: '1' },
      speed: { type: 'string', default: '1' },
      'run-for': { type: 'string' },
    },
  });
  if (!values.link?.length) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'canopy sim serve needs --link URL (one per ground radio), e.g. --link tcpin://127.0.0.1:5760');
  const base = loadScenario(values.scenario!);
  const drones = values.drones === undefined ? base.swarm.drones : Number(values.drones);
  if (!Number.isInteger(drones) || drones < 1 || drones > 250) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--drones must be 1-250, got "${values.drones}"`);
  const speed = Number(values.speed);
  if (!(speed > 0)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--speed must be a positive number, got "${values.speed}"`);
  const { serveSim } = await import('../sim/serve.ts');
  const served = await serveSim({ ...base, swarm: { ...base.swarm, drones } }, { seed: Number(values.seed), urls: values.link, speed });
  console.log(`canopy sim: ${drones} virtual ArduCopters of "${base.name}" on ${values.link.join(', ')} at ${speed}× real time`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
    if (values['run-for']) setTimeout(resolve, Number(values['run-for']) * 1000);
  });
  await served.stop();
  return 0;
}
