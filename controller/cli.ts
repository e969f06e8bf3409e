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
import { ROLES } from './mesh/acl.ts';
import { BENCH_SUITES, type BenchSuite, type SuiteName } from './commands/bench.ts';

type Command = { run(args: string[], harness?: Harness): Promise<number> };

/** What the simulator adds to the command line (bin/canopy.js gives it from harness/). */
export interface Harness {
  /** `canopy sim` (harness/sim-command.ts). */
  simCommand(): Promise<Command>;
  /** The simulated site as `canopy start` runs it without drone links (harness/simulated-start.ts). */
  simulatedStation(c: CanopyConfig, o: StationInputs): Promise<Station>;
  /** A `canopy bench` suite (harness/bench/). */
  benchSuite(name: SuiteName): Promise<BenchSuite>;
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
    usage: [
      'canopy start [--config canopy.yaml] [--link URL ...] [--sysid N] [--gcs URL ...] [--read-only-gcs] [--tlog FILE] [--data DIR]',
      '             [--mqtt-port N] [--ws-port N] [--dashboard-port N] [--log-level debug|info|warn|error]',
      '             [--summary-every S] [--status-every S] [--run-for S]',
      '       canopy start [--scenario NAME|FILE] [--sim-at HH:MM] [--speed N] [--seed N] ...   (no --link: the simulated site)',
      '',
      '  --read-only-gcs     the pilots\' tools (--gcs) see everything but may not command the drones',
      '  --summary-every S   one status line every S seconds: redrawn in place on a terminal (default 1),',
      '                      a plain line in the journal or a pipe (default 60); 0: none',
      '  --status-every S    the full fleet table every S seconds (default 0: off)',
      '  --log-level L       what goes to stderr: debug, info, warn (default), error',
      '  --run-for S         stop after S seconds',
      '  the dashboard is on http://127.0.0.1:8080 (--dashboard-port N); the first start prints the admin\'s',
      '  password once and keeps it in DATA/initial-admin-password (mode 0600)',
    ].join('\n'),
    load: () => import('./commands/start.ts'),
  },
  sim: {
    summary: 'fly a scenario headless on the simulated clock and write a report',
    usage: [
      'canopy sim run [--scenario NAME|FILE] [--seed N] [--speed max|N] [--report DIR] [--tlog FILE] [--json]',
      '       canopy sim serve --link URL [--link URL ...] [--scenario NAME|FILE] [--drones N] [--seed N] [--speed N] [--run-for S]',
      '       canopy sim list',
      '',
      '  run:   fly the scenario to its end on the simulated clock (--speed max: as fast as it goes) and write',
      '         the report (figures.json, SVG plots, report.md) to --report DIR; --json prints the figures',
      '  serve: play the drones on real links for a Canopy elsewhere (--drones N of the scenario\'s), until',
      '         Ctrl-C or --run-for S',
      '  list:  the shipped scenarios',
    ].join('\n'),
    load: (harness) => (harness ?? withoutSimulator('canopy sim')).simCommand(),
  },
  bench: {
    summary: 'run a benchmark suite and print its figures',
    usage: ['canopy bench <suite> [--quick] [--days N] [--json]', '', '  --quick   a shorter run (fleet: 2 days)', '  --days N  fleet: fly N simulated days (default 30)', '', ...Object.entries(BENCH_SUITES).map(([n, what]) => `  ${n.padEnd(8)} ${what}`)].join('\n'),
    load: () => import('./commands/bench.ts'),
  },
  config: {
    summary: 'check a canopy.yaml (every problem with its field path) or print the effective configuration',
    usage: 'canopy config check [FILE] | canopy config print [FILE]   (no FILE: ./canopy.yaml, then /etc/canopy/canopy.yaml)',
    load: () => import('./commands/config.ts'),
  },
  radio: {
    summary: "read or set a SiK radio's NETID, air speed, ECC and MAVLink framing (AT commands)",
    usage: [
      'canopy radio setup DEVICE [--netid N] [--air-speed K] [--ecc|--no-ecc] [--mavlink|--no-mavlink] [--tx-power DBM] [--remote] [--baud B]',
      '       canopy radio show DEVICE [--baud B]',
      '',
      '  --remote      the radio at the far end too (set first, over the air with RT commands), then this one',
      '  --guard-ms MS the silence around +++ (default 1000, what SiK needs)',
    ].join('\n'),
    load: () => import('./commands/radio.ts'),
  },
  doctor: {
    summary: 'check this machine for Canopy: radios, permissions, config, ports, disk, clock, Node',
    usage: [
      'canopy doctor [--config FILE] [--json]',
      '',
      '  --sys-root DIR, --dev-root DIR, --etc-root DIR   read /sys, /dev and /etc from DIR (a staged image)',
    ].join('\n'),
    load: () => import('./commands/doctor.ts'),
  },
  phone: {
    summary: "the phone's store agent: content-addressed chunks for the owner, neighbours' cold shares, a hot cache",
    usage: [
      'canopy phone --store DIR [--broker URL] [--username U] [--name NAME] [--quota-own SIZE] [--quota-cold SIZE] [--quota-hot SIZE]',
      '             [--bodies sqlite|files] [--no-neighbours] [--ingest PREFIX] [--base TOPIC] [--config FILE]',
      '             [--http PORT [--http-host HOST] [--users FILE] [--data DIR]]',
      '       canopy phone scrub|usage --store DIR [--json]',
      '       canopy phone grant ITEM --store DIR [--for USER] [--ttl 1h] [--url http://HOST:PORT]',
      '',
      '  --username U     the mesh user it logs in as (password from CANOPY_PASSWORD or --password-file FILE)',
      '  --name NAME      the name it serves under (default: --username, else store.owner)',
      '  --no-neighbours  keep only the owner\'s chunks: answer no neighbour',
      '  --ingest PREFIX  beside the upstream broker: keep what the relay delivers under PREFIX',
      '  --http PORT      also stream the hot cache over HTTP (GET /hot/ITEM, ranges) to mesh users (admin, phone, viewer,',
      '                   neighbour; Basic auth) and grant holders; docs/cdn.md',
      '  --http-host HOST listen there (default: the address this phone reaches the broker from, the site\'s network)',
      '  --users FILE     the mesh users to check logins against (default: users.json in the data directory)',
      '  grant ITEM       a signed token for one hot item (?grant=TOKEN or Bearer), valid --ttl; --for USER: the neighbour',
      '                   the ledger counts its bytes for; --url: print the item\'s URL with the token',
    ].join('\n'),
    load: () => import('./commands/phone.ts'),
  },
  backup: {
    summary: 'back up a directory: encrypted chunks to the phone, the uplink and k-of-n shares on neighbours',
    usage: 'canopy backup PATH [--broker URL] [--username U] [--password-file FILE] [--owner NAME] [--neighbour NAME ...] [--k K] [--n N] [--manifest FILE] [--no-uplink] [--seal-workers N] [--scrypt-log-n N] [--passphrase-file FILE] [--timeout MS] [--base TOPIC] [--data DIR] [--config FILE]\n       canopy backup --repair MANIFEST [same options]   (exit 75 when the power budget defers it: run it again later)\n       canopy backup --audit MANIFEST [--every 1d] [same options]   (challenge the neighbours\' shares without downloading them; failed ones are repaired; --every: again on that schedule, under the power grant)\n       (passphrase from CANOPY_PASSPHRASE or --passphrase-file; mesh login: --username (default: the owner, store.owner or "phone"), password from CANOPY_PASSWORD or --password-file;\n        on the simulated site with none of these: its phone\'s login, neighbours and demo passphrase from DATA/sim-login.json)',
    load: () => import('./commands/backup.ts'),
  },
  restore: {
    summary: 'restore a backup from the phone, the upstream store or any k neighbours',
    usage: 'canopy restore MANIFEST DIR [--overwrite] [--broker URL] [--username U] [--password-file FILE] [--owner NAME] [--upstream URL [--upstream-base TOPIC] [--upstream-username U]] [--neighbour NAME ...] [--no-mesh] [--passphrase-file FILE] [--timeout MS] [--base TOPIC] [--data DIR] [--config FILE]\n       (MANIFEST: the file canopy backup wrote, or its address. Files land in DIR/<name of what was backed up>/…: canopy backup ~/Documents restores into DIR/Documents/;\n        a file there with other content stops the restore before anything is written, unless --overwrite; files already as in the backup are left as they are.\n        Passphrase and mesh login as for canopy backup; upstream password from CANOPY_UPSTREAM_PASSWORD)',
    load: () => import('./commands/restore.ts'),
  },
  user: {
    summary: "the mesh's users (viewers for the dashboard, admins, phones, neighbours, Home Assistant) in users.json; a running Canopy takes each change at once",
    usage: `canopy user add NAME [--role ${ROLES.join('|')}] [--password-file FILE] [--data DIR | --config FILE]\n       canopy user passwd NAME [--password-file FILE]\n       canopy user remove NAME | canopy user list\n       (a new user is a viewer unless --role, an existing one keeps its role; without --password-file a password is made up and shown once; the last admin stays one)`,
    load: () => import('./commands/user.ts'),
  },
  signing: {
    summary: "hand a drone its MAVLink 2 signing key (SETUP_SIGNING) and check it signs with it",
    usage: 'canopy signing setup --link URL --sysid N [--config FILE] [--key-file FILE] [--timeout S]   (--timeout: how long to wait for a signed frame back, default 30)',
    load: () => import('./commands/signing.ts'),
  },
  tlog: {
    summary: 'inspect or replay a .tlog telemetry log',
    usage: 'canopy tlog info FILE | canopy tlog replay FILE [--speed N] [--to URL]   (--to: where to send it, default udpout://127.0.0.1:14550)',
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

/** Every command's help as Markdown: docs/cli.md (`npm run docs` writes it; a test keeps it current). */
export function referenceMarkdown(): string {
  const sections = Object.entries(SUBCOMMANDS).map(([name, c]) => `## canopy ${name}\n\n${c.summary}.\n\n\`\`\`text\nUsage: ${c.usage}\n\`\`\`\n`);
  return ['# The canopy command line', '', '<!-- written by `npm run docs` from `canopy <command> --help`; edit controller/cli.ts -->', '', ...sections].join('\n');
}

export async function main(argv: string[], harness?: Harness): Promise<number> {
  // A reader that goes away (`canopy config print | head`) ends the output, not in a stack trace:
  // stop quietly, as a pipe's writer does on SIGPIPE.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') throw e;
      process.exit(0);
    });
  }
  const [name, ...rest] = argv;
  if (name === 'help' && rest[0] === '--markdown') {
    process.stdout.write(referenceMarkdown());
    return 0;
  }
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
