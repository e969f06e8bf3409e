/**
 * Injected logging with namespaces (`canopy:bridge:mission`), as zigbee-herdsman's setLogger().
 * The library never writes to the console by itself; the application passes a Logger in.
 */
export interface Logger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
  child(namespace: string): Logger;
}

export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child() {
    return silentLogger;
  },
};

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LEVELS)[number];

/**
 * A logger for applications: one line per entry, `LEVEL namespace: message {data}`, to stderr so
 * stdout stays for the command's own output. Entries below `level` are dropped.
 */
export function streamLogger(opts: { level?: LogLevel; namespace?: string; write?: (line: string) => void } = {}): Logger {
  const min = LEVELS.indexOf(opts.level ?? 'info');
  const write = opts.write ?? ((line: string) => process.stderr.write(`${line}\n`));
  const ns = opts.namespace ?? 'canopy';
  const entry = (level: LogLevel) => (msg: string, data?: Record<string, unknown>) => {
    if (LEVELS.indexOf(level) < min) return;
    write(`${level.toUpperCase().padEnd(5)} ${ns}: ${msg}${data && Object.keys(data).length ? ` ${JSON.stringify(data)}` : ''}`);
  };
  return {
    debug: entry('debug'),
    info: entry('info'),
    warn: entry('warn'),
    error: entry('error'),
    child: (namespace) => streamLogger({ ...opts, namespace: `${ns}:${namespace}` }),
  };
}
