import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Clock, TimerHandle } from '../clock.ts';
import { MavlinkError } from '../errors.ts';
import { Backoff, BaseLink } from './link.ts';

/** A listen/bind failure as the error a user can act on; a port in use names the port. */
export function listenError(err: NodeJS.ErrnoException, transport: 'TCP' | 'UDP', url: string, port: number): Error {
  if (err.code !== 'EADDRINUSE') return err;
  return new MavlinkError('CANOPY_ERR_PORT_IN_USE', `${transport} port ${port} of ${url} is already in use (another Canopy, MAVProxy, QGroundControl or SITL?); stop it or pick another port in the URL`, { cause: err });
}

/** `tcp://host:port`: a client that reconnects with backoff whenever the connection drops. */
export class TcpClientLink extends BaseLink {
  private socket: Socket | undefined;
  private running = false;
  private retry: TimerHandle | undefined;
  private readonly backoff = new Backoff();
  /** Set on the first connect after start(); later connects count as reconnects. */
  private connectedBefore = false;

  constructor(
    url: string,
    private readonly host: string,
    private readonly port: number,
    private readonly clock: Clock,
  ) {
    super(url);
  }

  /** Resolves at once; the link comes up when the server answers (and again after every drop). */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.connectedBefore = false;
    this.connect();
  }

  private connect(): void {
    if (!this.running) return;
    const socket = createConnection({ host: this.host, port: this.port });
    socket.setNoDelay(true);
    this.socket = socket;
    socket.on('connect', () => {
      this.backoff.reset();
      if (this.connectedBefore) this.stats.reconnects++;
      this.connectedBefore = true;
      this.setUp();
    });
    socket.on('data', (chunk) => this.received(chunk, `${this.host}:${this.port}`));
    socket.on('error', (err) => this.emit('error', err));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.setDown('connection closed');
      if (!this.running) return;
      this.retry = this.clock.setTimeout(() => this.connect(), this.backoff.next());
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.clock.clearTimeout(this.retry);
    const socket = this.socket;
    this.socket = undefined;
    socket?.destroy();
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    if (!this.socket || !this.up) {
      this.stats.dropsOut++;
      return;
    }
    this.socket.write(data);
    this.sent(data.length);
  }
}

/** `tcpin://host:port`: a server; each client is a peer with its own framer; writes go to all. */
export class TcpServerLink extends BaseLink {
  private server: Server | undefined;
  private readonly clients = new Map<string, Socket>();

  constructor(
    url: string,
    private readonly host: string,
    private readonly port: number,
  ) {
    super(url);
  }

  /** The bound port (useful with port 0). */
  get boundPort(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /** Ids ("address:port") of the connected clients. */
  get peers(): string[] {
    return [...this.clients.keys()];
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((socket) => {
      socket.setNoDelay(true);
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      this.clients.set(peer, socket);
      socket.on('data', (chunk) => this.received(chunk, peer));
      socket.on('error', (err) => this.emit('error', err));
      socket.on('close', () => {
        this.clients.delete(peer);
        this.emit('peer-gone', peer);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(listenError(err, 'TCP', this.url, this.port)));
      server.listen(this.port, this.host, () => resolve());
    });
    server.on('error', (err) => this.emit('error', err));
    this.server = server;
    this.setUp();
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const s of this.clients.values()) s.destroy();
    this.clients.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.setDown('stopped');
  }

  write(data: Buffer): void {
    if (this.clients.size === 0) {
      this.stats.dropsOut++;
      return;
    }
    for (const s of this.clients.values()) {
      s.write(data);
      this.sent(data.length);
    }
  }
}
