/**
 * Scale-out on an existing engine: the mesh's message routing (mqemitter-redis) and its sessions,
 * subscriptions and retained messages (aedes-persistence-redis) in Redis, so several broker
 * processes act as one. Both packages are optional dependencies (`npm ci --omit=optional` leaves
 * them out) and are loaded only when `mesh.redis` is configured.
 */
import { CanopyError } from '../../common/errors.ts';

/** ioredis connection options, as both packages take them. */
export interface RedisOptions {
  host?: string;
  port?: number;
  password?: string;
  db?: number;
}

export interface RedisEngine {
  mq: unknown;
  persistence: { destroy?: () => Promise<void> | void };
}

type Factory = (opts: RedisOptions) => unknown;

export async function redisEngine(opts: RedisOptions): Promise<RedisEngine> {
  const mq = (await loadOptional('mqemitter-redis'))(opts);
  const persistence = (await loadOptional('aedes-persistence-redis'))(opts) as RedisEngine['persistence'];
  return { mq, persistence };
}

/** An optional package's factory; missing, a clear error that names it and how to install it. */
export async function loadOptional(name: string): Promise<Factory> {
  try {
    const mod = (await import(name)) as { default?: Factory } & Factory;
    return mod.default ?? mod;
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_UNAVAILABLE', `mesh.redis needs the optional npm package "${name}", which this install left out (npm install mqemitter-redis aedes-persistence-redis)`, { cause: e });
  }
}
