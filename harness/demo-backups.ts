/**
 * The simulated site's own backups, so the uplink, the store and the neighbours' shares carry real
 * traffic from the first minutes: every few simulated minutes the simulated phone's owner backs up
 * a small generated tree (a field station's survey tiles, camera frames and log; a few MB, of which
 * a few hundred kB change each time) with the same backup as `canopy backup` — sealed chunks to the
 * phone, the relay's bulk class and k-of-n shares on the simulated neighbours. The newest manifest
 * is kept beside the tree, so `canopy restore` can be tried on it.
 */
import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, TimerHandle } from '../firmware-bridge/clock.ts';
import type { Logger } from '../firmware-bridge/log.ts';
import { backup } from '../controller/store/backup.ts';
import { StoreClient } from '../controller/store/protocol.ts';

export interface DemoBackupsOptions {
  clock: Clock;
  /** Where the generated tree (`field-station/`) and the newest manifest go. */
  dir: string;
  url: string;
  baseTopic: string;
  owner: string;
  password: string;
  neighbours: readonly string[];
  k: number;
  n: number;
  passphrase: string;
  /** Simulated time between backups. Default 5 minutes; the first one a simulated minute after start. */
  everyMs?: number;
  log: Logger;
}

/** The demo repository's key derivation: its passphrase is on disk anyway, so a cheap one (16 MiB) that does not stall the simulation. */
const DEMO_KDF_LOG_N = 14;
const TILES = 12;
const TILE_BYTES = 256 * 1024;
const FRAMES_KEPT = 4;

export class DemoBackups {
  private client: StoreClient | undefined;
  private timers: { first?: TimerHandle; every?: TimerHandle } = {};
  private running: Promise<void> | undefined;
  private frame = 0;

  constructor(private readonly opts: DemoBackupsOptions) {}

  get tree(): string {
    return join(this.opts.dir, 'field-station');
  }

  get manifestFile(): string {
    return join(this.opts.dir, 'latest.canopy-manifest');
  }

  async start(): Promise<void> {
    const o = this.opts;
    this.client = await StoreClient.connect({ url: o.url, baseTopic: o.baseTopic, username: o.owner, password: o.password, timeoutMs: 10_000 });
    const every = o.everyMs ?? 5 * 60_000;
    this.timers.first = o.clock.setTimeout(() => this.tick(), Math.min(60_000, every));
    this.timers.every = o.clock.setInterval(() => this.tick(), every);
  }

  /** Stops the schedule; a backup under way is finished first. */
  async stop(): Promise<void> {
    this.opts.clock.clearTimeout(this.timers.first);
    this.opts.clock.clearInterval(this.timers.every);
    await this.running;
    await this.client?.close();
    this.client = undefined;
  }

  /** One backup now, unless one is still under way (then this turn is skipped). */
  private tick(): void {
    if (this.running || !this.client) return;
    this.running = this.once(this.client)
      .catch((e: unknown) => this.opts.log.warn('demo backup failed', { error: (e as Error).message }))
      .finally(() => (this.running = undefined));
  }

  private async once(client: StoreClient): Promise<void> {
    const o = this.opts;
    this.generate();
    const r = await backup({ client, owner: o.owner, neighbours: o.neighbours, k: o.k, n: o.n, path: this.tree, passphrase: o.passphrase, kdfLogN: DEMO_KDF_LOG_N, sealers: 0 });
    writeFileSync(this.manifestFile, r.manifest);
    o.log.info('demo backup', { files: r.files, chunks: r.chunks, newChunks: r.newChunks, shares: r.shares, uplinked: r.uplinked, manifest: r.manifestAddr });
  }

  /** The tree: survey tiles made once, a new camera frame each time (the oldest dropped), a log line appended. */
  private generate(): void {
    const at = new Date(this.opts.clock.now()).toISOString();
    const survey = join(this.tree, 'survey');
    const camera = join(this.tree, 'camera');
    mkdirSync(survey, { recursive: true });
    mkdirSync(camera, { recursive: true });
    for (let i = 0; i < TILES; i++) {
      const tile = join(survey, `tile-${String(i).padStart(2, '0')}.bin`);
      if (!existsSync(tile)) writeFileSync(tile, randomBytes(TILE_BYTES));
    }
    writeFileSync(join(camera, `frame-${at.replace(/[:.]/g, '').slice(0, 15)}-${this.frame++}.bin`), randomBytes(TILE_BYTES));
    const frames = readdirSync(camera).sort();
    for (const old of frames.slice(0, Math.max(0, frames.length - FRAMES_KEPT))) rmSync(join(camera, old));
    appendFileSync(join(this.tree, 'station.log'), `${at} backup ${this.frame}: ${frames.length} camera frames kept\n`);
  }
}
