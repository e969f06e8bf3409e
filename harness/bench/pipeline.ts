/**
 * The ground side's full ingest path, fed synchronously: link bytes → framer → decode → vehicle
 * sessions → router (to a GCS endpoint) → tlog. Used by the ingest benchmark, the memory figure
 * and the fuzz test, so all three measure the same thing.
 */
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { BaseLink } from '../../firmware-bridge/links/link.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import type { FramerStats } from '../../firmware-bridge/protocol/framer.ts';
import { Router } from '../../firmware-bridge/router.ts';
import { TlogWriter } from '../../firmware-bridge/tlog.ts';
import { VehicleManager } from '../../firmware-bridge/vehicles/index.ts';

/** A link whose incoming bytes are injected by the caller and whose writes are only counted. */
export class InjectedLink extends BaseLink {
  constructor(name: string) {
    super(`memory:${name}`);
  }
  async start(): Promise<void> {
    this.setUp();
  }
  async stop(): Promise<void> {
    this.setDown('stopped');
  }
  inject(chunk: Buffer): void {
    this.received(chunk, 'radio');
  }
  write(data: Buffer): void {
    this.sent(data.length);
  }
}

export interface IngestPipeline {
  push(chunk: Buffer): void;
  vehicles: VehicleManager;
  /** Messages decoded so far. */
  decoded(): number;
  /** Bytes the framer holds waiting for the rest of a frame. */
  buffered(): number;
  stats(): FramerStats;
  close(): void;
}

export function buildIngestPipeline(): IngestPipeline {
  const clock = new ManualClock();
  const node = new MavlinkNode({ clock, heartbeatHz: 0 });
  const radio = new InjectedLink('radio');
  void radio.start();
  const channel = node.addLink(radio, { name: 'radio' });
  const gcs = new InjectedLink('gcs');
  void gcs.start();
  node.addLink(gcs, { name: 'gcs' });
  const vehicles = new VehicleManager(node);
  vehicles.start();
  const router = new Router(node);
  router.start();
  // Records are built and handed to a sink that drops them: the cost measured is the writer's.
  const tlog = new TlogWriter(node, { write() {} });
  tlog.start();
  let decoded = 0;
  node.on('message', () => decoded++);
  return {
    push: (chunk) => radio.inject(chunk),
    vehicles,
    decoded: () => decoded,
    buffered: () => channel.bufferedBytes(),
    stats: () => channel.framerStats(),
    close: () => {
      tlog.stop();
      router.stop();
      vehicles.stop();
      node.stop();
    },
  };
}
