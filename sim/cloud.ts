/**
 * The far side of the uplink (the simulator's cloud, and the tests'): an embedded aedes broker on a loopback port that records
 * the relayed items (decoded envelopes) in arrival order and deduplicates by id, and can go away
 * and come back on the same port (an outage). A long run (the simulated site of `canopy start`)
 * keeps only the newest items: each is a whole relayed body (a backup chunk: ~100 kB).
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { decodeEnvelope } from '../common/topics.ts';
import { Deduplicator } from '../common/dedup.ts';

export interface Received {
  id: string;
  topic: string;
  body: Buffer;
}

export interface UpstreamOptions {
  /** The loopback port; 0 (default): a free one. */
  port?: number;
  /** How many of the newest items `received` keeps; default: all (the tests and benches read them all). */
  keep?: number;
}

export class Upstream {
  /** The items in arrival order (the newest `keep` of them), duplicates included. */
  readonly received: Received[] = [];
  readonly dedup = new Deduplicator();
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private waiters: { n: number; resolve: () => void }[] = [];

  private constructor(
    readonly broker: Aedes,
    public port: number,
    private readonly keep: number,
  ) {}

  /** Starts on a loopback port; records publishes under `prefix`. */
  static async start(prefix: string, opts: UpstreamOptions = {}): Promise<Upstream> {
    const broker = await Aedes.createBroker();
    const up = new Upstream(broker, opts.port ?? 0, opts.keep ?? Infinity);
    broker.on('publish', (packet, client) => {
      if (!client || !packet.topic.startsWith(`${prefix}/`) || packet.topic.endsWith('/bridge/state')) return;
      const envelope = decodeEnvelope(packet.payload as Buffer);
      if (!envelope) throw new Error(`relayed payload without an envelope on ${packet.topic}`);
      if (up.keep > 0) up.received.push({ id: envelope.id, topic: packet.topic, body: Buffer.from(envelope.body) });
      if (up.received.length > up.keep) up.received.shift();
      up.dedup.accept(envelope.id);
      up.waiters = up.waiters.filter((w) => (up.dedup.counts.fresh >= w.n ? (w.resolve(), false) : true));
    });
    await up.listen();
    return up;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  /** Distinct ids received. */
  get distinct(): number {
    return this.dedup.counts.fresh;
  }

  /** Resolves once `n` distinct ids have arrived. */
  waitForDistinct(n: number): Promise<void> {
    if (this.distinct >= n) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ n, resolve }));
  }

  /** The link goes away: listener closed, every connection cut. */
  async outage(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The link comes back on the same port. */
  async restore(): Promise<void> {
    await this.listen();
  }

  async stop(): Promise<void> {
    await this.outage();
    await new Promise<void>((resolve) => this.broker.close(() => resolve()));
    this.dedup.close();
  }

  private listen(): Promise<void> {
    const server = createServer((socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      this.broker.handle(socket);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }
}
