/**
 * The crash trial, shared by the crash test and the `relay` bench: a child process runs the
 * controller's mesh + relay on one SQLite file; this process publishes items at QoS 1 into it
 * like a phone would (own ids in the relay envelope, resending whatever was not acknowledged),
 * kills the child with SIGKILL at random moments and starts it again on the same file, and an
 * embedded aedes here plays the upstream broker. Afterwards every acknowledged item must be
 * upstream (after deduplication by id), with its exact bytes.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { randomInt, seededRandom } from '../../firmware-bridge/random.ts';
import { encodeEnvelope } from '../../common/topics.ts';
import { hashPassword } from '../../controller/mesh/users.ts';
import { LinkProxy } from '../../sim/satellite.ts';
import { freePort } from './ports.ts';
import { loaderFlags, siblingModule } from './processes.ts';
import { tryConnect } from './mqtt.ts';
import { Upstream } from '../../sim/cloud.ts';

const CHILD = siblingModule(import.meta.url, 'crash-child');
const PREFIX = 'up/crash';

export interface CrashTrialOptions {
  items: number;
  kills: number;
  seed: number;
  /** A kill lands this long after the child was started: uniform in [min, max] ms. */
  killAfterMs?: { min: number; max: number };
  /** The uplink runs through an emulated link with this rate and one-way latency. */
  link: { bytesPerSec: number; latencyMs: number };
  progress?: (msg: string) => void;
}

export interface CrashTrialResult {
  kills: number;
  acked: number;
  /** Acknowledged items missing upstream: must be 0. */
  lost: number;
  /** Items upstream whose bytes differ from what was published: must be 0. */
  corrupted: number;
  /** Copies the receiver dropped by id (resends after kills and outages). */
  duplicatesDropped: number;
  /** Ids that arrived more than once after deduplication: must be 0. */
  twiceAfterDedup: number;
  seconds: number;
}

export function itemId(i: number): string {
  return `phone:${i}`;
}

export function itemBody(i: number): Buffer {
  const body = Buffer.alloc(64 + (i % 200), i % 251);
  body.write(itemId(i));
  return body;
}

export async function runCrashTrial(opts: CrashTrialOptions): Promise<CrashTrialResult> {
  const started = performance.now();
  const progress = opts.progress ?? (() => {});
  const random = seededRandom(opts.seed);
  const killAfter = opts.killAfterMs ?? { min: 150, max: 1200 };
  const dir = mkdtempSync(join(tmpdir(), 'canopy-crash-'));
  const upstream = await Upstream.start(PREFIX);
  // Items spend a round trip between the uplink's send and the upstream PUBACK, so kills find
  // some in flight, and what is on the wire when the child dies is lost with its connection.
  const link = await LinkProxy.start({ targetPort: upstream.port, ...opts.link });
  const port = await freePort();
  const passwordHash = await hashPassword('phone-pw', { logN: 4, r: 8, p: 1 });
  const args = [String(port), `mqtt://127.0.0.1:${link.port}`, PREFIX, join(dir, 'outbox.db'), passwordHash];
  // Spread the items over the kills so that kills land while publishing (about 1 s per cycle).
  const publisher = new Publisher(`mqtt://127.0.0.1:${port}`, opts.items, opts.items / Math.max(1, opts.kills * 0.9));
  let child: ChildProcess | undefined;
  try {
    publisher.start();
    for (let k = 0; k < opts.kills; k++) {
      child = startChild(args);
      await sleep(killAfter.min + randomInt(random, killAfter.max - killAfter.min + 1));
      await kill(child);
      if ((k + 1) % 10 === 0) progress(`${k + 1}/${opts.kills} kills, ${publisher.acked.size}/${opts.items} acknowledged, ${upstream.distinct} upstream`);
    }
    child = startChild(args);
    await withTimeout(publisher.done, 60_000, () => `publisher stuck at ${publisher.acked.size}/${opts.items} acknowledged`);
    await withTimeout(upstream.waitForDistinct(opts.items), 60_000, () => `upstream stuck at ${upstream.distinct}/${opts.items}`);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    const stuck = why.startsWith('upstream stuck') ? ` (${whereAreTheMissing(join(dir, 'outbox.db'), publisher.acked, upstream)})` : '';
    // A failed trial leaves nothing running behind it (the test process would not end).
    publisher.stop();
    if (child) await kill(child);
    await link.stop();
    await upstream.stop();
    rmSync(dir, { recursive: true, force: true });
    if (stuck) throw new Error(why + stuck, { cause: e });
    throw e;
  }
  publisher.stop();
  if (child) await kill(child);
  const received = new Map<string, Buffer>();
  let corrupted = 0;
  for (const r of upstream.received) {
    received.set(r.id, r.body);
    const i = Number(r.id.slice('phone:'.length));
    if (!itemBody(i).equals(r.body)) corrupted++;
  }
  const lost = [...publisher.acked].filter((i) => !received.has(itemId(i))).length;
  const result: CrashTrialResult = {
    kills: opts.kills,
    acked: publisher.acked.size,
    lost,
    corrupted,
    duplicatesDropped: upstream.dedup.counts.duplicates,
    twiceAfterDedup: upstream.dedup.counts.fresh - new Set(upstream.received.map((r) => r.id)).size,
    seconds: (performance.now() - started) / 1000,
  };
  await link.stop();
  await upstream.stop();
  rmSync(dir, { recursive: true, force: true });
  return result;
}

/**
 * A phone-like publisher: QoS 1, its own ids, a window of items in flight, paced to `ratePerSec`
 * for first sends; whatever is unacknowledged when a connection dies is sent again (same id) on
 * the next one.
 */
class Publisher {
  readonly acked = new Set<number>();
  readonly done: Promise<void>;
  private resolveDone!: () => void;
  private readonly queue: number[] = [];
  private readonly inflight = new Set<number>();
  private next = 0;
  private client: MqttClient | undefined;
  private generation = 0;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;
  private readonly startedAt = performance.now();

  constructor(
    private readonly url: string,
    private readonly total: number,
    private readonly ratePerSec: number,
  ) {
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  start(): void {
    this.ticker = setInterval(() => this.pump(), 10);
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.ticker);
    this.client?.end(true);
  }

  private async connect(): Promise<void> {
    while (!this.stopped) {
      const outcome = await tryConnect(this.url, { username: 'phone', password: 'phone-pw', connectTimeout: 2000 }).catch(() => undefined);
      if (outcome?.ok) {
        const generation = ++this.generation;
        this.client = outcome.client;
        outcome.client.on('error', () => {});
        outcome.client.once('close', () => {
          if (generation !== this.generation) return;
          this.generation++;
          this.client = undefined;
          // Unacknowledged items go first on the next connection, with the same ids.
          this.queue.unshift(...[...this.inflight].sort((a, b) => a - b));
          this.inflight.clear();
          void this.connect();
        });
        this.pump();
        return;
      }
      await sleep(20);
    }
  }

  private pump(): void {
    const client = this.client;
    if (!client || this.stopped) return;
    const allowed = Math.min(this.total, Math.floor(((performance.now() - this.startedAt) / 1000) * this.ratePerSec) + 1);
    while (this.next < allowed) this.queue.push(this.next++);
    const generation = this.generation;
    while (this.inflight.size < 32 && this.queue.length > 0) {
      const i = this.queue.shift()!;
      this.inflight.add(i);
      client.publish('canopy/relay/bulk/backup', Buffer.from(encodeEnvelope(itemId(i), itemBody(i))), { qos: 1 }, (err) => {
        if (err || generation !== this.generation) return; // resent after the reconnect
        this.inflight.delete(i);
        this.acked.add(i);
        if (this.acked.size === this.total) this.resolveDone();
        this.pump();
      });
    }
  }
}

/** Tells a stalled uplink (the missing items wait in the outbox) from a lost item (they are nowhere). */
function whereAreTheMissing(outboxPath: string, acked: Set<number>, upstream: Upstream): string {
  const upstreamIds = new Set(upstream.received.map((r) => r.id));
  const missing = [...acked].map(itemId).filter((id) => !upstreamIds.has(id));
  try {
    const db = new Database(outboxPath, { readonly: true, fileMustExist: true });
    const queued = new Set((db.prepare('SELECT id FROM outbox').all() as { id: string }[]).map((r) => r.id));
    db.close();
    const waiting = missing.filter((id) => queued.has(id)).length;
    return `${missing.length} acknowledged items missing upstream: ${waiting} still queued in the outbox (${queued.size} queued in all), ${missing.length - waiting} nowhere; first missing ${missing.slice(0, 5).join(', ')}`;
  } catch (e) {
    return `${missing.length} acknowledged items missing upstream; the outbox could not be read: ${String(e)}`;
  }
}

function startChild(args: string[]): ChildProcess {
  return fork(CHILD, args, { execArgv: loaderFlags(import.meta.url), stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}


function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withTimeout<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)))]).finally(() => clearTimeout(timer));
}
