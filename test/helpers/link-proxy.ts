/**
 * An emulated thin link on loopback: a TCP proxy that carries each direction through a token
 * bucket (`bytesPerSec`) and a delay line (`latencyMs`), and that can be taken down — then every
 * connection is cut, whatever is still on the "wire" is lost, and new connections are refused —
 * and brought back. Stands in for the satellite link until the simulator has its own.
 */
import { createServer, connect as netConnect, type AddressInfo, type Server, type Socket } from 'node:net';

export interface LinkProxyOptions {
  targetPort: number;
  targetHost?: string;
  bytesPerSec: number;
  latencyMs?: number;
  /** Largest burst, bytes. Default 1/50 s of traffic. */
  bucketBytes?: number;
}

export interface LinkStats {
  /** Bytes delivered client → target and target → client. */
  up: number;
  down: number;
  /** Bytes lost on the wire when the link went down or a side hung up. */
  lost: number;
  /** Time the link has been up, ms. */
  openMs: number;
}

/** Backlog per direction before the sending side is paused (a TCP send buffer's worth). */
const HIGH_WATER = 64 * 1024;
const TICK_MS = 2;

class Direction {
  private queue: Buffer[] = [];
  private queued = 0;
  private inFlight = 0;
  private tokens: number;
  private last = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private readonly delayed = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly opts: Required<Omit<LinkProxyOptions, 'targetHost' | 'targetPort'>>,
    private readonly count: (bytes: number) => void,
  ) {
    this.tokens = opts.bucketBytes;
    from.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      this.queued += chunk.length;
      if (this.queued + this.inFlight > HIGH_WATER) from.pause();
      this.schedule();
    });
  }

  /** Bytes dropped: queued, and sent but not yet arrived. */
  close(): number {
    if (this.closed) return 0;
    this.closed = true;
    clearTimeout(this.timer);
    for (const t of this.delayed) clearTimeout(t);
    const lost = this.queued + this.inFlight;
    this.queue = [];
    this.queued = this.inFlight = 0;
    return lost;
  }

  private schedule(): void {
    if (!this.timer && !this.closed) this.timer = setTimeout(() => this.transmit(), TICK_MS);
  }

  private transmit(): void {
    this.timer = undefined;
    const now = performance.now();
    this.tokens = Math.min(this.opts.bucketBytes, this.tokens + ((now - this.last) / 1000) * this.opts.bytesPerSec);
    this.last = now;
    while (this.queue.length > 0 && this.tokens >= 1) {
      const head = this.queue[0]!;
      const n = Math.min(head.length, Math.floor(this.tokens));
      const piece = head.subarray(0, n);
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
      this.queued -= n;
      this.tokens -= n;
      this.deliver(piece);
    }
    if (this.queued + this.inFlight <= HIGH_WATER / 2) this.from.resume();
    if (this.queue.length > 0) this.schedule();
  }

  private deliver(piece: Buffer): void {
    this.inFlight += piece.length;
    const t = setTimeout(() => {
      this.delayed.delete(t);
      this.inFlight -= piece.length;
      this.count(piece.length);
      this.to.write(piece);
      if (this.queued + this.inFlight <= HIGH_WATER / 2) this.from.resume();
    }, this.opts.latencyMs);
    this.delayed.add(t);
  }
}

export class LinkProxy {
  readonly stats: LinkStats = { up: 0, down: 0, lost: 0, openMs: 0 };
  private server: Server | undefined;
  private readonly pairs = new Set<{ a: Socket; b: Socket; dirs: Direction[] }>();
  private upSince: number | undefined;
  port = 0;

  private constructor(private readonly opts: LinkProxyOptions) {}

  static async start(opts: LinkProxyOptions): Promise<LinkProxy> {
    const proxy = new LinkProxy(opts);
    await proxy.bringUp();
    return proxy;
  }

  get isUp(): boolean {
    return this.upSince !== undefined;
  }

  /** Link time used so far, including the current up period. */
  openMs(): number {
    return this.stats.openMs + (this.upSince === undefined ? 0 : performance.now() - this.upSince);
  }

  async bringUp(): Promise<void> {
    if (this.server) return;
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
    this.upSince = performance.now();
  }

  /** Cuts every connection (what is on the wire is lost) and refuses new ones until bringUp(). */
  async takeDown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    if (this.upSince !== undefined) this.stats.openMs += performance.now() - this.upSince;
    this.upSince = undefined;
    for (const pair of [...this.pairs]) this.cut(pair);
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async stop(): Promise<void> {
    await this.takeDown();
  }

  private accept(client: Socket): void {
    const o = this.opts;
    const target = netConnect(o.targetPort, o.targetHost ?? '127.0.0.1');
    const shaped = { bytesPerSec: o.bytesPerSec, latencyMs: o.latencyMs ?? 0, bucketBytes: o.bucketBytes ?? Math.max(1500, o.bytesPerSec / 50) };
    const pair = {
      a: client,
      b: target,
      dirs: [new Direction(client, target, shaped, (n) => (this.stats.up += n)), new Direction(target, client, shaped, (n) => (this.stats.down += n))],
    };
    this.pairs.add(pair);
    for (const s of [client, target]) {
      s.on('error', () => {});
      s.on('close', () => this.cut(pair));
    }
  }

  private cut(pair: { a: Socket; b: Socket; dirs: Direction[] }): void {
    if (!this.pairs.delete(pair)) return;
    for (const d of pair.dirs) this.stats.lost += d.close();
    pair.a.destroy();
    pair.b.destroy();
  }
}
