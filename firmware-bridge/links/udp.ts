import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
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
 * and writes go to all of them (as mavlink-router's UDP server endpoints do).
 */
export class UdpInLink extends UdpLink {
  private readonly heard = new Map<string, { address: string; port: number }>();

  /** The bound port (useful with port 0). */
  get boundPort(): number | undefined {
    return this.socket?.address().port;
  }

  /** Ids ("address:port") of every address heard from since start(). */
  get peers(): string[] {
    return [...this.heard.keys()];
  }

  protected bind(): Promise<Socket> {
    return bindSocket(this.host, this.port, this.url);
  }

  protected onMessage(msg: Buffer, from: RemoteInfo): void {
    const peer = `${from.address}:${from.port}`;
    if (!this.heard.has(peer)) this.heard.set(peer, { address: from.address, port: from.port });
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

/** `udpout://host:port`: sends to one address from an ephemeral port and hears its replies. */
export class UdpOutLink extends UdpLink {
  protected bind(): Promise<Socket> {
    return bindSocket(this.host.includes(':') ? '::' : '0.0.0.0', 0, this.url);
  }

  protected onMessage(msg: Buffer, from: RemoteInfo): void {
    this.received(msg, `${from.address}:${from.port}`);
  }

  write(data: Buffer): void {
    if (!this.socket) {
      this.stats.dropsOut++;
      return;
    }
    this.socket.send(data, this.port, this.host);
    this.sent(data.length);
  }
}
