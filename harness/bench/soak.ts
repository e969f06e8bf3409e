/**
 * Bench suite `soak`: the default simulated site as `canopy start` runs it (the release build: the
 * mesh, the dashboard, the relay, the simulated phones and their demo backups), for 24 simulated
 * hours as fast as it goes, with the process's resident memory read from /proc along the way.
 *   rss_mb_start        median RSS over the second simulated hour (modules loaded, caches warm)
 *   rss_mb_end          median RSS over the last simulated hour
 *   rss_growth_mb       end − start (goal ≤ 10: memory is flat over a day)
 *   rss_mb_peak         the highest reading
 *   simulated_h         simulated hours flown; speed_achieved: simulated s per wall s
 * --quick flies 6 simulated hours. The curve is written as an SVG (its path is printed).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { lineChart } from '../../sim/report.ts';
import { freePort } from '../rigs/ports.ts';
import { releaseBuild, rssMb, serviceNodeFlags } from '../rigs/processes.ts';

const HOUR_MS = 3_600_000;
/** The most the configuration allows (simulation.speed); the site runs slower if it cannot keep up. */
const SPEED = 1000;
/** Wall ms between readings: a simulated hour is ~20 wall s at the speed reached, and RSS swings ±20 MB with each backup's buffers, so a median wants many readings. */
const READ_EVERY_MS = 250;

interface Reading {
  simMs: number;
  rssMb: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const round1 = (x: number) => Math.round(x * 10) / 10;

export const suite: BenchSuite = {
  description: 'the default simulated site for 24 simulated hours at full speed: is memory flat over a day?',
  async run(progress, { quick }) {
    const hours = quick ? 6 : 24;
    const { bin, env } = releaseBuild(progress);
    const data = mkdtempSync(join(tmpdir(), 'canopy-bench-soak-'));
    const ports = { dashboard: await freePort(), mqtt: await freePort(), ws: await freePort() };
    const args = ['start', '--data', data, '--dashboard-port', String(ports.dashboard), '--mqtt-port', String(ports.mqtt), '--ws-port', String(ports.ws), '--gcs', 'udpout://127.0.0.1:9', '--speed', String(SPEED), '--summary-every', '1'];
    progress(`canopy ${args.join(' ')}`);
    // As the Pi's service runs it: the release build with the unit's node flags.
    const child = spawn(process.execPath, [...serviceNodeFlags(), bin, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let simStartMs: number | undefined;
    let simNowMs: number | undefined;
    let tail = '';
    child.stdout.on('data', (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4000);
      // The status line (non-TTY: one line each --summary-every): "2026-06-21 06:40:04Z · 25 drones …".
      for (const m of d.toString().matchAll(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)Z · /gm)) {
        simNowMs = Date.parse(`${m[1]}T${m[2]}Z`);
        simStartMs ??= simNowMs;
      }
    });
    child.stderr.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
    const readings: Reading[] = [];
    const wallStart = performance.now();
    let lastHour = -1;
    try {
      while (true) {
        const code = await Promise.race([exited, new Promise<'tick'>((r) => setTimeout(() => r('tick'), READ_EVERY_MS))]);
        if (code !== 'tick') throw new Error(`canopy start exited (${code}) after ${readings.length} readings: ${tail.trim().split('\n').slice(-5).join(' / ')}`);
        const rss = rssMb(child.pid!);
        if (rss === undefined || simNowMs === undefined || simStartMs === undefined) continue;
        const simMs = simNowMs - simStartMs;
        readings.push({ simMs, rssMb: rss });
        const hour = Math.floor(simMs / HOUR_MS);
        if (hour > lastHour) {
          lastHour = hour;
          progress(`${hour} of ${hours} simulated h, RSS ${rss.toFixed(0)} MB (${((performance.now() - wallStart) / 1000).toFixed(0)} s)`);
        }
        if (simMs >= hours * HOUR_MS) break;
      }
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(data, { recursive: true, force: true });
    }
    const wallS = (performance.now() - wallStart) / 1000;
    const inHour = (from: number, to: number) => readings.filter((r) => r.simMs >= from * HOUR_MS && r.simMs < to * HOUR_MS).map((r) => r.rssMb);
    const start = median(inHour(1, 2));
    const end = median(inHour(hours - 1, hours));
    const dir = join(tmpdir(), 'canopy-bench-soak');
    mkdirSync(dir, { recursive: true });
    const svg = join(dir, 'rss.svg');
    const t0 = Date.parse('2026-01-01T00:00:00Z');
    writeFileSync(svg, lineChart({ title: `canopy start, default simulated site: resident memory over ${hours} simulated hours`, yLabel: 'RSS (MB)', timesMs: readings.map((r) => t0 + r.simMs), series: [{ name: 'RSS', color: '#1f77b4', values: readings.map((r) => r.rssMb) }] }));
    progress(`RSS curve: ${svg} (time axis: simulated hours from 00:00)`);
    const figures: Figures = {
      rss_mb_start: round1(start),
      rss_mb_end: round1(end),
      rss_growth_mb: round1(end - start),
      rss_mb_peak: round1(Math.max(...readings.map((r) => r.rssMb))),
      simulated_h: round1(readings.at(-1)!.simMs / HOUR_MS),
      speed_achieved: Math.round(readings.at(-1)!.simMs / 1000 / wallS),
      wall_s: Math.round(wallS),
    };
    return figures;
  },
};
