/** `canopy tlog info FILE` and `canopy tlog replay FILE [--speed N|max] [--to URL]`. */
import { parseArgs } from 'node:util';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { CanopyError, EXIT_CODES, isCanopyError } from '../../common/errors.ts';
import { createLink } from '../../firmware-bridge/links/index.ts';
import { TlogReplayLink, tlogInfo, type TlogInfo } from '../../firmware-bridge/tlog.ts';

/** Where QGroundControl listens by default. */
export const REPLAY_DEFAULT_TO = 'udpout://127.0.0.1:14550';
const PROGRESS_EVERY_MS = 250;

function table(header: string[], rows: (string | number)[][]): string[] {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  // First column left-aligned (names), the rest right-aligned (numbers).
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd());
}

function duration(s: number): string {
  if (s < 0) return 'unknown (the timestamps go backwards)';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${(s - m * 60).toFixed(1)} s` : `${s.toFixed(1)} s`;
}

/** A record time as ISO; a timestamp outside what Date can show (a damaged or foreign file) is shown as its number. */
function iso(us: bigint | undefined): string {
  if (us === undefined) return '-';
  const d = new Date(Number(us / 1000n));
  return Number.isNaN(d.getTime()) ? `${us} µs (not a date)` : d.toISOString();
}

export function formatInfo(path: string, info: TlogInfo): string {
  const lines = [
    `file        ${path}`,
    `frames      ${info.records}`,
    `duration    ${duration(info.durationS)} (${iso(info.firstUs)} to ${iso(info.lastUs)})`,
    `signed      ${info.signed}`,
    `errors      ${info.badRecords ? `${info.badRecords} damaged stretch(es), ${info.skippedBytes} bytes skipped` : 'none'}`,
    '',
    ...table(
      ['system/component', 'frames'],
      info.components.map((c) => [`${c.sysid}/${c.compid}`, c.count]),
    ),
    '',
    ...table(
      ['message', 'id', 'count', 'per s'],
      info.messages.map((m) => [m.name, m.id, m.count, info.durationS > 0 ? (m.count / info.durationS).toFixed(2) : '-']),
    ),
  ];
  lines.push('', info.unknownIds.length ? table(['unknown id', 'count'], info.unknownIds.map((u) => [u.id, u.count])).join('\n') : 'unknown ids none');
  return lines.join('\n');
}

function parseSpeed(text: string): number {
  if (text === 'max') return 0;
  const speed = Number(text);
  if (text.trim() === '' || !Number.isFinite(speed) || speed < 0) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `--speed must be a positive number or "max", got "${text}"`);
  return speed;
}

async function replay(path: string, speed: number, to: string): Promise<number> {
  const clock = new SystemClock();
  const source = new TlogReplayLink(path, clock, speed);
  const target = createLink(to, { clock });
  await target.start();
  source.on('data', (frame) => target.write(frame));
  const end = process.stderr.isTTY ? '\r' : '\n';
  const progress = () => process.stderr.write(`replayed ${source.played}/${source.total} frames to ${to}${end}`);
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    void source.stop();
  };
  process.once('SIGINT', onSignal);
  const timer = setInterval(progress, PROGRESS_EVERY_MS);
  try {
    await source.start();
    await source.done;
  } finally {
    clearInterval(timer);
    process.off('SIGINT', onSignal);
    progress();
    if (end === '\r') process.stderr.write('\n');
    await source.stop();
    // Let the last datagrams leave before the socket closes.
    await new Promise((resolve) => setImmediate(resolve));
    await target.stop();
  }
  const damage = source.readStats;
  if (damage?.badRecords) process.stderr.write(`skipped ${damage.skippedBytes} damaged bytes in ${damage.badRecords} place(s)\n`);
  return interrupted ? EXIT_CODES.CANOPY_ERR_CANCELLED : 0;
}

export async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { speed: { type: 'string', default: '1' }, to: { type: 'string', default: REPLAY_DEFAULT_TO } },
  });
  const [verb, path, ...extra] = positionals;
  const usage = 'use "canopy tlog info FILE" or "canopy tlog replay FILE [--speed N|max] [--to URL]"';
  if ((verb !== 'info' && verb !== 'replay') || !path || extra.length) {
    throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${verb && verb !== 'info' && verb !== 'replay' ? `unknown tlog command "${verb}"` : 'name one .tlog file'}: ${usage}`);
  }
  if (verb === 'info') {
    let info: TlogInfo;
    try {
      info = tlogInfo(path);
    } catch (e) {
      // A file it cannot open is a coded error already; anything else is named, never a stack.
      if (isCanopyError(e)) throw e;
      throw new CanopyError('CANOPY_ERR_TLOG', `cannot read ${path} as a tlog: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    console.log(formatInfo(path, info));
    return 0;
  }
  return replay(path, parseSpeed(values.speed!), values.to!);
}
