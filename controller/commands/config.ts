/**
 * `canopy config check [FILE]`: validates a canopy.yaml and prints "ok" with what it configures,
 * or every problem (path, value, what is allowed); exit code 0 or 1.
 * `canopy config print [FILE]`: the effective configuration (defaults filled in, secrets from the
 * environment applied) as YAML, secrets not shown.
 * Without FILE both use the file `canopy start` would read (CONFIG_SEARCH).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { printable } from '../config-issues.ts';
import { duration } from '../../common/duration.ts';
import { CONFIG_SEARCH, ConfigSchema, dataDir, findConfig, loadConfig, relayOptions, type CanopyConfig } from '../config.ts';

/** The file named, or the first of the search list; a CanopyError when there is none. */
function which(file: string | undefined): string {
  if (file) return file;
  const found = findConfig();
  if (!found) throw new CanopyError('CANOPY_ERR_CONFIG', `no configuration file named and none found (looked for ${CONFIG_SEARCH.join(', ')}); canopy start would fly the simulated site`);
  return found;
}

/** What the file sets up, one line each, without secrets. */
export function summary(c: CanopyConfig): string[] {
  const m = c.mesh;
  const listener = (l: false | { port?: number; host?: string }, dflt: number) => (l === false ? 'off' : `${l.host ?? '*'}:${l.port ?? dflt}`);
  const relay = relayOptions(c);
  return [
    c.links.drones.length ? `drones on: ${c.links.drones.join(', ')} (sysid ${c.sysid})` : `drones: none, so the simulated site "${c.simulation.scenario}" flies`,
    `pilots' tools: ${c.links.gcs.join(', ') || 'none'}${c.links.readOnlyGcs ? ' (read only)' : ''}`,
    `data directory: ${dataDir(c)}`,
    `mesh: MQTT ${listener(m.mqtt, 1883)}, WebSocket ${listener(m.websocket, 9001)}, TLS ${m.tls ? `${m.tls.host ?? '*'}:${m.tls.port ?? 8883}` : 'off'}, anonymous ${m.anonymousRole ?? 'refused'}${m.redis ? ', Redis scale-out' : ''}`,
    relay ? `relay: "${relay.origin}" to ${relay.upstream.url}${relay.upstream.password ? ' (with a password)' : ''}` : 'relay: off',
    ...(c.envOverrides?.length ? [`from the environment: ${c.envOverrides.join(', ')}`] : []),
  ];
}

export async function run(args: string[]): Promise<number> {
  // No options: one given (`--json`, a typo) is refused by name rather than read as the FILE.
  const [verb, file, ...rest] = parseArgs({ args, options: {}, allowPositionals: true }).positionals;
  if (rest.length) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `canopy config ${verb} takes one file, got also ${rest.join(' ')}`);
  switch (verb) {
    case 'check': {
      const path = which(file);
      let c: CanopyConfig;
      try {
        c = loadConfig(path);
      } catch (e) {
        if (!isCanopyError(e, 'CANOPY_ERR_CONFIG')) throw e;
        console.error(e.message);
        return 1;
      }
      console.log(`ok: ${path} (configuration version ${c.version})`);
      for (const line of summary(c)) console.log(`  ${line}`);
      return 0;
    }
    case 'print': {
      const c = loadConfig(which(file));
      const { dir: _dir, envOverrides: _env, ...effective } = c;
      process.stdout.write(stringify(printable(ConfigSchema, effective, duration)));
      return 0;
    }
    default:
      throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `unknown config command "${verb ?? ''}" (use: canopy config check [FILE] | canopy config print [FILE])`);
  }
}
