/**
 * The `canopy` command line. Each subcommand lives in controller/commands/<name>.ts and exports
 * `run(args, harness?): Promise<number>` (the exit code); this file only dispatches and prints
 * help. The simulator's parts (harness/) are handed in by the program (bin/canopy.js), so the
 * controller imports neither sim/ nor harness/: without them `canopy sim` and a start without
 * drone links say so.
 */
import { CanopyError, EXIT_CODES, exitCodeOf, isCanopyError } from '../common/errors.ts';
import type { Station, StationInputs } from './commands/start.ts';
import type { CanopyConfig } from './config.ts';

type Command = { run(args: string[], harness?: Harness): Promise<number> };

/** What the simulator adds to the command line (bin/canopy.js gives it from harness/). */
export interface Harness {
  /** `canopy sim` (harness/sim-command.ts). */
  simCommand(): Promise<Command>;
  /** The simulated site as `canopy start` runs it without drone links (harness/simulated-start.ts). */
  simulatedStation(c: CanopyConfig, o: StationInputs): Promise<Station>;
}

interface Subcommand {
  summary: string;
  usage: string;
  load: (harness?: Harness) => Promise<Command>;
}

function withoutSimulator(what: string): never {
  throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `${what} needs the simulator, which this program was started without (run bin/canopy.js)`);
}

export const SUBCOMMANDS: Record<string, Subcommand> = {
  start: {
    summary: 'run the ground station (by default against a simulated swarm)',
    usage: 'canopy start [--config canopy.yaml] [--link URL ...] [--sysid N] [--gcs URL ...] [--tlog FILE]\n       canopy start [--scenario NAME|FILE] [--sim-at HH:MM] [--speed N] [--data DIR] [--mqtt-port N] [--ws-port N]   (no --link: the simulated site)\n       (either way the dashboard on http://127.0.0.1:8080: --dashboard-port N)',
    load: () => import('./commands/start.ts'),
  },
  sim: {
    summary: 'fly a scenario headless on the simulated clock and write a report',
    usage: 'canopy sim run [--scenario NAME|FILE] [--seed N] [--speed max|N] [--report DIR] [--tlog FILE] [--json]\n       canopy sim serve --link URL [--link URL ...] [--scenario NAME|FILE] [--drones N] [--seed N] [--speed N] [--run-for SECONDS]\n       canopy sim list',
    load: (harness) => (harness ?? withoutSimulator('canopy sim')).simCommand(),
  },
  bench: {
    summary: 'run a benchmark suite and print its figures',
    usage: 'canopy bench <suite> [--quick] [--json]   (suites: bridge, relay, sim, fleet, store, fuzz, mesh)',
    load: () => import('./commands/bench.ts'),
  },
  config: {
    summary: 'check a canopy.yaml (every problem with its field path) or print the effective configuration',
    usage: 'canopy config check [FILE] | canopy config print [FILE]   (no FILE: ./canopy.yaml, then /etc/canopy/canopy.yaml)',
    load: () => import('./commands/config.ts'),
  },
  radio: {
    summary: "read or set a SiK radio's NETID, air speed, ECC and MAVLink framing (AT commands)",
    usage: 'canopy radio setup DEVICE [--netid N] [--air-speed K] [--ecc|--no-ecc] [--mavlink|--no-mavlink] [--tx-power DBM] [--remote] [--baud B]\n       canopy radio show DEVICE [--baud B]',
    load: () => import('./commands/radio.ts'),
  },
  doctor: {
    summary: 'check this machine for Canopy: radios, permissions, config, ports, disk, clock, Node',
    usage: 'canopy doctor [--config FILE] [--json]',
    load: () => import('./commands/doctor.ts'),
  },
  phone: {
    summary: "the phone's store agent: content-addressed chunks for the owner, neighbours' cold shares, a hot cache",
    usage: 'canopy phone --store DIR [--broker URL] [--name NAME] [--username U] [--quota-cold SIZE] [--quota-hot SIZE] [--quota-own SIZE] [--bodies sqlite|files] [--ingest PREFIX] [--base TOPIC] [--config FILE]\n       canopy phone scrub|usage --store DIR [--json]\n       (mesh password from CANOPY_PASSWORD or --password-file)',
    load: () => import('./commands/phone.ts'),
  },
  backup: {
    summary: 'back up a directory: encrypted chunks to the phone, the uplink and k-of-n shares on neighbours',
    usage: 'canopy backup PATH [--broker URL] [--owner NAME] [--neighbour NAME ...] [--k K] [--n N] [--manifest FILE] [--no-uplink] [--seal-workers N] [--config FILE]\n       canopy backup --repair MANIFEST [--neighbour NAME ...]\n       (passphrase from CANOPY_PASSPHRASE or --passphrase-file; mesh password from CANOPY_PASSWORD or --password-file)',
    load: () => import('./commands/backup.ts'),
  },
  restore: {
    summary: 'restore a backup from the phone, the upstream store or any k neighbours',
    usage: 'canopy restore MANIFEST DIR [--broker URL] [--owner NAME] [--upstream URL [--upstream-base TOPIC]] [--neighbour NAME ...] [--no-mesh] [--config FILE]\n       (MANIFEST: the file canopy backup wrote, or its address; passphrase from CANOPY_PASSPHRASE or --passphrase-file)',
    load: () => import('./commands/restore.ts'),
  },
  user: {
    summary: "the mesh's users (viewers for the dashboard, admins, phones, neighbours) in users.json",
    usage: 'canopy user add NAME [--role viewer|admin|phone|neighbour|drone-bridge] [--password-file FILE] [--data DIR | --config FILE]\n       canopy user remove NAME | canopy user list',
    load: () => import('./commands/user.ts'),
  },
  signing: {
    summary: "hand a drone its MAVLink 2 signing key (SETUP_SIGNING) and check it signs with it",
    usage: 'canopy signing setup --link URL --sysid N [--config FILE] [--key-file FILE] [--timeout S]',
    load: () => import('./commands/signing.ts'),
  },
  tlog: {
    summary: 'inspect or replay a .tlog telemetry log',
    usage: 'canopy tlog info FILE | canopy tlog replay FILE [--speed N] [--to URL]',
    load: () => import('./commands/tlog.ts'),
  },
};

export function helpText(): string {
  const width = Math.max(...Object.keys(SUBCOMMANDS).map((k) => k.length));
  const lines = Object.entries(SUBCOMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    'canopy: ground-station controller for a solar drone swarm relay',
    '',
    'Usage: canopy <command> [options]',
    '',
    'Commands:',
    ...lines,
    '',
    'Run "canopy <command> --help" for the options of a command.',
  ].join('\n');
}

export async function main(argv: string[], harness?: Harness): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(helpText());
    return 0;
  }
  if (name === '--version') {
    const { createRequire } = await import('node:module');
    console.log(createRequire(import.meta.url)('../package.json').version);
    return 0;
  }
  const sub = SUBCOMMANDS[name];
  if (!sub) {
    console.error(`canopy: unknown command "${name}"\n\n${helpText()}`);
    return EXIT_CODES.CANOPY_ERR_BAD_ARGUMENT;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(`Usage: ${sub.usage}\n\n${sub.summary}`);
    return 0;
  }
  try {
    return await (await sub.load(harness)).run(rest, harness);
  } catch (err) {
    const e = usageError(err, name) ?? err;
    if (isCanopyError(e)) console.error(`canopy ${name}: ${e.message} [${e.code}]`);
    else console.error(`canopy ${name}: internal error (please report it):`, e);
    return exitCodeOf(e);
  }
}

/** node's parseArgs refusals (an unknown option, a missing value) are usage errors. */
function usageError(err: unknown, command: string): CanopyError | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('ERR_PARSE_ARGS_')) return undefined;
  return new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `${(err as Error).message} ("canopy ${command} --help" lists the options)`, { cause: err });
}
