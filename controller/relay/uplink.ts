/**
 * The uplink bridge: drains the outbox to an upstream MQTT broker with mqtt.js at QoS 1.
 *
 * - An item leaves the outbox only after the upstream PUBACK (MQTT 3.1.1 §4.3.2: the sender owns
 *   the message until then). mqtt.js's own outgoing store is in memory, so it is not relied on:
 *   every connection is a clean session, and what was in flight when a connection died is read
 *   again from the outbox and sent on the next one.
 * - Each item carries its Canopy id in the relay envelope (and, to MQTT 5 upstreams, as the
 *   `canopy-id` user property with the remaining TTL as Message Expiry Interval), so receivers
 *   drop the duplicates that resending after an outage creates (dedup.ts).
 * - Items go out control first, then hot, then bulk; within a class in arrival order. A window's
 *   byte budget, when set, is checked per item and per class.
 * - While open, the bridge reconnects with exponential backoff; a retained `bridge/state` under the
 *   upstream prefix says "online", with "offline" as the last will.
 */
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import mqtt, { type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';
import type { Clock, TimerHandle } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import type { Logger } from '../../firmware-bridge/log.ts';
import { encodeEnvelope, PRIORITY_CLASSES, RELAY_ID_PROPERTY, type Availability, type PerClass } from '../../common/topics.ts';
import type { WindowBudget } from './contact-plan.ts';
import type { Outbox, OutboxItem } from './outbox.ts';

export interface UpstreamOptions {
  /** mqtt://, mqtts://, ws:// or wss:// URL of the upstream broker. */
  url: string;
  username?: string;
  password?: string;
  tls?: { caFile?: string; certFile?: string; keyFile?: string; rejectUnauthorized?: boolean };
  /** Default `canopy-relay-<origin>`. */
  clientId?: string;
  /** 4 (MQTT 3.1.1, default) or 5 (adds the id as a user property and a message expiry). */
  protocolVersion?: 4 | 5;
  /** Upstream topic = `<topicPrefix>/<dest>`. Default `canopy/<origin>`. */
  topicPrefix?: string;
  /** Seconds; a dead link is noticed after about 1.5 × this. Default 15. */
  keepaliveSec?: number;
  /** Items and bytes in flight (sent, PUBACK pending). Defaults 256 and 1 MiB. */
  maxInflight?: number;
  maxInflightBytes?: number;
  /** Reconnect delay: starts at `initial`, doubles per failure up to `max`. Default 250 ms … 10 s. */
  backoffMs?: { initial: number; max: number };
  /** How long a deliberate close waits for PUBACKs of what is in flight. Default 1000 ms. */
  closeGraceMs?: number;
}

export interface UplinkEvents {
  up: [];
  down: [reason: string];
  /** An item was written to the connection (`wireBytes`: the PUBLISH packet's size). */
  sent: [item: OutboxItem, wireBytes: number];
  /** Items acknowledged upstream and removed from the outbox. */
  delivered: [items: OutboxItem[]];
  /**
   * Nothing in flight and nothing to send: the outbox is empty (`budgetBlocked` false), or what is
   * left does not fit the window's budget (true).
   */
  idle: [budgetBlocked: boolean];
}

const REFILL = 128;

export class Uplink extends EventEmitter<UplinkEvents> {
  private client: MqttClient | undefined;
  private connected = false;
  private wanted = false;
  private closing = false;
  /** Bumped per connection; callbacks of an older connection are ignored. */
  private generation = 0;
  private backoff: number;
  private retry: TimerHandle | undefined;
  private readonly buffers: PerClass<OutboxItem[]> = { control: [], hot: [], bulk: [] };
  private readonly cursor: PerClass<number> = { control: 0, hot: 0, bulk: 0 };
  private readonly inflight = new Map<number, number>();
  private inflightBytes = 0;
  private acked: OutboxItem[] = [];
  private ackFlush: NodeJS.Immediate | undefined;
  private readonly options: IClientOptions;
  private readonly prefix: string;
  private readonly stateTopic: string;
  /** The current window's budget; undefined: no byte limit. */
  budget: WindowBudget | undefined;

  constructor(
    private readonly outbox: Outbox,
    private readonly opts: UpstreamOptions & { origin: string },
    private readonly clock: Clock,
    private readonly log: Logger,
  ) {
    super();
    this.prefix = opts.topicPrefix ?? `canopy/${opts.origin}`;
    this.stateTopic = `${this.prefix}/bridge/state`;
    this.backoff = this.backoffRange.initial;
    this.options = {
      clientId: opts.clientId ?? `canopy-relay-${opts.origin}`,
      username: opts.username,
      password: opts.password,
      protocolVersion: opts.protocolVersion ?? 4,
      clean: true,
      reconnectPeriod: 0, // reconnects are ours, on the injected clock
      keepalive: opts.keepaliveSec ?? 15,
      connectTimeout: 10_000,
      will: { topic: this.stateTopic, payload: Buffer.from('offline' satisfies Availability), qos: 1, retain: true },
      ...readTls(opts.tls),
    };
  }

  get isUp(): boolean {
    return this.connected;
  }

  /** Connects, and keeps reconnecting until close(). */
  open(): void {
    if (this.wanted) return;
    this.wanted = true;
    this.backoff = this.backoffRange.initial;
    this.connect();
  }

  /** Stops sending, waits up to closeGraceMs for in-flight PUBACKs, says "offline", disconnects. */
  async close(): Promise<void> {
    this.wanted = false;
    this.clock.clearTimeout(this.retry);
    this.retry = undefined;
    const client = this.client;
    if (!client) return;
    this.closing = true;
    try {
      if (this.connected) {
        await this.waitForInflight(this.opts.closeGraceMs ?? 1000);
        if (this.connected && this.inflight.size === 0) {
          client.publish(this.stateTopic, 'offline' satisfies Availability, { qos: 0, retain: true });
          await this.endGracefully(client, this.opts.closeGraceMs ?? 1000);
        }
      }
    } finally {
      this.closing = false;
      this.down('closed by the relay');
    }
  }

  /** New items are in the outbox: send them if connected. */
  kick(): void {
    this.pump();
  }

  private get backoffRange(): { initial: number; max: number } {
    return this.opts.backoffMs ?? { initial: 250, max: 10_000 };
  }

  private connect(): void {
    const generation = ++this.generation;
    const client = mqtt.connect(this.opts.url, this.options);
    this.client = client;
    const current = () => generation === this.generation;
    // Only these listeners are ours to remove later: mqtt.js keeps its own on the client.
    client.on('connect', () => {
      if (!current()) return;
      this.connected = true;
      this.backoff = this.backoffRange.initial;
      // A new session: everything still in the outbox is unsent as far as this connection knows.
      for (const cls of PRIORITY_CLASSES) {
        this.buffers[cls] = [];
        this.cursor[cls] = 0;
      }
      client.publish(this.stateTopic, 'online' satisfies Availability, { qos: 1, retain: true });
      this.log.info('uplink up', { url: this.opts.url });
      this.emit('up');
      this.pump();
    });
    client.on('error', (err) => {
      if (!current()) return;
      this.log.warn('uplink error', { error: err.message });
      this.down(err.message);
    });
    client.on('close', () => {
      if (current()) this.down('connection closed');
    });
  }

  /** Tears the connection down; schedules a reconnect while the relay still wants the link. */
  private down(reason: string): void {
    const client = this.client;
    if (!client) return;
    this.generation++; // silences this client's listeners and callbacks
    this.client = undefined;
    client.end(true);
    this.flushAcks();
    this.inflight.clear();
    this.inflightBytes = 0;
    const wasUp = this.connected;
    this.connected = false;
    if (wasUp) {
      this.log.info('uplink down', { reason });
      this.emit('down', reason);
    }
    if (this.wanted) {
      this.retry = this.clock.setTimeout(() => {
        this.retry = undefined;
        if (this.wanted) this.connect();
      }, this.backoff);
      this.backoff = Math.min(this.backoff * 2, this.backoffRange.max);
    }
  }

  private pump(): void {
    const client = this.client;
    if (!client || !this.connected || this.closing) return;
    const maxItems = this.opts.maxInflight ?? 256;
    const maxBytes = this.opts.maxInflightBytes ?? 1 << 20;
    let budgetBlocked = false;
    while (this.inflight.size < maxItems && this.inflightBytes < maxBytes) {
      const next = this.pick();
      if ('budgetBlocked' in next) {
        budgetBlocked = next.budgetBlocked;
        break;
      }
      this.send(client, next.item, next.payload, next.wire);
    }
    if (this.inflight.size === 0) this.emit('idle', budgetBlocked);
  }

  /** The next item by priority that the window's budget allows, with its encoded form. */
  private pick(): { item: OutboxItem; payload: Uint8Array; wire: number } | { budgetBlocked: boolean } {
    const now = this.clock.now();
    let budgetBlocked = false;
    for (const cls of PRIORITY_CLASSES) {
      const buffer = this.buffers[cls];
      if (buffer.length === 0) {
        const more = this.outbox.next(cls, this.cursor[cls], REFILL);
        if (more.length === 0) continue;
        this.cursor[cls] = more[more.length - 1]!.seq;
        buffer.push(...more);
      }
      // Items that expired while buffered are left for Outbox.expire() to drop and count.
      while (buffer.length > 0 && buffer[0]!.expires !== null && buffer[0]!.expires! <= now) buffer.shift();
      const item = buffer[0];
      if (!item) continue;
      const payload = encodeEnvelope(item.id, item.body);
      const wire = publishWireBytes(this.topicOf(item), payload.length, this.isV5 ? item.id : undefined);
      if (this.budget && !this.budget.allows(cls, wire)) {
        budgetBlocked = true;
        continue;
      }
      buffer.shift();
      return { item, payload, wire };
    }
    return { budgetBlocked };
  }

  private send(client: MqttClient, item: OutboxItem, payload: Uint8Array, wire: number): void {
    const generation = this.generation;
    this.inflight.set(item.seq, wire);
    this.inflightBytes += wire;
    this.budget?.spend(item.cls, wire);
    const options: IClientPublishOptions = { qos: 1 };
    if (this.isV5) {
      options.properties = { userProperties: { [RELAY_ID_PROPERTY]: item.id } };
      if (item.expires !== null) options.properties.messageExpiryInterval = Math.max(1, Math.ceil((item.expires - this.clock.now()) / 1000));
    }
    this.emit('sent', item, wire);
    client.publish(this.topicOf(item), Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength), options, (err) => {
      if (generation !== this.generation) return; // that connection is gone; the item is still in the outbox
      this.inflight.delete(item.seq);
      this.inflightBytes -= wire;
      if (err) {
        // MQTT 5 negative PUBACK: the item stays in the outbox and is tried on the next connection.
        this.log.warn('upstream refused an item', { id: item.id, error: err.message });
        return;
      }
      this.acked.push(item);
      this.ackFlush ??= setImmediate(() => this.flushAcks());
      this.pump();
    });
  }

  /** Removes acknowledged items in one transaction. */
  private flushAcks(): void {
    if (this.ackFlush) clearImmediate(this.ackFlush);
    this.ackFlush = undefined;
    if (this.acked.length === 0) return;
    const items = this.acked;
    this.acked = [];
    this.outbox.remove(items);
    this.emit('delivered', items);
  }

  private waitForInflight(ms: number): Promise<void> {
    return new Promise((resolve) => {
      let timer: TimerHandle | undefined;
      const finish = () => {
        this.clock.clearTimeout(timer);
        this.off('delivered', check);
        this.off('down', finish);
        resolve();
      };
      const check = () => {
        if (this.inflight.size === 0) finish();
      };
      timer = this.clock.setTimeout(finish, ms);
      this.on('delivered', check);
      this.on('down', finish);
      check();
    });
  }

  private endGracefully(client: MqttClient, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, ms);
      client.end(false, {}, () => {
        this.clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  private get isV5(): boolean {
    return this.options.protocolVersion === 5;
  }

  private topicOf(item: OutboxItem): string {
    return `${this.prefix}/${item.dest}`;
  }
}

/** Size of a QoS 1 PUBLISH (MQTT 3.1.1 §3.3; MQTT 5 §3.3.2.3 adds properties). */
export function publishWireBytes(topic: string, payloadBytes: number, v5UserPropertyId?: string): number {
  let properties = 0;
  if (v5UserPropertyId !== undefined) {
    // user property: id byte + two length-prefixed strings; message expiry: id byte + four bytes
    properties = 1 + 2 + Buffer.byteLength(RELAY_ID_PROPERTY) + 2 + Buffer.byteLength(v5UserPropertyId) + 5;
    properties += varintBytes(properties);
  }
  const remaining = 2 + Buffer.byteLength(topic) + 2 + properties + payloadBytes;
  return 1 + varintBytes(remaining) + remaining;
}

function varintBytes(n: number): number {
  return n < 128 ? 1 : n < 16_384 ? 2 : n < 2_097_152 ? 3 : 4;
}

function readTls(tls: UpstreamOptions['tls']): Pick<IClientOptions, 'ca' | 'cert' | 'key' | 'rejectUnauthorized'> {
  if (!tls) return {};
  const read = (field: string, path: string | undefined) => {
    if (!path) return undefined;
    try {
      return readFileSync(path);
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CONFIG', `relay.upstream.tls.${field}: cannot read "${path}" (${(e as NodeJS.ErrnoException).code})`, { cause: e });
    }
  };
  return { ca: read('caFile', tls.caFile), cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile), rejectUnauthorized: tls.rejectUnauthorized ?? true };
}
