/**
 * The store agent: a ChunkStore answering the store protocol (protocol.ts) on an MQTT broker. The
 * same agent runs on the owner's phone (`canopy phone`), on each neighbour's phone (holding the
 * owner's shares in its cold class) and next to the upstream broker (`--ingest`: it keeps what the
 * uplink relay delivers and answers restores from there).
 *
 * Who may do what: requests on `<base>/store/<name>/req/+` come from clients with write access to
 * this agent's subtree (the owner, admin: the mesh's ACL decides) and may use every class.
 * Neighbours ask on their own `<base>/store/<nb>/ask/+` and see only their own cold entries and the
 * hot cache: puts go to cold or hot under their name, gets of anything else are "not found" (the
 * owner's entries are not even confirmed to exist); of the hot items they may ask the status, the
 * list and a grant for themselves (hot-http.ts streams the items over HTTP). Everything stored
 * is ciphertext already; the agent holds no key of the owner's (only the hot cache's own).
 */
import type { MqttClient } from 'mqtt';
import { CanopyError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import { decodeEnvelope, parseTopic, topicTree, type Availability, type TopicTree } from '../../common/topics.ts';
import { isAddress, isStoreClass, type ChunkStore, type EntryInfo, type PutInput } from './chunk-store.ts';
import { connectMqtt, decodeFrame, encodeFrame, errorReply, storeTopics, subscribe, type Reply, type StoreRequest } from './protocol.ts';
import { answerChallenges } from './audit-proof.ts';
import { loadOrCreateAgentKey, signReceipt, type AgentKey } from './receipts.ts';
import { HOT_INDEX_FILE, HOT_PART_TAG, HotItems } from './hot-items.ts';
import { HotHttpServer, issueGrant, type HotHttpOptions } from './hot-http.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface PhoneAgentOptions {
  store: ChunkStore;
  url: string;
  baseTopic?: string;
  username?: string;
  password?: string;
  /** The agent's name: it answers on `<base>/store/<name>/req/+`. The owner's (or neighbour's) mesh username. */
  name: string;
  /** Also answer neighbours on `<base>/store/+/ask/+` (needs read access to every store subtree: the phone role). */
  serveNeighbours?: boolean;
  /**
   * The upstream store: keep the sealed blobs the uplink relay delivers on
   * `<ingest>/store/+/blob/#`, where `<ingest>` is the relay's upstream topic prefix.
   */
  ingest?: string;
  log?: Logger;
  /**
   * The owner's reciprocity ledger (ledger.ts): a neighbour's cold puts are bounded by its room
   * under the quota rule, and the hot-cache bytes it gets are counted.
   */
  reciprocity?: { room(neighbour: string): number; served(neighbour: string, bytes: number): void };
  /** Part size of hot items created from now on (hot-items.ts; default 256 KiB). */
  hotPartBytes?: number;
  /**
   * Serve the hot cache over HTTP (hot-http.ts) to the mesh's users. The host defaults to the
   * address this phone reaches the broker from: the site's network.
   */
  http?: Omit<HotHttpOptions, 'hot' | 'log'>;
}

/** A hot-grant's validity unless asked otherwise, and the most it may ask. */
const HOT_GRANT_MS = 3_600_000;
const HOT_GRANT_MAX_MS = 7 * 86_400_000;

/** The retained hot-cache topic is republished at most this often. */
const HOT_PUBLISH_MS = 1000;

export interface AgentCounts {
  requests: number;
  asks: number;
  ingested: number;
  refused: number;
}

interface Caller {
  /** Undefined for a trusted request; the neighbour's name for an ask. */
  neighbour?: string;
  replyTo: string;
}

export class PhoneAgent {
  readonly counts: AgentCounts = { requests: 0, asks: 0, ingested: 0, refused: 0 };
  private client: MqttClient | undefined;
  private readonly tree: TopicTree;
  private readonly topics: ReturnType<typeof storeTopics>;
  private readonly log: Logger;
  private puts: { input: PutInput; done: (e?: unknown, stored?: boolean) => void }[] = [];
  private key: AgentKey | undefined;
  private hotItems: HotItems | undefined;
  private hotTimer: NodeJS.Timeout | undefined;
  private hotPublishedAt = 0;
  private httpServer: HotHttpServer | undefined;

  constructor(private readonly opts: PhoneAgentOptions) {
    this.tree = topicTree(opts.baseTopic);
    this.topics = storeTopics(this.tree);
    this.log = (opts.log ?? silentLogger).child('store');
  }

  get store(): ChunkStore {
    return this.opts.store;
  }

  /** The hot cache's items (hot-items.ts), opened on first use. */
  get hot(): HotItems {
    if (!this.hotItems) {
      this.hotItems = new HotItems(this.opts.store, { partBytes: this.opts.hotPartBytes, owner: this.opts.name });
      this.hotItems.on('change', () => this.scheduleHotPublish());
    }
    return this.hotItems;
  }

  async start(): Promise<void> {
    if (this.client) return;
    const { name } = this.opts;
    const availability = this.topics.availability(name);
    const client = await connectMqtt(this.opts.url, {
      username: this.opts.username,
      password: this.opts.password,
      // A stable id and a kept session: requests and relayed blobs published while the agent was
      // away are delivered when it comes back (QoS 1).
      clientId: `canopy-store-${name}`,
      clean: false,
      will: { topic: availability, payload: Buffer.from('offline' satisfies Availability), qos: 1, retain: true },
    });
    // Set before subscribing: a kept session may deliver waiting requests at once, and they are answered.
    this.client = client;
    client.on('message', (topic, payload) => this.onMessage(topic, payload));
    const filters = [this.topics.request(name, '+')];
    if (this.opts.ingest) filters.push(topicTree(this.opts.ingest).store('+', 'blob', '#'));
    try {
      await subscribe(client, filters);
    } catch (e) {
      // Refused (ACL): no half-started agent left connected and reconnecting.
      this.client = undefined;
      await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
      throw e;
    }
    if (this.opts.serveNeighbours) {
      // Only a phone (or admin) may read other owners' subtrees; a neighbour's own agent is refused here and serves its owner only.
      await subscribe(client, this.topics.ask('+', '+')).catch((e: unknown) => this.log.info('not serving neighbours', { error: String(e) }));
    }
    if (this.opts.http) {
      // The site's network: the local address of the connection to the broker.
      const host = this.opts.http.host ?? (client.stream as { localAddress?: string } | undefined)?.localAddress ?? '127.0.0.1';
      const server = new HotHttpServer({ reciprocity: this.opts.reciprocity, ...this.opts.http, host, hot: this.hot, log: this.log });
      try {
        await server.start();
      } catch (e) {
        this.client = undefined;
        await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
        throw e;
      }
      this.httpServer = server;
    }
    client.publish(availability, 'online' satisfies Availability, { qos: 1, retain: true });
    // What the cache holds now (evictions while the agent was away included).
    if (this.hotItems || existsSync(join(this.opts.store.dir, HOT_INDEX_FILE))) this.scheduleHotPublish();
    this.log.info('store agent up', { name, serveNeighbours: !!this.opts.serveNeighbours, ingest: this.opts.ingest ?? null });
  }

  /** The hot cache's HTTP server, when `http` was given and the agent started. */
  get http(): HotHttpServer | undefined {
    return this.httpServer;
  }

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    await this.httpServer?.stop();
    this.httpServer = undefined;
    // Puts still batched are stored and answered while the connection is there to carry the replies.
    this.flushPuts();
    if (this.hotTimer) this.publishHot();
    this.client = undefined;
    // Say goodbye if the broker is there to hear it (a broker already gone would never PUBACK).
    const offline = new Promise<void>((resolve) => client.publish(this.topics.availability(this.opts.name), 'offline', { qos: 1, retain: true }, () => resolve()));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([offline, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
    clearTimeout(timer);
    await new Promise<void>((resolve) => client.end(true, {}, () => resolve()));
    this.hotItems?.close();
    this.hotItems = undefined;
  }

  /** Debounced: one retained publish of the hot cache at most every HOT_PUBLISH_MS, the last change always included. */
  private scheduleHotPublish(): void {
    if (this.hotTimer || !this.client) return;
    const wait = Math.max(0, this.hotPublishedAt + HOT_PUBLISH_MS - Date.now());
    this.hotTimer = setTimeout(() => this.publishHot(), wait);
    this.hotTimer.unref();
  }

  private publishHot(): void {
    clearTimeout(this.hotTimer);
    this.hotTimer = undefined;
    if (!this.client || !this.hotItems) return;
    this.hotPublishedAt = Date.now();
    const { items, usedBytes, quotaBytes, partBytes } = this.hotItems.list();
    this.client.publish(this.topics.hot(this.opts.name), JSON.stringify({ items, usedBytes, quotaBytes, partBytes }), { qos: 1, retain: true });
  }

  private onMessage(topic: string, payload: Buffer): void {
    const relayed = this.opts.ingest ? parseTopic(this.opts.ingest, topic) : undefined;
    if (relayed?.kind === 'store' && relayed.path.startsWith('blob/')) return this.ingest(relayed.owner, relayed.path.split('/').slice(1), payload);
    const parsed = parseTopic(this.tree.base, topic);
    if (parsed?.kind !== 'store') return;
    const [verb, ...rest] = parsed.path.split('/');
    if (verb !== 'req' && verb !== 'ask') return;
    const client = rest.join('/');
    const caller: Caller =
      verb === 'ask' ? { neighbour: parsed.owner, replyTo: this.topics.answer(parsed.owner, client) } : { replyTo: this.topics.response(parsed.owner, client) };
    if (verb === 'ask' && parsed.owner === this.opts.name) return; // our own subtree's asks are not for us
    let req: StoreRequest & { rid: string };
    let body: Uint8Array;
    try {
      ({ header: req, body } = decodeFrame<StoreRequest & { rid: string }>(payload));
    } catch (e) {
      this.log.warn('undecodable store request', { topic, error: String(e) });
      return;
    }
    if (caller.neighbour) this.counts.asks++;
    else this.counts.requests++;
    void this.handle(req, body, caller).then(
      ({ data, body: out }) => this.reply(caller, { rid: req.rid, ok: true, data }, out),
      (e: unknown) => {
        this.counts.refused++;
        this.reply(caller, errorReply(req.rid, e));
      },
    );
  }

  private reply(caller: Caller, reply: Reply, body?: Uint8Array): void {
    this.client?.publish(caller.replyTo, encodeFrame(reply, body), { qos: 1 });
  }

  private async handle(req: StoreRequest, body: Uint8Array, caller: Caller): Promise<{ data: Record<string, unknown>; body?: Uint8Array }> {
    const store = this.opts.store;
    const nb = caller.neighbour;
    // What a neighbour may see: the hot cache and its own cold entries.
    // Hot items' sealed parts are read through hot-http.ts (decrypted, for readers allowed), not as raw entries.
    const visible = (e: EntryInfo | undefined) => e !== undefined && (nb === undefined || (e.cls === 'hot' && e.tag !== HOT_PART_TAG) || (e.cls === 'cold' && e.owner === nb));
    switch (req.op) {
      case 'put': {
        if (!isStoreClass(req.cls)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `store class "${String(req.cls)}": one of own, cold, hot`);
        if (nb && req.cls === 'own') throw new CanopyError('CANOPY_ERR_DENIED', `neighbour "${nb}" may put to the cold or hot class only`);
        const owner = nb ?? req.owner ?? this.opts.name;
        if (nb && req.cls === 'cold' && this.opts.reciprocity) this.checkRoom(nb, body.length);
        const stored = await this.queuePut({ addr: req.addr, body, cls: req.cls, owner, tag: typeof req.tag === 'string' ? req.tag.slice(0, 32) : '' });
        if (req.cls !== 'cold') return { data: { stored } };
        // What the agent accepted, signed: the owner keeps it (receipts.ts).
        this.key ??= loadOrCreateAgentKey(store.dir);
        return { data: { stored, receipt: signReceipt(this.key, { holder: this.opts.name, owner, addr: req.addr, size: body.length, at: Date.now() }) } };
      }
      case 'get': {
        const info = isAddress(req.addr) ? store.info(req.addr) : undefined;
        if (!visible(info)) throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `chunk ${String(req.addr)} is not in the store of "${this.opts.name}"`);
        const got = store.get(req.addr);
        if (nb && info!.cls === 'hot') this.opts.reciprocity?.served(nb, got.length);
        return { data: {}, body: got };
      }
      case 'has': {
        if (!Array.isArray(req.addrs)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'has needs addrs: a list of addresses');
        return { data: { present: req.addrs.map((a) => isAddress(a) && visible(store.info(a))) } };
      }
      case 'list': {
        const filter = { ...req.filter };
        const entries = store.list(nb ? { ...filter, owner: nb } : filter).filter(visible);
        return { data: { entries } };
      }
      case 'delete': {
        if (!isAddress(req.addr) || !visible(store.info(req.addr)) || (nb && store.info(req.addr)?.owner !== nb)) {
          throw new CanopyError('CANOPY_ERR_STORE_NOT_FOUND', `chunk ${String(req.addr)} is not in the store of "${this.opts.name}"`);
        }
        return { data: { deleted: store.delete(req.addr) } };
      }
      case 'usage':
        return { data: { usage: store.usage() } };
      case 'audit': {
        // Each answer hashes the whole share under the challenge's nonce (audit-proof.ts): only intact bytes answer right.
        const read = (addr: string) => {
          if (!visible(store.info(addr))) return undefined;
          try {
            return store.get(addr);
          } catch {
            return undefined; // damaged: no answer
          }
        };
        const answered = answerChallenges(body, read);
        if (!answered) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `audit challenges come as 48-byte records (address and nonce), got ${body.length} bytes`);
        return { data: { missing: answered.missing }, body: answered.answers };
      }
      case 'hot-write': {
        if (nb) throw new CanopyError('CANOPY_ERR_DENIED', `neighbour "${nb}" may not write to the hot cache of "${this.opts.name}" (hot-status and hot-list only)`);
        const { op: _op, ...w } = req;
        return { data: { status: this.hot.write(w, body) } };
      }
      case 'hot-status':
        return { data: { status: this.hot.status(req.item) } };
      case 'hot-list':
        return { data: { ...this.hot.list() } };
      case 'hot-delete':
        if (nb) throw new CanopyError('CANOPY_ERR_DENIED', `neighbour "${nb}" may not delete from the hot cache of "${this.opts.name}"`);
        return { data: { deleted: this.hot.delete(req.item) } };
      case 'hot-grant': {
        const ttl = req.ttlMs ?? HOT_GRANT_MS;
        if (!Number.isSafeInteger(ttl) || ttl < 1 || ttl > HOT_GRANT_MAX_MS) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `hot-grant: ttlMs ${String(req.ttlMs)} must be 1 ms to ${HOT_GRANT_MAX_MS} (7 days)`);
        if (nb && req.user !== undefined && req.user !== nb) throw new CanopyError('CANOPY_ERR_DENIED', `neighbour "${nb}" may ask grants for itself only, not for "${String(req.user)}"`);
        if (req.user !== undefined && typeof req.user !== 'string') throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', 'hot-grant: user must be a mesh username');
        const status = this.hot.status(req.item);
        const user = nb ?? req.user;
        const expiresAt = Date.now() + ttl;
        const token = issueGrant(this.hot, { item: status.item, expiresAt, ...(user !== undefined && { user }) });
        return { data: { token, expiresAt, ...(this.httpServer && { url: this.httpServer.url(status.item, token) }) } };
      }
      case 'scrub':
        if (nb) throw new CanopyError('CANOPY_ERR_DENIED', 'only the owner may scrub the store');
        return { data: { report: await store.scrub() } };
      default:
        throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `unknown store operation "${String((req as { op?: unknown }).op)}"`);
    }
  }

  /** A neighbour's cold put beyond its room under the quota rule (ledger.ts) is refused with the numbers. */
  private checkRoom(nb: string, bytes: number): void {
    const room = this.opts.reciprocity!.room(nb);
    const used = this.opts.store.bytesOf('cold', nb);
    if (used + bytes > room) {
      throw new CanopyError(
        'CANOPY_ERR_STORE_QUOTA',
        `neighbour "${nb}" has ${used} of its ${room} bytes of room on "${this.opts.name}" in use and asks for ${bytes} more: its room grows with what it holds for this site and shrinks with failed audits (docs/audits.md)`,
      );
    }
  }

  /** Group commit: puts arriving in one turn of the event loop share a transaction. */
  private queuePut(input: PutInput): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.puts.push({ input, done: (e, stored) => (e ? reject(e) : resolve(stored!)) });
      if (this.puts.length === 1) setImmediate(() => this.flushPuts());
    });
  }

  private flushPuts(): void {
    const batch = this.puts.splice(0);
    if (batch.length === 0) return;
    try {
      const stored = this.opts.store.putMany(batch.map((p) => p.input));
      batch.forEach((p, i) => p.done(undefined, stored[i]));
    } catch {
      // One of them was refused (quota, bad hash): the rest go in one by one, each with its own answer.
      for (const p of batch) {
        try {
          p.done(undefined, this.opts.store.put(p.input));
        } catch (e) {
          p.done(e);
        }
      }
    }
  }

  /** A blob the relay delivered: `<base>/store/<owner>/blob/<tag>/<addr>`, in the relay's envelope. */
  private ingest(owner: string, rest: string[], payload: Buffer): void {
    const [tag, addr] = rest;
    const body = decodeEnvelope(payload)?.body ?? payload;
    if (!tag || !addr) return;
    void this.queuePut({ addr, body, cls: 'own', owner, tag }).then(
      () => this.counts.ingested++,
      (e: unknown) => this.log.warn('relayed blob refused', { owner, addr, error: String(e) }),
    );
  }
}
