/**
 * The store protocol on the mesh, under `<base>/store/<owner>/...` (topics.ts reserves that subtree
 * and the ACL gives neighbours read-write on their own `<owner>` only):
 *
 *   <base>/store/<agent>/req/<client>     request to the store agent named <agent> (the phone, a
 *                                         neighbour's phone, the upstream store); write access to
 *                                         another's subtree is the phone's and admin's only
 *   <base>/store/<agent>/res/<client>     its response
 *   <base>/store/<nb>/ask/<client>        a neighbour <nb> asks the phone (inside the neighbour's own
 *                                         subtree, so the neighbour role reaches it): its cold
 *                                         entries and the hot cache, nothing of the owner's
 *   <base>/store/<nb>/answer/<client>     the phone's answer
 *   <base>/store/<agent>/availability     "online" | "offline", retained (the agent's will)
 *   <base>/store/<agent>/hot              its hot cache ({ items, usedBytes, quotaBytes, partBytes }), retained
 *   <upstream prefix>/store/<owner>/blob/<tag>/<addr>
 *                                         on the upstream broker: sealed blobs the uplink relay
 *                                         delivered (sent to `<base>/relay/bulk/store/<owner>/blob/…`);
 *                                         the upstream store agent keeps them and answers restores
 *                                         on its own `<base>/store/<agent>/req/+` there
 *
 * Every payload is a frame: u32 BE n, n bytes of JSON header, then the body (a chunk's bytes). A
 * response echoes the request's `rid` (zigbee2mqtt's `transaction`).
 */
import { randomBytes } from 'node:crypto';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { CanopyError, type CanopyErrorCode, isCanopyError } from '../../common/errors.ts';
import { encodeEnvelope, topicTree, type TopicTree } from '../../common/topics.ts';
import type { EntryInfo, ListFilter, ScrubReport, StoreClass, Usage } from './chunk-store.ts';
import { decodeFrameBytes, encodeFrameBytes } from '../../common/frame.ts';
import type { Receipt } from './receipts.ts';
import type { HotList, HotStatus, HotWrite } from './hot-items.ts';

export type StoreRequest =
  | { op: 'put'; addr: string; cls: StoreClass; tag?: string; owner?: string }
  | { op: 'get'; addr: string }
  | { op: 'has'; addrs: string[] }
  | { op: 'list'; filter?: ListFilter }
  | { op: 'delete'; addr: string }
  | { op: 'usage' }
  | { op: 'scrub' }
  /** Audit challenges (audit-proof.ts) in the body: addr(32) ‖ nonce(16) each; the answers come back in the reply's body. */
  | { op: 'audit' }
  /**
   * Hot items (hot-items.ts, docs/cdn.md): the body is the plaintext [offset, offset + length); offset
   * and length are whole parts but for the part ending at `total`; a part already present is kept.
   * Trusted callers only, as hot-delete; neighbours may hot-status, hot-list and hot-grant (for themselves).
   */
  | ({ op: 'hot-write' } & HotWrite)
  | { op: 'hot-status'; item: string }
  | { op: 'hot-list' }
  | { op: 'hot-delete'; item: string }
  /**
   * A grant for one hot item (hot-http.ts): a token the phone's HTTP server takes in `?grant=`,
   * valid `ttlMs` (default 1 h, at most 7 days). A trusted caller may name the `user` it is for (the
   * ledger counts a neighbour's bytes); a neighbour gets grants for itself only.
   */
  | { op: 'hot-grant'; item: string; ttlMs?: number; user?: string };

export type StoreOp = StoreRequest['op'];

export interface StoreReplies {
  /** A cold-class put carries the holder's signed receipt (receipts.ts). */
  put: { stored: boolean; receipt?: Receipt };
  get: Record<string, never>;
  has: { present: boolean[] };
  list: { entries: EntryInfo[] };
  delete: { deleted: boolean };
  usage: { usage: Usage };
  scrub: { report: ScrubReport };
  /** Indexes of the challenges not answered (share not held, or not intact); the body has 8 bytes per challenge. */
  audit: { missing: number[] };
  'hot-write': { status: HotStatus };
  'hot-status': { status: HotStatus };
  'hot-list': HotList;
  'hot-delete': { deleted: boolean };
  /** `url`: the item's URL with the token, when the agent serves HTTP. */
  'hot-grant': { token: string; expiresAt: number; url?: string };
}

export type Reply = { rid: string; ok: true; data: Record<string, unknown> } | { rid: string; ok: false; code: CanopyErrorCode; error: string };

/** A frame (frame.ts) as the Buffer mqtt.js publishes. */
export function encodeFrame(header: unknown, body: Uint8Array = new Uint8Array(0)): Buffer {
  const f = encodeFrameBytes(header, body);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

export const decodeFrame = decodeFrameBytes;

/** Topic builders for the store protocol on one base topic. */
export function storeTopics(tree: TopicTree) {
  return {
    request: (agent: string, client: string) => tree.store(agent, 'req', client),
    response: (agent: string, client: string) => tree.store(agent, 'res', client),
    ask: (neighbour: string, client: string) => tree.store(neighbour, 'ask', client),
    answer: (neighbour: string, client: string) => tree.store(neighbour, 'answer', client),
    availability: (agent: string) => tree.store(agent, 'availability'),
    /** The agent's hot cache (HotList), retained, republished after each change (at most once a second). */
    hot: (agent: string) => tree.store(agent, 'hot'),
    /** The relay destination (below `<base>/relay/<class>/`) of a blob bound upstream. */
    blobDest: (owner: string, tag: string, addr: string) => `store/${owner}/blob/${tag}/${addr}`,
  };
}

export interface StoreClientOptions {
  url: string;
  baseTopic?: string;
  username?: string;
  password?: string;
  /** The name this client asks as when it is a neighbour (requests go out on its own `ask` topics). */
  asNeighbour?: string;
  mqtt?: IClientOptions;
  /** Per request. Default 10 s. */
  timeoutMs?: number;
}

/**
 * A client of store agents: request() sends one request and resolves with the reply's data and body,
 * or rejects with the agent's CanopyError, or CANOPY_ERR_TIMEOUT when no one answers.
 */
export class StoreClient {
  readonly id = randomBytes(6).toString('hex');
  readonly topics: ReturnType<typeof storeTopics>;
  private readonly pending = new Map<string, PendingReply>();
  private nextRid = 1;

  private constructor(
    readonly client: MqttClient,
    readonly tree: TopicTree,
    private readonly opts: StoreClientOptions,
  ) {
    this.topics = storeTopics(tree);
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
  }

  static async connect(opts: StoreClientOptions): Promise<StoreClient> {
    const client = await connectMqtt(opts.url, { username: opts.username, password: opts.password, ...opts.mqtt });
    const sc = new StoreClient(client, topicTree(opts.baseTopic), opts);
    const filter = opts.asNeighbour ? sc.topics.answer(opts.asNeighbour, sc.id) : sc.topics.response('+', sc.id);
    await subscribe(client, filter);
    return sc;
  }

  /** Sends `req` to the agent named `agent` (as a neighbour: to the phone, whatever `agent` says). */
  request<O extends StoreOp>(agent: string, req: Extract<StoreRequest, { op: O }>, body?: Uint8Array, timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<{ data: StoreReplies[O]; body: Uint8Array }> {
    const rid = String(this.nextRid++);
    const topic = this.opts.asNeighbour ? this.topics.ask(this.opts.asNeighbour, this.id) : this.topics.request(agent, this.id);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new CanopyError('CANOPY_ERR_TIMEOUT', `store agent "${agent}" did not answer ${req.op} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rid, { resolve: resolve as never, reject, timer });
      this.client.publish(topic, encodeFrame({ ...req, rid }, body), { qos: 1 }, (err) => {
        if (!err) return;
        clearTimeout(timer);
        this.pending.delete(rid);
        reject(new CanopyError('CANOPY_ERR_LINK_DOWN', `store request to "${agent}" not sent: ${err.message}`));
      });
    });
  }

  /** Queues a sealed blob for the uplink: committed to the relay's outbox when this resolves (QoS 1 PUBACK). */
  uplink(owner: string, tag: string, addr: string, body: Uint8Array): Promise<void> {
    const topic = this.tree.relay('bulk', this.topics.blobDest(owner, tag, addr));
    // Our own envelope id: a retry, or the same blob from a later backup, is the same item upstream.
    const payload = encodeEnvelope(`store:${owner}:${addr}`, body);
    return new Promise((resolve, reject) =>
      this.client.publish(topic, Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), { qos: 1 }, (err) =>
        err ? reject(new CanopyError('CANOPY_ERR_LINK_DOWN', `uplink of ${addr} refused: ${err.message}`)) : resolve(),
      ),
    );
  }

  /** The retained message on `topic`, or undefined when none arrives within `ms`. */
  retained(topic: string, ms = 500): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const onMessage = (t: string, payload: Buffer) => {
        if (t !== topic) return;
        done(payload);
      };
      const done = (v: Buffer | undefined) => {
        clearTimeout(timer);
        this.client.off('message', onMessage);
        this.client.unsubscribe(topic);
        resolve(v);
      };
      const timer = setTimeout(() => done(undefined), ms);
      this.client.on('message', onMessage);
      this.client.subscribe(topic, { qos: 0 }, (err, granted) => {
        if (err || granted?.[0]?.qos === 128) done(undefined);
      });
    });
  }

  async close(): Promise<void> {
    for (const [, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new CanopyError('CANOPY_ERR_CANCELLED', 'store client closed'));
    }
    this.pending.clear();
    await new Promise<void>((resolve) => this.client.end(false, {}, () => resolve()));
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic.endsWith(`/${this.id}`)) settleReply(this.pending, payload);
  }
}

/** A request waiting for its reply, by rid (StoreClient; the controller's MeshRequester, relay/hot-cache.ts). */
export interface PendingReply {
  resolve: (r: { data: Record<string, unknown>; body: Uint8Array }) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** Settles the pending request a reply frame answers (by its rid); a frame that is not one, or answers none, is ignored. */
export function settleReply(pending: Map<string, PendingReply>, payload: Buffer): void {
  let frame: { header: Reply; body: Uint8Array };
  try {
    frame = decodeFrame<Reply>(payload);
  } catch {
    return;
  }
  const p = pending.get(frame.header.rid);
  if (!p) return;
  pending.delete(frame.header.rid);
  clearTimeout(p.timer);
  if (frame.header.ok) p.resolve({ data: frame.header.data, body: frame.body });
  else p.reject(new CanopyError(frame.header.code, frame.header.error));
}

/** Connects once with mqtt.js (MQTT 3.1.1: aedes speaks nothing newer); refusals become CanopyErrors. */
export function connectMqtt(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 1000, connectTimeout: 10_000, ...opts });
    const fail = (e: Error & { code?: number | string }) => {
      client.off('close', closed);
      client.end(true);
      // CONNACK 4 (bad user name or password) and 5 (not authorized), MQTT 3.1.1 §3.2.2.3: a refusal, not an outage.
      if (e.code === 4 || e.code === 5) {
        const who = opts.username === undefined ? 'an anonymous login (no username)' : `user "${opts.username}"`;
        reject(new CanopyError('CANOPY_ERR_DENIED', `cannot connect to ${url}: the broker refused ${who} (wrong or missing password, or no such user)`, { cause: e }));
      } else reject(new CanopyError('CANOPY_ERR_LINK_DOWN', `cannot connect to ${url}: ${e.message}`, { cause: e }));
    };
    const closed = () => fail(new Error('the connection closed before the broker accepted it'));
    // No Nagle on our side either (each reconnect is a new socket): small requests and PUBACKs go at once.
    client.on('connect', () => (client.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true));
    client.once('connect', () => {
      client.off('error', fail);
      client.off('close', closed);
      // Later errors are followed by a reconnect; pending requests time out meanwhile.
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', fail);
    client.once('close', closed);
  });
}

export function subscribe(client: MqttClient, filter: string | string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    client.subscribe(filter, { qos: 1 }, (err, granted) => {
      const refused = granted?.find((g) => g.qos === 128);
      if (err || refused) reject(new CanopyError('CANOPY_ERR_DENIED', `the broker refused the subscription to ${refused?.topic ?? String(filter)}${err ? `: ${err.message}` : ''}`));
      else resolve();
    }),
  );
}

/** A CanopyError as a reply. */
export function errorReply(rid: string, e: unknown): Reply {
  if (isCanopyError(e)) return { rid, ok: false, code: e.code, error: e.message };
  return { rid, ok: false, code: 'CANOPY_ERR_INTERNAL', error: e instanceof Error ? e.message : String(e) };
}
