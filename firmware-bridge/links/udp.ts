import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { BaseLink } from './link.ts';
import { listenError } from './tcp.ts';

/** A UDP socket bound to `port` on `host` (ephemeral port: 0); IPv6 when the host contains ':'. */
function bindSocket(host: string, port: number, url: string): Promise<Socket> {
  const socket = createSocket(host.includes(':') ? 'udp6' : 'udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(listenError(err, 'UDP', url, port));
    });
    socket.bind(port, host, () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
  });
}

/** Socket lifecycle shared by both UDP link kinds. */
abstract class UdpLink extends BaseLink {
  protected socket: Socket | undefined;

  constructor(
    url: string,
    protected readonly host: string,
    protected readonly port: number,
  ) {
    super(url);
  }

  protected abstract bind(): Promise<Socket>;
  protected abstract onMessage(msg: Buffer, from: RemoteInfo): void;

  async start(): Promise<void> {
    if (this.socket) return;
    const socket = await this.bind();
    socket.on('error', (err) => this.emit('error', err));
    socket.on('message', (msg, from) => this.onMessage(msg, from));
    this.socket = socket;
    this.setUp();
  }

  async stop(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await new Promise<void>((resolve) => socket.close(() => resolve()));
    this.setDown('stopped');
  }
}

/**
 * `udpin://host:port`: listens; every address a datagram came from becomes a peer "address:port",
 * and writes go to all of them (as mavlink-router's UDP server endpoints do). A peer after the
 * first is announced ('peer-new': a GCS that moved, or a stranger). `?peer=host:port` pins the
 * link to one peer: datagrams from anywhere else are dropped and counted (stats.foreignIn), and
 * writes go to the pinned peer from the start.
 */
export class UdpInLink extends UdpLink {
  private readonly heard = new Map<string, { address: string; port: number }>();
  private pinnedAs: string | undefined;

  constructor(
    url: string,
    host: string,
    port: number,
    private readonly pinned?: { host: string; port: number },
  ) {
    super(url, host, port);
  }

  /** The bound port (useful with port 0). */
  get boundPort(): number | undefined {
    return this.socket?.address().port;
  }

  /** Ids ("address:port") of every address heard from since start() (the pinned peer only, when pinned). */
  get peers(): string[] {
    return [...this.heard.keys()];
  }

  protected async bind(): Promise<Socket> {
    if (this.pinned) {
      const address = (await lookup(this.pinned.host)).address;
      this.pinnedAs = `${address}:${this.pinned.port}`;
      this.heard.set(this.pinnedAs, { address, port: this.pinned.port });
    }
    return bindSocket(this.host, this.port, this.url);
  }

  protected onMessage(msg: Buffer, from: RemoteInfo): void {
    const peer = `${from.address}:${from.port}`;
    if (this.pinnedAs !== undefined && peer !== this.pinnedAs) {
      this.stats.foreignIn++;
      return;
    }
    if (!this.heard.has(peer)) {
      const known = [...this.heard.keys()];
      this.heard.set(peer, { address: from.address, port: from.port });
      if (known.length > 0) this.emit('peer-new', peer, known);
    }
    this.received(msg, peer);
  }

  override async stop(): Promise<void> {
    this.heard.clear();
    await super.stop();
  }

  write(data: Buffer): void {
    if (!this.socket || this.heard.size === 0) {
      this.stats.dropsOut++;
      return;
    }
    for (const p of this.heard.values()) {
      this.socket.send(data, p.port, p.address);
      this.sent(data.length);
    }
  }
}

/**
 * `udpout://host:port`: a connected UDP socket (connect(2)): the kernel picks the interface that
 * reaches the host and delivers only datagrams from that host and port, so a stranger on another
 * port cannot inject frames (MAVProxy's and mavlink-router's udpout take from anyone).
 */
export class UdpOutLink extends UdpLink {
  protected bind(): Promise<Socket> {
    const socket = createSocket(this.host.includes(':') ? 'udp6' : 'udp4');
    return new Promise((resolve, reject) => {
      socket.once('error', (err) => {
        socket.close();
        reject(listenError(err, 'UDP', this.url, this.port));
      });
      socket.connect(this.port, this.host, () => {
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }

  override async start(): Promise<void> {
    await super.start();
    // A connected socket reports the peer's ICMP "port unreachable" (nobody listening yet, e.g.
    // QGroundControl not started) as an error on the next send: that is a dropped write, not a fault.
    this.socket?.removeAllListeners('error');
    this.socket?.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') this.stats.dropsOut++;
      else this.emit('error', err);
    });
  }

  protected onMessage(msg: Buffer, from: RemoteInfo): void {
    this.received(msg, `${from.address}:${from.port}`);
  }

  write(data: Buffer): void {
    if (!this.socket) {
      this.stats.dropsOut++;
      return;
    }
    this.socket.send(data);
    this.sent(data.length);
  }
}
