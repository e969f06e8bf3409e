/**
 * The simulator's upstream content server: items of configurable sizes on a loopback HTTP server
 * (node:http), their bytes generated deterministically from the item's name (an AES-128-CTR key
 * stream, so any range is computed without the rest), with byte ranges (RFC 9110 §14: `Range`,
 * 206 Partial Content with `Content-Range`, 416 past the end, `Accept-Ranges: bytes`). The harness
 * puts it behind the simulated satellite link, like the weather service, so the site's downlink
 * reaches it only while the dish is powered in a contact window.
 *
 *   GET /items/<name>       the item (200, or 206 for one range); 404 for an item it does not have
 *   HEAD /items/<name>      its headers
 *
 * For tests: `ranges: false` serves the whole item to every request (a server without Range
 * support); `failNext(n, status)` answers the next n requests with that status.
 */
import { createCipheriv, createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoopbackHttpServer } from './loopback-http.ts';
import rangeParser from 'range-parser';

export interface ContentItem {
  bytes: number;
  mime?: string;
}

export interface ContentServerOptions {
  items?: Record<string, ContentItem>;
  /** Honour Range requests. Default true. */
  ranges?: boolean;
  /** Bytes written at a time. Default 64 KiB. */
  pieceBytes?: number;
  /** A pause after each piece (ms), so each arrives on its own at the client (tests of chunk boundaries). Default none. */
  pieceDelayMs?: number;
}

/** The bytes [offset, offset + length) of the item named `name`: the same on every call. */
export function contentBytes(name: string, offset: number, length: number): Buffer {
  const key = createHash('sha256').update(`canopy content ${name}`).digest().subarray(0, 16);
  const block = Math.floor(offset / 16);
  // CTR mode: the counter block is the 16-byte big-endian block index, so the stream starts anywhere.
  const iv = Buffer.alloc(16);
  iv.writeBigUInt64BE(BigInt(block), 8);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const skip = offset - block * 16;
  const out = cipher.update(Buffer.alloc(skip + length));
  return out.subarray(skip);
}

const PIECE = 64 * 1024;

export class ContentServer extends LoopbackHttpServer {
  private readonly items = new Map<string, ContentItem>();
  private failures: { n: number; status: number } = { n: 0, status: 500 };
  /** Requests answered, and body bytes sent (what went down the link). */
  requests = 0;
  bytesServed = 0;
  /** The Range header of every request, in order. */
  readonly ranges: (string | undefined)[] = [];
  /** What every item request was answered with: the bytes [start, start + sent) of `item`, in order. */
  readonly served: { item: string; start: number; sent: number }[] = [];

  constructor(private readonly opts: ContentServerOptions = {}) {
    super();
    for (const [name, item] of Object.entries(opts.items ?? {})) this.add(name, item);
  }

  /** Bytes of `item` the server sent more than once (what requests asked again, counted as sent). */
  sentTwice(item: string): number {
    const spans = this.served.filter((s) => s.item === item && s.sent > 0).sort((a, b) => a.start - b.start);
    let union = 0;
    let reach = 0;
    for (const s of spans) {
      const end = s.start + s.sent;
      if (end > reach) union += end - Math.max(reach, s.start);
      reach = Math.max(reach, end);
    }
    return spans.reduce((n, s) => n + s.sent, 0) - union;
  }

  add(name: string, item: ContentItem): void {
    if (!(Number.isSafeInteger(item.bytes) && item.bytes >= 0)) throw new RangeError(`item ${name}: bytes must be an integer ≥ 0`);
    this.items.set(name, item);
  }

  /** The next `n` requests get `status` (a 5xx outage, a 404). */
  failNext(n: number, status: number): void {
    this.failures = { n, status };
  }

  url(name: string, port = this.port): string {
    return `http://127.0.0.1:${port}/items/${encodeURIComponent(name)}`;
  }

  protected handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    this.ranges.push(req.headers.range);
    const text = (status: number, body: string, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
    };
    if (this.failures.n > 0) {
      this.failures.n--;
      return text(this.failures.status, `simulated failure ${this.failures.status}\n`);
    }
    const match = /^\/items\/([^/?]+)$/.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
    const name = match ? decodeURIComponent(match[1]!) : undefined;
    const item = name === undefined ? undefined : this.items.get(name);
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(405, 'GET or HEAD\n', { allow: 'GET, HEAD' });
    if (!item || name === undefined) return text(404, `no item ${req.url}\n`);
    const size = item.bytes;
    let start = 0;
    let end = size; // exclusive
    let status = 200;
    const headers: Record<string, string> = { 'content-type': item.mime ?? 'application/octet-stream' };
    if (this.opts.ranges !== false) {
      headers['accept-ranges'] = 'bytes';
      const range = req.headers.range;
      if (range !== undefined) {
        const parsed = rangeParser(size, range, { combine: true });
        // RFC 9110 §14.1.1: an unsatisfiable range set is answered 416 with the current length.
        if (parsed === -1) return text(416, 'range not satisfiable\n', { 'content-range': `bytes */${size}` });
        // An invalid Range header is ignored (§14.2): the whole item, 200.
        if (parsed !== -2 && parsed.type === 'bytes' && parsed.length === 1) {
          start = parsed[0]!.start;
          end = parsed[0]!.end + 1;
          status = 206;
          headers['content-range'] = `bytes ${start}-${end - 1}/${size}`;
        }
      }
    }
    headers['content-length'] = String(end - start);
    res.writeHead(status, headers);
    if (req.method === 'HEAD') return void res.end();
    const record = { item: name, start, sent: 0 };
    this.served.push(record);
    this.stream(res, name, start, end, (n) => (record.sent += n));
  }

  /** Writes [from, to) in pieces, waiting for the socket to drain. */
  private stream(res: ServerResponse, name: string, from: number, to: number, sent: (n: number) => void): void {
    const size = this.opts.pieceBytes ?? PIECE;
    const delay = this.opts.pieceDelayMs;
    let at = from;
    let timer: NodeJS.Timeout | undefined;
    const next = (): void => {
      timer = undefined;
      while (at < to) {
        const n = Math.min(size, to - at);
        const piece = contentBytes(name, at, n);
        at += n;
        this.bytesServed += n;
        sent(n);
        const drained = res.write(piece);
        if (delay !== undefined && at < to) {
          // The socket may have drained during the pause: ask it then, not when the piece was written.
          timer = setTimeout(() => (res.writableNeedDrain ? res.once('drain', next) : next()), delay);
          return;
        }
        if (!drained) {
          res.once('drain', next);
          return;
        }
      }
      res.end();
    };
    res.on('close', () => {
      clearTimeout(timer);
      res.off('drain', next);
    });
    next();
  }
}
