/**
 * The dashboard's server: one node:http listener (default http://127.0.0.1:8080) that serves the
 * browser app (dashboard/web with uPlot and mqtt.js bundled in, see assets.ts: no CDN, the
 * station is offline most of the time), MQTT over WebSocket on `/mqtt` handed to the mesh (so
 * the page talks to its own origin only, with the user's own mesh credentials and the mesh's
 * ACL), Prometheus metrics on `/metrics`, and Home Assistant discovery on the mesh. It keeps the
 * retained power and event histories (history.ts) that a page opened later draws. The page
 * speaks only the public MQTT API; this server adds no API of its own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import { WebSocketServer } from 'ws';
import type { Clock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { Mesh } from '../mesh/mesh.ts';
import { loadAssets, type Asset } from './assets.ts';
import { DEFAULT_DISCOVERY_PREFIX, publishDiscovery } from './discovery.ts';
import { EventHistoryRecorder, PowerHistoryRecorder } from './history.ts';
import { METRICS_CONTENT_TYPE, MetricsCollector } from './metrics.ts';

export const MQTT_PATH = '/mqtt';

const require = createRequire(import.meta.url);

export interface DashboardOptions {
  mesh: Mesh;
  clock: Clock;
  /** Where it listens; the configuration's `dashboard:` (defaults there: 127.0.0.1:8080). */
  host: string;
  /** 0 picks a free port (see url). */
  port: number;
  /** Home Assistant's discovery prefix; false publishes no discovery. */
  discoveryPrefix?: string | false;
  log?: Logger;
}

// Everything from this origin only: the page can load nothing from elsewhere (no CDN) and talk
// to nothing but its own /mqtt. uPlot sizes its elements with inline styles.
const CSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

export class Dashboard {
  private server: Server | undefined;
  private wss: WebSocketServer | undefined;
  private metrics: MetricsCollector | undefined;
  private history: PowerHistoryRecorder | undefined;
  private events: EventHistoryRecorder | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly log: Logger;

  constructor(private readonly opts: DashboardOptions) {
    this.log = (opts.log ?? silentLogger).child('dashboard');
  }

  async start(): Promise<void> {
    if (this.server) return;
    const { mesh } = this.opts;
    const assets = await loadAssets();
    const base = mesh.topics.base;
    const html = assets.get('/')!;
    assets.set('/', { ...html, body: Buffer.from(html.body.toString().replace('data-base-topic="canopy"', `data-base-topic="${escapeAttr(base)}"`)) });
    this.metrics = new MetricsCollector(mesh);
    await this.metrics.start();
    this.history = new PowerHistoryRecorder(mesh);
    await this.history.start();
    this.events = new EventHistoryRecorder(mesh, this.opts.clock);
    await this.events.start();

    const server = createServer((req, res) => this.serve(req, res, assets));
    this.wss = new WebSocketServer({ noServer: true });
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      if (new URL(req.url ?? '/', 'http://x').pathname !== MQTT_PATH) {
        socket.destroy();
        return;
      }
      this.wss!.handleUpgrade(req, socket, head, (ws) => mesh.acceptWebSocket(ws, req));
    });
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    const { host, port } = this.opts;
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', (e: NodeJS.ErrnoException) =>
          reject(e.code === 'EADDRINUSE' ? new CanopyError('CANOPY_ERR_PORT_IN_USE', `dashboard port ${port} on ${host} is in use; choose another with dashboard.port or --dashboard-port`) : e),
        );
        server.listen(port, host, () => resolve());
      });
    } catch (e) {
      // Nothing stays behind: the subscriptions go with the listener that failed.
      await this.metrics.stop();
      await this.history.stop();
      await this.events.stop();
      throw e;
    }
    this.server = server;
    // Only a dashboard that is up announces the site to Home Assistant.
    if (this.opts.discoveryPrefix !== false) await publishDiscovery(mesh, this.opts.discoveryPrefix ?? DEFAULT_DISCOVERY_PREFIX, version());
    this.log.info('dashboard started', { url: this.url });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const c of this.wss?.clients ?? []) c.terminate();
    this.wss?.close();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await this.metrics?.stop();
    await this.history?.stop();
    await this.events?.stop();
  }

  /** http://host:port/ once started. */
  get url(): string {
    if (!this.server) throw new CanopyError('CANOPY_ERR_STATE', 'the dashboard is not started');
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  private serve(req: IncomingMessage, res: ServerResponse, assets: Map<string, Asset>): void {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/metrics') {
      const body = Buffer.from(this.metrics!.render());
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, 'content-length': body.length, 'cache-control': 'no-store' });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    const asset = assets.get(path === '/index.html' ? '/' : path);
    if (!asset) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, {
      'content-type': asset.type,
      'content-length': asset.body.length,
      'content-security-policy': CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}

function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

function version(): string | undefined {
  try {
    return (require('../../package.json') as { version?: string }).version;
  } catch {
    return undefined;
  }
}
