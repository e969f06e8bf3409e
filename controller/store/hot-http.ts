/**
 * The phone's hot cache over HTTP (docs/cdn.md): `GET|HEAD /hot/<item>` streams one item to an
 * authenticated mesh user on the site's network, opening its sealed parts (hot-items.ts) on the
 * fly. Nothing else is served: any other path is 404.
 *
 * Who may read: a mesh user by Basic auth (RFC 7617) whose role reads the hot cache (READER_ROLES),
 * checked by the broker's own password check (UserDirectory.authenticate, under the broker's
 * LoginLimiter rules), or the bearer of a grant for that item (issueGrant: signed by the agent,
 * with an expiry) in `?grant=` or `Authorization: Bearer`. No or wrong credentials → 401 with
 * WWW-Authenticate; known but not allowed (another role, a grant for another item, an expired
 * grant) → 403.
 *
 * Ranges (RFC 9110 §14): `Accept-Ranges: bytes`; one range → 206 with Content-Range; several →
 * the first of them (after merging overlaps), as one 206; past the end → 416 with
 * `Content-Range: bytes *\/total`; If-Range against the item's ETag. An incomplete item (its
 * prefetch still coming) answers from what is there: a range's first byte must be present (the
 * server waits up to `waitMs` for its part, else 503 with Retry-After) and the 206 covers the
 * range up to the first missing byte, so the player asks again from there; with the total not
 * known yet, Content-Range says `/*`. A GET without Range streams the whole item, waiting for each
 * missing part as it comes, and cuts the connection if one does not come in time (a body shorter
 * than its Content-Length, never a complete-looking one).
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import rangeParser from 'range-parser';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import { SystemClock, type Clock } from '../../firmware-bridge/clock.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import type { Principal, Role } from '../mesh/acl.ts';
import { LoginLimiter } from '../mesh/login-limiter.ts';
import type { UserDirectory } from '../mesh/users.ts';
import { isHotItem, type HotItems, type HotStatus } from './hot-items.ts';

type ItemInfo = NonNullable<ReturnType<HotItems['info']>>;

/** Roles that may read any hot item (the owner's side and the neighbours, RFC 7617 Basic auth). */
export const READER_ROLES: readonly Role[] = ['admin', 'phone', 'viewer', 'neighbour'];
/** How long a request waits for a part still being prefetched, by default. */
export const HOT_WAIT_MS = 10_000;
/** A verified Basic login is remembered this long (one scrypt per login, not per range request). */
const LOGIN_CACHE_MS = 5 * 60_000;
const LOGIN_CACHE_MAX = 1024;
const PATH = /^\/hot\/([^/]+)$/;

export interface HotHttpOptions {
  hot: HotItems;
  /** The mesh users (users.json), read again for every login check: a getter follows changes to the file. */
  users: UserDirectory | (() => UserDirectory);
  host?: string;
  /** 0: a free port. */
  port?: number;
  /** Counts hot-cache bytes served to each neighbour (ledger.ts). */
  reciprocity?: { served(neighbour: string, bytes: number): void };
  waitMs?: number;
  log?: Logger;
  clock?: Clock;
}

/** What a grant says: the item, until when (ms), and for whom (a neighbour's name: the ledger counts its bytes). */
export interface Grant {
  item: string;
  expiresAt: number;
  user?: string;
}

/** A grant token: base64url(JSON) "." HMAC (HotItems.signGrant). Only the agent that signed it checks it. */
export function issueGrant(hot: HotItems, g: Grant): string {
  if (!isHotItem(g.item)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot item id ${JSON.stringify(g.item)}: 1–64 of a-z, 0-9, ".", "_", "-"`);
  if (!Number.isSafeInteger(g.expiresAt)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `grant expiry ${String(g.expiresAt)} is not a time in ms`);
  const payload = Buffer.from(JSON.stringify({ i: g.item, e: g.expiresAt, ...(g.user !== undefined && { u: g.user }) })).toString('base64url');
  return `${payload}.${hot.signGrant(payload)}`;
}

/** The grant a token carries when the agent signed it, else undefined (expiry not checked here). */
export function readGrant(hot: HotItems, token: string): Grant | undefined {
  const [payload, sig, extra] = token.split('.');
  if (!payload || !sig || extra !== undefined || !hot.checkGrant(payload, sig)) return undefined;
  try {
    const g = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { i?: unknown; e?: unknown; u?: unknown };
    if (typeof g.i !== 'string' || typeof g.e !== 'number') return undefined;
    return { item: g.i, expiresAt: g.e, ...(typeof g.u === 'string' && { user: g.u }) };
  } catch {
    return undefined;
  }
}

/** Who asks: a mesh user, or the bearer of a grant. */
type Reader = { user: Principal; grant?: undefined } | { grant: Grant; user?: undefined };

class HttpRefusal extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export class HotHttpServer {
  /** Bytes of item bodies handed to connections, and responses by status. */
  readonly counts = { bytes: 0, responses: {} as Record<number, number> };
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly logins = new Map<string, { user: Principal; hash: string; until: number }>();
  private readonly limiter: LoginLimiter;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: HotHttpOptions) {
    this.clock = opts.clock ?? new SystemClock();
    this.log = (opts.log ?? silentLogger).child('hot-http');
    this.limiter = new LoginLimiter({ maxConcurrent: 2, queue: 16, clock: this.clock });
  }

  /** Where it listens (after start). */
  get address(): { host: string; port: number } {
    const a = this.server?.address() as AddressInfo | null | undefined;
    if (!a) throw new CanopyError('CANOPY_ERR_STATE', 'the hot-cache HTTP server is not started');
    return { host: a.address, port: a.port };
  }

  /** The URL of an item, with a grant token when given. */
  url(item: string, grant?: string): string {
    const { host, port } = this.address;
    return `http://${host.includes(':') ? `[${host}]` : host}:${port}/hot/${item}${grant ? `?grant=${grant}` : ''}`;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.serve(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    const host = this.opts.host ?? '127.0.0.1';
    const port = this.opts.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(
          e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL'
            ? new CanopyError('CANOPY_ERR_PORT_IN_USE', `hot-cache HTTP port ${port} on ${host}: ${e.code === 'EADDRINUSE' ? 'in use' : e.code === 'EACCES' ? 'not allowed (ports below 1024 need root)' : 'no such address on this machine'}; choose another with --http (and --http-host)`)
            : e,
        ),
      );
      server.listen(port, host, () => resolve());
    });
    this.server = server;
    this.log.info('hot cache on HTTP', { url: `http://${host}:${this.address.port}/hot/` });
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.on('finish', () => (this.counts.responses[res.statusCode] = (this.counts.responses[res.statusCode] ?? 0) + 1));
    try {
      const url = new URL(req.url ?? '/', 'http://phone');
      const reader = await this.authenticate(req, url);
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpRefusal(405, 'only GET and HEAD', { Allow: 'GET, HEAD' });
      const m = PATH.exec(url.pathname);
      let item: string | undefined;
      try {
        item = m ? decodeURIComponent(m[1]!) : undefined;
      } catch {
        item = undefined;
      }
      // The item is named before it is looked up: a reader not allowed it learns nothing of what the cache holds.
      if (reader.grant) {
        if (reader.grant.item !== item) throw new HttpRefusal(403, 'this grant is for another item');
        if (reader.grant.expiresAt <= this.clock.now()) throw new HttpRefusal(403, `this grant expired at ${new Date(reader.grant.expiresAt).toISOString()}`);
      } else if (!READER_ROLES.includes(reader.user.role)) {
        throw new HttpRefusal(403, `"${reader.user.username}" (${reader.user.role}) may not read the hot cache: ask the owner for a grant`);
      }
      const info = item !== undefined ? this.opts.hot.info(item) : undefined;
      if (!info) throw new HttpRefusal(404, 'no such item');
      await this.send(req, res, info, this.neighbourOf(reader));
    } catch (e) {
      const r = e instanceof HttpRefusal ? e : undefined;
      if (!r) this.log.warn('hot-cache request failed', { url: req.url, error: String(e) });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const body = `${r?.message ?? 'internal error'}\n`;
      res.writeHead(r?.status ?? 500, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...r?.headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    }
  }

  /** The neighbour whose ledger row counts the bytes: a neighbour's login, or the user a grant was issued to. */
  private neighbourOf(reader: Reader): string | undefined {
    if (reader.user) return reader.user.role === 'neighbour' ? reader.user.username : undefined;
    const u = reader.grant.user;
    return u !== undefined && this.users().get(u)?.role === 'neighbour' ? u : undefined;
  }

  private users(): UserDirectory {
    return typeof this.opts.users === 'function' ? this.opts.users() : this.opts.users;
  }

  /** Basic auth (RFC 7617 §2) against the mesh users, or a grant; 401 with a challenge otherwise. */
  private async authenticate(req: IncomingMessage, url: URL): Promise<Reader> {
    const challenge = { 'WWW-Authenticate': 'Basic realm="canopy hot cache", charset="UTF-8"' };
    const auth = req.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)$/i.exec(auth)?.[1];
    const token = url.searchParams.get('grant') ?? bearer;
    if (token !== undefined && token !== null) {
      const grant = readGrant(this.opts.hot, token);
      if (!grant) throw new HttpRefusal(401, 'this grant was not issued by this phone', challenge);
      return { grant };
    }
    const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(auth)?.[1];
    if (!basic) throw new HttpRefusal(401, 'log in with a mesh user, or bring a grant', challenge);
    const decoded = Buffer.from(basic, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new HttpRefusal(401, 'malformed Basic credentials', challenge);
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    const users = this.users();
    const entry = users.get(username);
    const key = createHash('sha256').update(`${username}\0${password}`).digest('base64');
    const now = this.clock.now();
    const known = this.logins.get(key);
    // Remembered only while the entry is unchanged (a new password or role in users.json checks again).
    if (known && known.until > now && entry && entry.passwordHash === known.hash && entry.role === known.user.role) return { user: known.user };
    const address = req.socket.remoteAddress ?? 'unknown';
    const turn = await this.limiter.admit(address, username);
    if (!turn.ok) throw new HttpRefusal(turn.reason === 'busy' ? 503 : 401, turn.detail, turn.reason === 'busy' ? { 'Retry-After': '1' } : challenge);
    let user: Principal | undefined;
    try {
      user = await users.authenticate(username, Buffer.from(password, 'utf8'));
    } finally {
      turn.done(user !== undefined);
    }
    if (!user || !entry) throw new HttpRefusal(401, `bad username or password for "${username}"`, challenge);
    if (this.logins.size >= LOGIN_CACHE_MAX) this.logins.delete(this.logins.keys().next().value!);
    this.logins.set(key, { user, hash: entry.passwordHash, until: now + LOGIN_CACHE_MS });
    return { user };
  }

  private async send(req: IncomingMessage, res: ServerResponse, first: ItemInfo, neighbour: string | undefined): Promise<void> {
    const hot = this.opts.hot;
    const item = first.item;
    const partBytes = first.partBytes;
    const waitMs = this.opts.waitMs ?? HOT_WAIT_MS;
    const deadline = () => this.clock.now() + waitMs;
    const etag = hot.etag(item);
    const headers: Record<string, string | number> = {
      'Accept-Ranges': 'bytes',
      'Content-Type': first.mime,
      'Cache-Control': 'private, no-cache',
      'X-Content-Type-Options': 'nosniff',
      ...(etag && { ETag: etag }),
    };
    const rangeHeader = req.headers.range;
    // If-Range (RFC 9110 §13.1.5): the range only if the item is still the one the client has (strong comparison).
    const ifRange = req.headers['if-range'];
    const useRange = rangeHeader !== undefined && (ifRange === undefined || ifRange === etag);
    if (!useRange) {
      // The whole item: 200, every part in turn, waiting for those still coming.
      const part0 = first.total === 0 ? undefined : await this.partAt(item, 0, deadline(), res);
      if (first.total !== 0 && !part0) throw this.unavailable(hot.status(item), 0);
      const total = hot.info(item)?.total ?? null;
      res.writeHead(200, { ...headers, ...(total !== null && { 'Content-Length': total }) });
      if (req.method === 'HEAD') return void res.end();
      return this.stream(res, item, partBytes, 0, total ?? Infinity, neighbour, waitMs, part0);
    }

    // RFC 9110 §14.1.2: a suffix range needs the total, which is not known yet.
    const suffix = /(^|,)\s*-/.test(rangeHeader.replace(/^bytes=/i, ''));
    if (first.total === null && suffix) throw this.unavailable(hot.status(item), null, 'the item\'s length is not known yet, so a range from its end cannot be served');
    const size = first.total ?? Number.MAX_SAFE_INTEGER;
    // RFC 9110 §14.1.2: a suffix longer than the item means all of it (range-parser 1.3 calls it unsatisfiable).
    const clamped = rangeHeader.replace(/(=|,)(\s*)-(\d+)/g, (_m, sep: string, sp: string, n: string) => `${sep}${sp}-${Math.min(Number(n), size)}`);
    const ranges = rangeParser(size, clamped, { combine: true });
    if (ranges === -2 || (ranges !== -1 && ranges.type !== 'bytes')) {
      // An invalid or non-bytes Range is ignored (RFC 9110 §14.2): the whole item instead.
      delete req.headers.range;
      return this.send(req, res, first, neighbour);
    }
    if (ranges === -1) {
      // RFC 9110 §15.5.17: 416 with the current length.
      throw new HttpRefusal(416, `the item is ${size} bytes`, { 'Content-Range': `bytes */${size}` });
    }
    const { start } = ranges[0]!;
    const startPart = await this.partAt(item, Math.floor(start / partBytes), deadline(), res);
    if (!startPart) throw this.unavailable(hot.status(item), start);
    const status = hot.status(item);
    // Up to the first byte missing after `start`: the player asks again from there (docs/cdn.md).
    const gap = status.missing.find(([, e]) => e > start)?.[0] ?? status.total ?? this.extent(status);
    const end = Math.min(ranges[0]!.end + 1, gap);
    // Evicted between the wait and the status (the hot class's LRU): not there after all.
    if (end <= start) throw this.unavailable(status, start);
    res.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end - 1}/${status.total ?? '*'}`, 'Content-Length': end - start });
    if (req.method === 'HEAD') return void res.end();
    return this.stream(res, item, partBytes, start, end, neighbour, waitMs, startPart);
  }

  /** Bytes [0, extent) are covered by the item's parts and its gaps (the total not known). */
  private extent(s: HotStatus): number {
    return s.have + s.missing.reduce((n, [a, b]) => n + b - a, 0);
  }

  private unavailable(s: HotStatus, at: number | null, why?: string): HttpRefusal {
    const seconds = Math.max(1, Math.ceil((this.opts.waitMs ?? HOT_WAIT_MS) / 1000));
    return new HttpRefusal(503, why ?? `byte ${at} of "${s.item}" is not on the phone yet (it has ${s.contiguous} bytes from the start, ${s.have} in all): try again shortly`, { 'Retry-After': String(seconds) });
  }

  /**
   * Writes bytes [from, to) part by part, waiting for parts still coming; a part that does not come
   * by the deadline cuts the connection. `to` Infinity: the item's end, whenever its total becomes known.
   * `opened`: the part holding `from`, already opened.
   */
  private async stream(res: ServerResponse, item: string, partBytes: number, from: number, to: number, neighbour: string | undefined, waitMs: number, opened?: Uint8Array): Promise<void> {
    const hot = this.opts.hot;
    let sent = 0;
    try {
      let at = from;
      for (;;) {
        if (to === Infinity) to = hot.info(item)?.total ?? Infinity;
        if (at >= to) break;
        const idx = Math.floor(at / partBytes);
        const part = at === from && opened ? opened : await this.partAt(item, idx, this.clock.now() + waitMs, res);
        if (res.closed || res.destroyed) return;
        if (!part) {
          this.log.info('a part did not come in time: connection cut', { item, part: idx });
          res.destroy();
          return;
        }
        const chunk = part.subarray(at - idx * partBytes, Math.min(part.length, to - idx * partBytes));
        // A last part shorter than the part size ends an item whose total was unknown.
        if (chunk.length === 0) break;
        at += chunk.length;
        sent += chunk.length;
        if (!res.write(chunk)) await new Promise<void>((resolve) => {
          const done = () => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.on('drain', done);
          res.on('close', done);
        });
        if (res.destroyed) return;
      }
      res.end();
    } finally {
      this.counts.bytes += sent;
      if (neighbour !== undefined && sent > 0) this.opts.reciprocity?.served(neighbour, sent);
    }
  }

  /**
   * Part `idx` of the item, waiting for it (HotItems emits 'change' on each write) until `deadline`
   * or until the client goes away; undefined then. A damaged part is dropped by readPart and waited for like a missing one.
   */
  private async partAt(item: string, idx: number, deadline: number, res: ServerResponse): Promise<Uint8Array | undefined> {
    const hot = this.opts.hot;
    const read = () => {
      try {
        return hot.readPart(item, idx);
      } catch (e) {
        if (isCanopyError(e, 'CANOPY_ERR_STORE_CORRUPT')) {
          this.log.warn('damaged hot part', { item, part: idx, error: e.message });
          return undefined;
        }
        throw e;
      }
    };
    for (;;) {
      const part = read();
      if (part) return part;
      const left = deadline - this.clock.now();
      if (left <= 0 || res.closed || res.destroyed || !hot.info(item)) return undefined;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          hot.off('change', onChange);
          res.off('close', done);
          resolve();
        };
        const onChange = (changed: string) => changed === item && done();
        const timer = setTimeout(done, left);
        hot.on('change', onChange);
        res.on('close', done);
      });
    }
  }
}
