/** The simulator's HTTP servers (the weather service, the content server): node:http on a free loopback port. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export abstract class LoopbackHttpServer {
  private server: Server | undefined;
  /** The port it listens on, 127.0.0.1; 0 before start(). */
  port = 0;

  protected abstract handle(req: IncomingMessage, res: ServerResponse): void;

  async start(): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  /** Closes the server and every connection it has (keep-alive ones too). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
