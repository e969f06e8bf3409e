/**
 * The mesh: an embedded aedes broker on TCP, optional TLS and WebSocket (for the dashboard), with
 * users, roles and the ACL of acl.ts, and the zigbee2mqtt-style topic tree of topics.ts.
 * An extension: the constructor only keeps its options; start() opens the listeners.
 *
 * Hooks used (aedes docs/Aedes.md "Handler: …"):
 *   preConnect        keeps the CONNECT's will so authenticate can check it against the ACL
 *   authenticate      scrypt check; CONNACK 4 for bad credentials, 5 for anonymous when off
 *   authorizePublish  ACL, then the interceptors (the relay commits there, before the PUBACK)
 *   authorizeSubscribe ACL; a refused filter gets SUBACK return code 0x80
 *   authorizeForward  ACL again on every delivery, retained messages included
 * What a client may cost the station is bounded (guard.ts, login-limiter.ts): connections in all
 * and per address, packet sizes before and after login, scrypt checks at once, and failed logins
 * back off; a client id belongs to the user that took it first, or to the user it names.
 * Users can change while it runs (setUsers, or `usersFile` as `canopy user` rewrites it): a user
 * removed, given another role or another password loses its sessions at once, and whoever
 * reconnects logs in as the user now is.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { Aedes, type AedesOptions, type AedesPublishPacket, type AuthenticateError, type Client, type PublishPacket } from 'aedes';
import { createWebSocketStream, WebSocketServer, type WebSocket } from 'ws';
import { SystemClock, type Clock } from '../../firmware-bridge/clock.ts';
import { CanopyError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../firmware-bridge/log.ts';
import { Acl, type Principal, type Role } from './acl.ts';
import { ConnectionCounter, DEFAULT_MESH_LIMITS, dropWritesAfterClose, guardSocket, PacketSizeGuard, type ConnectionPlace, type MeshLimits } from './guard.ts';
import { LoginLimiter } from './login-limiter.ts';
import { ScryptPool } from './scrypt-pool.ts';
import { isValidFilter, topicMatches } from './filters.ts';
import { LatestThrottle } from './throttle.ts';
import { fillMqttLengthCache } from './mqtt-length-cache.ts';
import {
  DEFAULT_BASE_TOPIC,
  decodeJson,
  encodeJson,
  parseTopic,
  topicTree,
  type Availability,
  type BridgeResponse,
  type DroneCommand,
  type DroneState,
  type TopicTree,
} from '../../common/topics.ts';
import { UserDirectory, type MeshUser } from './users.ts';
import { MESH_LISTENERS, type ListenerName } from './listeners.ts';
import { readUsersFile, watchUsers } from '../credentials.ts';
import { redisEngine, type RedisEngine, type RedisOptions } from './redis.ts';

export interface ListenOptions {
  /** Interface to bind; all interfaces when omitted. */
  host?: string;
  /** 0 picks a free port (see Mesh.addresses()). */
  port?: number;
}

export interface MeshOptions {
  baseTopic?: string;
  /** Home Assistant's discovery prefix, which the `homeassistant` role may use. Default homeassistant. */
  discoveryPrefix?: string;
  users?: readonly MeshUser[];
  /**
   * The users file (users.json) that `users` came from: reread when it changes, and its users
   * replace the file's users of before. Users of `users` that were not in the file at start (the
   * simulated phone) are the environment's own and stay, unless the file gets a user of that name.
   */
  usersFile?: string;
  /** Role of clients that connect without a username. Unset: such clients are refused (CONNACK 5). */
  anonymousRole?: Role;
  /** Plain MQTT. Default port 1883; false turns it off. */
  tcp?: ListenOptions | false;
  /** MQTT over TLS (default port 8883), and the WebSocket listener over TLS too when `ws.tls`. */
  tls?: ListenOptions & { certFile: string; keyFile: string; caFile?: string };
  /** MQTT over WebSocket for the dashboard. Default port 9001, any path; false turns it off. */
  ws?: (ListenOptions & { path?: string; tls?: boolean }) | false;
  /** Highest rate at which one drone's retained state is republished. Default 2 Hz. */
  stateRateHz?: number;
  /** Several mesh processes on one Redis share subscriptions, sessions and retained messages. */
  redis?: RedisOptions;
  /** What clients may cost: connections, packet sizes, logins at once (guard.ts). */
  limits?: Partial<MeshLimits>;
  /** Broker options passed to aedes as they are. */
  broker?: Pick<AedesOptions, 'id' | 'heartbeatInterval' | 'connectTimeout'>;
  clock?: Clock;
  log?: Logger;
}

export interface InterceptedPublish {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
}

/**
 * Runs after the ACL allowed a client's PUBLISH and before aedes acknowledges it: for QoS 1
 * aedes writes the PUBACK right after authorizePublish calls back (lib/handlers/publish.js,
 * `publishActions = [authorizePublish, enqueuePublish]`, case 1). A rejection refuses the publish:
 * the connection is closed without an acknowledgement, so the publisher sends it again later.
 * `who` is undefined only for a will published on behalf of a client of another broker.
 */
export type PublishInterceptor = (packet: InterceptedPublish, who: Principal | undefined) => void | Promise<void>;

export type RequestHandler = (data: Record<string, unknown>) => unknown;

export interface MeshAddresses {
  tcp?: number;
  tls?: number;
  ws?: number;
}

interface Running {
  broker: Aedes;
  redis?: RedisEngine;
  /** Open sockets of every listener: a socket that never sends CONNECT must not hold up stop(). */
  sockets: Set<Duplex>;
  tcp?: NetServer;
  tls?: NetServer;
  http?: HttpServer;
  wss?: WebSocketServer;
  throttle: LatestThrottle<DroneState>;
  unsubscribe: (() => Promise<void>)[];
  connections: ConnectionCounter;
  logins: LoginLimiter;
  /** The threads password checks run in, maxConcurrentLogins of them. */
  scrypt: ScryptPool;
  /** The users as they are now (setUsers swaps it). */
  users: UserDirectory;
  /** Stops watching usersFile. */
  unwatchUsers?: () => void;
}

/** What the mesh knows of a connection before aedes does: where it comes from, its guard and its place. */
interface Admitted {
  address: string;
  guard: PacketSizeGuard;
  place: ConnectionPlace;
}

/** What the mesh refused, by kind (for logs, tests and `canopy bench mesh`). */
export interface MeshRefusals {
  connections: number;
  packets: number;
  loginsBusy: number;
  loginsBackingOff: number;
  clientIds: number;
}

// CONNACK return codes, MQTT 3.1.1 §3.2.2.3.
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;
/** Client ids bound to their users, kept at most (the oldest is forgotten first). */
const MAX_CLIENT_IDS = 20_000;

export class Mesh {
  readonly topics: TopicTree;
  private running: Running | undefined;
  private readonly interceptors: { filter: string; fn: PublishInterceptor }[] = [];
  private readonly requestHandlers = new Map<string, RequestHandler>();
  private readonly setHandlers: ((id: string, command: DroneCommand) => void)[] = [];
  private readonly principals = new WeakMap<Client, Principal>();
  /** The entry each named client logged in with: when it is no longer the user's, the session ends. */
  private readonly loggedInAs = new WeakMap<Client, MeshUser>();
  private userList: readonly MeshUser[];
  private readonly wills = new WeakMap<Client, string>();
  private readonly admitted = new WeakMap<Duplex, Admitted>();
  /** Client id → the user that took it first ('' anonymous). */
  private readonly clientIds = new Map<string, string>();
  private usernames: readonly string[] = [];
  private readonly limits: MeshLimits;
  readonly refusals: MeshRefusals = { connections: 0, packets: 0, loginsBusy: 0, loginsBackingOff: 0, clientIds: 0 };
  private lastRefusalLogMs = -Infinity;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(private readonly opts: MeshOptions = {}) {
    this.topics = topicTree(opts.baseTopic ?? DEFAULT_BASE_TOPIC);
    this.clock = opts.clock ?? new SystemClock();
    this.log = (opts.log ?? silentLogger).child('mesh');
    this.limits = { ...DEFAULT_MESH_LIMITS, ...opts.limits };
    this.userList = opts.users ?? [];
    this.requestHandlers.set('health_check', () => ({ healthy: true }));
  }

  get started(): boolean {
    return this.running !== undefined;
  }

  get broker(): Aedes {
    if (!this.running) throw new CanopyError('CANOPY_ERR_STATE', 'the mesh is not started');
    return this.running.broker;
  }


  async start(): Promise<void> {
    if (this.running) return;
    fillMqttLengthCache();
    const scrypt = new ScryptPool(this.limits.maxConcurrentLogins);
    const fromFile = this.opts.usersFile === undefined ? undefined : usersFromFile(this.opts.usersFile, this.opts.users ?? []);
    if (fromFile) this.userList = fromFile.users;
    const users = new UserDirectory(this.userList, scrypt);
    this.usernames = users.usernames;
    const acl = new Acl(this.topics.base, this.opts.discoveryPrefix);
    const redis = this.opts.redis ? await redisEngine(this.opts.redis) : undefined;
    const broker = await Aedes.createBroker({
      ...this.opts.broker,
      ...(redis && { mq: redis.mq, persistence: redis.persistence }),
      preConnect: (client, packet, done) => {
        if (packet.will) this.wills.set(client, packet.will.topic);
        done(null, true);
      },
      authenticate: (client, username, password, done) => {
        this.authenticate(running, acl, client, username, password).then(
          (err) => done(err, err === null),
          (e: unknown) => done(refusal(NOT_AUTHORIZED, `authentication failed: ${String(e)}`), false),
        );
      },
      authorizePublish: (client, packet, done) => {
        const who = client ? this.principals.get(client) : undefined;
        // A will of a client of another broker (client null) was checked when that client connected.
        if (client && (!who || !acl.canPublish(who, packet.topic))) {
          done(new CanopyError('CANOPY_ERR_DENIED', `${who?.username ?? 'unknown'} (${who?.role}) may not publish to ${packet.topic}`));
          return;
        }
        this.runInterceptors(packet, who).then(() => done(null), (e: unknown) => done(e instanceof Error ? e : new Error(String(e))));
      },
      authorizeSubscribe: (client, sub, done) => {
        const who = this.principals.get(client);
        // [MQTT-3.9.3] a refused subscription is return code 0x80 in the SUBACK.
        done(null, who && acl.canSubscribe(who, sub.topic) ? sub : null);
      },
      authorizeForward: (client, packet) => {
        const who = this.principals.get(client);
        return who && acl.canReceive(who, packet.topic) ? packet : null;
      },
    });
    broker.on('clientError', (client, err) => this.log.debug('client error', { client: client.id, error: err.message }));
    // A client whose check ran against the users of before comes in after setUsers looked: it is looked at here.
    broker.on('client', (client) => {
      if (this.isStale(running, client)) setImmediate(() => client.close());
    });
    const running: Running = {
      broker,
      redis,
      throttle: new LatestThrottle(this.clock, 1000 / (this.opts.stateRateHz ?? 2), (id, state) => {
        void this.publish(this.topics.drone(id), encodeJson(state), { retain: true }).catch(() => {});
      }),
      unsubscribe: [],
      sockets: new Set(),
      connections: new ConnectionCounter(this.limits),
      logins: new LoginLimiter({ maxConcurrent: this.limits.maxConcurrentLogins, queue: this.limits.loginQueue, clock: this.clock }),
      scrypt,
      users,
    };
    this.running = running;
    try {
      if (fromFile) {
        running.unwatchUsers = watchUsers(this.opts.usersFile!, fromFile.text, {
          onUsers: (u) => this.setUsers(fromFile.merge(u)),
          onError: (message) => this.log.error(message),
        });
      }
      await this.listen(running);
      running.unsubscribe.push(
        await this.subscribe(`${this.topics.base}/bridge/request/#`, (topic, payload) => this.onRequestMessage(topic, payload)),
        await this.subscribe(`${this.topics.base}/drones/+/set`, (topic, payload) => this.onSetMessage(topic, payload)),
      );
      await this.publish(this.topics.bridgeState, 'online' satisfies Availability, { retain: true });
    } catch (e) {
      await this.stop();
      throw e;
    }
    this.log.info('mesh started', { ...this.addresses() });
  }

  async stop(): Promise<void> {
    const r = this.running;
    if (!r) return;
    r.unwatchUsers?.();
    r.throttle.clear();
    if (!r.broker.closed) {
      await this.publish(this.topics.bridgeState, 'offline' satisfies Availability, { retain: true }).catch(() => {});
    }
    for (const u of r.unsubscribe) await u();
    this.running = undefined;
    for (const c of r.wss?.clients ?? []) c.terminate();
    r.wss?.close();
    r.http?.closeAllConnections();
    await new Promise<void>((resolve) => r.broker.close(() => resolve()));
    await r.redis?.persistence.destroy?.();
    for (const s of r.sockets) s.destroy();
    await Promise.all([r.tcp, r.tls, r.http].map((s) => (s?.listening ? closeServer(s) : undefined)));
    await r.scrypt.close();
  }

  /**
   * Replaces the users (the list is checked first: an invalid one throws and changes nothing).
   * Sessions of a user removed, or with another role or password, are closed: a client that
   * reconnects logs in as the user is now, with its role's ACL.
   */
  setUsers(users: readonly MeshUser[]): void {
    const r = this.running;
    const next = new UserDirectory(users, r?.scrypt);
    const changes = userChanges(this.userList, users);
    this.userList = users;
    this.usernames = next.usernames;
    if (!r) return;
    r.users = next;
    if (!changes.length) return;
    // A removed user's client ids are free again ('' is the anonymous clients').
    for (const [id, owner] of this.clientIds) if (owner && !next.get(owner)) this.clientIds.delete(id);
    let closed = 0;
    for (const client of Object.values(clientsOf(r.broker))) {
      if (!this.isStale(r, client)) continue;
      client.close();
      closed++;
    }
    this.log.info(`users changed: ${changes.join('; ')}${closed ? `; closed ${closed} session${closed === 1 ? '' : 's'} of those users` : ''}`);
  }

  /** A named client whose user is gone, or has another role or password than it logged in with. */
  private isStale(r: Running, client: Client): boolean {
    const was = this.loggedInAs.get(client);
    if (!was) return false;
    const now = r.users.get(was.username);
    return now?.role !== was.role || now.passwordHash !== was.passwordHash;
  }

  /** Bound ports (useful with port 0). */
  addresses(): MeshAddresses {
    const r = this.running;
    const port = (s: NetServer | HttpServer | undefined) => (s?.listening ? (s.address() as AddressInfo).port : undefined);
    return { tcp: port(r?.tcp), tls: port(r?.tls), ws: port(r?.http) };
  }

  /** Hands an accepted WebSocket (e.g. from the dashboard's own HTTP server) to the broker. */
  acceptWebSocket(ws: WebSocket, req?: IncomingMessage): void {
    const r = this.running;
    if (!r) throw new CanopyError('CANOPY_ERR_STATE', 'the mesh is not started');
    this.admit(r, createWebSocketStream(ws), req?.socket.remoteAddress, req);
  }

  /** Open connections (admitted by the limits). */
  get connections(): number {
    return this.running?.connections.open ?? 0;
  }

  /**
   * Takes a new connection: within the connection limits it reaches aedes through its packet
   * guard; over them it is closed at once.
   */
  private admit(r: Running, socket: Duplex, remoteAddress: string | undefined, req?: IncomingMessage): void {
    const address = remoteAddress ?? 'unknown';
    const penalty = r.logins.addressPenalty(address);
    if (penalty) {
      this.refusals.loginsBackingOff++;
      this.refusedNow(`connection from ${address} refused: ${penalty}`);
      socket.destroy();
      return;
    }
    const place = r.connections.admit(address);
    if ('refused' in place) {
      this.refusals.connections++;
      this.refusedNow(`connection from ${address} refused: ${place.refused}`);
      socket.destroy();
      return;
    }
    r.sockets.add(socket);
    socket.once('close', () => {
      r.sockets.delete(socket);
      place.release();
    });
    const guard = new PacketSizeGuard(this.limits);
    guardSocket(socket, guard, (refusal) => {
      this.refusals.packets++;
      this.refusedNow(`connection from ${address} closed: ${refusal.detail}`);
    });
    dropWritesAfterClose(socket);
    this.admitted.set(socket, { address, guard, place });
    r.broker.handle(socket, req);
  }

  /** Logs a refusal, at most one every 10 s (a flood must not flood the log too). */
  private refusedNow(message: string): void {
    const now = this.clock.now();
    if (now - this.lastRefusalLogMs < 10_000) return;
    this.lastRefusalLogMs = now;
    this.log.warn(message, { ...this.refusals });
  }

  /** Publishes as the controller itself (no ACL). */
  publish(topic: string, payload: string | Uint8Array, opts: { retain?: boolean; qos?: 0 | 1 | 2 } = {}): Promise<void> {
    const broker = this.broker;
    return new Promise((resolve, reject) =>
      broker.publish(
        { cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload), qos: opts.qos ?? 0, retain: opts.retain ?? false, dup: false },
        (err) => (err ? reject(err) : resolve()),
      ),
    );
  }

  /** An in-process subscription (no ACL). Resolves once active; the result unsubscribes. */
  async subscribe(filter: string, handler: (topic: string, payload: Buffer) => void): Promise<() => Promise<void>> {
    const broker = this.broker;
    // The handler runs now, its completion on the next turn of the event loop: mqemitter starts
    // the next queued message from inside this callback, so a synchronous cb() processes a whole
    // backlog (thousands of clients leaving at once release thousands) on one ever-deeper stack.
    const deliver = (packet: AedesPublishPacket, cb: () => void) => {
      try {
        handler(packet.topic, packet.payload as Buffer);
      } catch (e) {
        this.log.error('subscription handler threw', { filter, error: String(e) });
      }
      setImmediate(cb);
    };
    await new Promise<void>((resolve) => broker.subscribe(filter, deliver, resolve));
    return () => new Promise<void>((resolve) => (broker.closed ? resolve() : broker.unsubscribe(filter, deliver, resolve)));
  }

  /** See PublishInterceptor. Returns a function that removes the interceptor. */
  intercept(filter: string, fn: PublishInterceptor): () => void {
    if (!isValidFilter(filter)) throw new CanopyError('CANOPY_ERR_BAD_ARGUMENT', `"${filter}" is not a valid MQTT topic filter`);
    const entry = { filter, fn };
    this.interceptors.push(entry);
    return () => {
      const i = this.interceptors.indexOf(entry);
      if (i >= 0) this.interceptors.splice(i, 1);
    };
  }

  /** Answers `<base>/bridge/request/<verb>` on `<base>/bridge/response/<verb>`. */
  onRequest(verb: string, handler: RequestHandler): () => void {
    this.requestHandlers.set(verb, handler);
    // Removes this registration only: a later one for the same verb stays.
    return () => {
      if (this.requestHandlers.get(verb) === handler) this.requestHandlers.delete(verb);
    };
  }

  /** Receives admins' `<base>/drones/<id>/set` commands that have a known shape. */
  onDroneSet(handler: (id: string, command: DroneCommand) => void): () => void {
    this.setHandlers.push(handler);
    return () => {
      const i = this.setHandlers.indexOf(handler);
      if (i >= 0) this.setHandlers.splice(i, 1);
    };
  }

  /** Retained `<base>/drones/<id>`, at most `stateRateHz` per drone, the latest state winning. */
  publishDroneState(state: DroneState): void {
    this.running?.throttle.offer(state.id, state);
  }

  publishAvailability(id: string, availability: Availability): Promise<void> {
    return this.publish(this.topics.availability(id), availability, { retain: true });
  }

  private async authenticate(r: Running, acl: Acl, client: Client, username: string | undefined, password: Buffer | undefined): Promise<AuthenticateError | null> {
    const admitted = this.admitted.get(client.conn as unknown as Duplex);
    const address = admitted?.address ?? 'unknown';
    let who: Principal | undefined;
    let entry: MeshUser | undefined;
    if (username === undefined || username === '') {
      if (!this.opts.anonymousRole) return refusal(NOT_AUTHORIZED, 'anonymous access is off; connect with a username and password');
      who = { username: '', role: this.opts.anonymousRole };
    } else {
      const turn = await r.logins.admit(address, username);
      if (!turn.ok) {
        if (turn.reason === 'busy') this.refusals.loginsBusy++;
        else this.refusals.loginsBackingOff++;
        this.refusedNow(`login of "${username}" from ${address} refused: ${turn.detail}`);
        return refusal(turn.reason === 'busy' ? SERVER_UNAVAILABLE : NOT_AUTHORIZED, turn.detail);
      }
      const users = r.users;
      try {
        who = await users.authenticate(username, password ?? Buffer.alloc(0));
        entry = users.get(username);
      } finally {
        turn.done(who !== undefined);
      }
      if (!who) return refusal(BAD_USERNAME_OR_PASSWORD, `bad username or password for "${username}"`);
    }
    const willTopic = this.wills.get(client);
    if (willTopic !== undefined && !acl.canPublish(who, willTopic)) {
      return refusal(NOT_AUTHORIZED, `${who.username || 'anonymous'} (${who.role}) may not publish its will to ${willTopic}`);
    }
    const owner = this.clientIdOwner(client.id);
    if (owner !== undefined && owner !== who.username) {
      this.refusals.clientIds++;
      this.log.warn(`client id "${client.id}" refused to ${who.username || 'anonymous'} from ${address}: it belongs to ${owner || 'an anonymous client'}`);
      return refusal(IDENTIFIER_REJECTED, `client id "${client.id}" belongs to another user`);
    }
    if (!this.clientIds.has(client.id)) {
      this.clientIds.set(client.id, who.username);
      if (this.clientIds.size > MAX_CLIENT_IDS) this.clientIds.delete(this.clientIds.keys().next().value!);
    }
    admitted?.guard.loggedInNow();
    admitted?.place.loggedIn();
    this.principals.set(client, who);
    if (entry) this.loggedInAs.set(client, entry);
    return null;
  }

  /**
   * The user a client id belongs to: the user it names (`<anything>-<username>` or the username
   * itself, as the phone agents' `canopy-store-<name>`), else the user that took it first.
   */
  private clientIdOwner(id: string): string | undefined {
    let named: string | undefined;
    for (const u of this.usernames) if ((id === u || id.endsWith(`-${u}`)) && (named === undefined || u.length > named.length)) named = u;
    return named ?? this.clientIds.get(id);
  }

  private async runInterceptors(packet: PublishPacket, who: Principal | undefined): Promise<void> {
    for (const { filter, fn } of this.interceptors) {
      if (!topicMatches(filter, packet.topic)) continue;
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      await fn({ topic: packet.topic, payload, qos: packet.qos, retain: packet.retain }, who);
    }
  }

  private onRequestMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(this.topics.base, topic);
    if (parsed?.kind !== 'request') return;
    const respond = (response: BridgeResponse) => void this.publish(this.topics.response(parsed.verb), encodeJson(response)).catch(() => {});
    let data: Record<string, unknown>;
    try {
      data = payload.length === 0 ? {} : decodeJson<Record<string, unknown>>(payload);
      if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not a JSON object');
    } catch (e) {
      respond({ status: 'error', data: {}, error: `request payload must be a JSON object: ${(e as Error).message}` });
      return;
    }
    const transaction = typeof data.transaction === 'string' ? data.transaction : undefined;
    const handler = this.requestHandlers.get(parsed.verb);
    if (!handler) {
      respond({ status: 'error', data: {}, error: `unknown request "${parsed.verb}"; known: ${[...this.requestHandlers.keys()].join(', ')}`, transaction });
      return;
    }
    Promise.resolve()
      .then(() => handler(data))
      .then(
        (result) => respond({ status: 'ok', data: result ?? {}, transaction }),
        (e: unknown) => respond({ status: 'error', data: {}, error: e instanceof Error ? e.message : String(e), transaction }),
      );
  }

  private onSetMessage(topic: string, payload: Buffer): void {
    const parsed = parseTopic(this.topics.base, topic);
    if (parsed?.kind !== 'droneSet') return;
    let command: unknown;
    try {
      command = decodeJson(payload);
    } catch {
      this.log.warn('ignored /set that is not JSON', { topic });
      return;
    }
    if (!isDroneCommand(command)) {
      this.log.warn('ignored /set with an unknown command', { topic });
      return;
    }
    for (const h of this.setHandlers) h(parsed.id, command);
  }

  private async listen(r: Running): Promise<void> {
    const { tcp = {}, tls, ws = {} } = this.opts;
    const handle = (socket: Duplex, req?: IncomingMessage) => this.admit(r, socket, req?.socket.remoteAddress ?? (socket as Socket).remoteAddress, req);
    // No Nagle: request/response traffic (the store protocol, bridge requests) otherwise waits
    // ≈ 40 ms for the client's delayed ACK on every small write (`canopy bench store`: 8× per request).
    if (tcp) {
      r.tcp = createNetServer({ noDelay: true }, handle);
      await listenOn(r.tcp, MESH_LISTENERS.tcp, tcp.port ?? 1883, tcp.host);
    }
    const tlsOptions = tls ? loadTls(tls) : undefined;
    if (tls && tlsOptions) {
      r.tls = createTlsServer({ ...tlsOptions, noDelay: true }, handle);
      await listenOn(r.tls, MESH_LISTENERS.tls, tls.port ?? 8883, tls.host);
    }
    if (ws) {
      if (ws.tls && !tlsOptions) throw new CanopyError('CANOPY_ERR_CONFIG', 'mesh.ws.tls needs mesh.tls (certFile, keyFile)');
      r.http = ws.tls && tlsOptions ? createHttpsServer(tlsOptions) : createHttpServer();
      // Listen first: a WebSocketServer on an HTTP server re-emits that server's errors, and an
      // EADDRINUSE with nobody listening for it on the WebSocketServer would be thrown.
      await listenOn(r.http, MESH_LISTENERS.ws, ws.port ?? 9001, ws.host);
      r.wss = new WebSocketServer({ server: r.http, path: ws.path });
      r.wss.on('error', (e) => this.log.warn('mesh WebSocket server error', { error: e.message }));
      r.wss.on('connection', (socket, req) => handle(createWebSocketStream(socket), req));
    }
  }
}

/**
 * The users at start from `file` and the environment's own (`given` not in the file), and how a
 * later content of the file merges with those.
 */
function usersFromFile(file: string, given: readonly MeshUser[]): { users: MeshUser[]; text: string; merge: (fromFile: MeshUser[]) => MeshUser[] } {
  const { users, text } = readUsersFile(file);
  const own = given.filter((g) => !users.some((u) => u.username === g.username));
  const merge = (fromFile: MeshUser[]) => [...fromFile, ...own.filter((o) => !fromFile.some((u) => u.username === o.username))];
  return { users: merge(users), text, merge };
}

/** What changed between two user lists, one phrase per user, for the log. */
function userChanges(before: readonly MeshUser[], after: readonly MeshUser[]): string[] {
  const changes: string[] = [];
  for (const u of after) {
    const was = before.find((b) => b.username === u.username);
    if (!was) changes.push(`added "${u.username}" (${u.role})`);
    else if (was.role !== u.role) changes.push(`"${u.username}" ${was.role} → ${u.role}`);
    else if (was.passwordHash !== u.passwordHash) changes.push(`new password for "${u.username}"`);
  }
  for (const b of before) if (!after.some((u) => u.username === b.username)) changes.push(`removed "${b.username}"`);
  return changes;
}

/** The broker's connected clients by id (aedes keeps them in `clients`; its types leave it out). */
function clientsOf(broker: Aedes): Record<string, Client> {
  return (broker as unknown as { clients: Record<string, Client> }).clients;
}

/** A refused CONNECT: the CONNACK's return code, and a coded error for the log. */
function refusal(returnCode: number, message: string): AuthenticateError {
  const error = new CanopyError(returnCode === SERVER_UNAVAILABLE ? 'CANOPY_ERR_UNAVAILABLE' : 'CANOPY_ERR_DENIED', message);
  return Object.assign(error, { returnCode }) as AuthenticateError;
}

function loadTls(tls: NonNullable<MeshOptions['tls']>): TlsOptions {
  const read = (field: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new CanopyError('CANOPY_ERR_CONFIG', `mesh.tls.${field}: cannot read "${path}" (${(e as NodeJS.ErrnoException).code})`, { cause: e });
    }
  };
  return { cert: read('certFile', tls.certFile), key: read('keyFile', tls.keyFile), ca: tls.caFile ? read('caFile', tls.caFile) : undefined };
}

function listenOn(server: NetServer | HttpServer, l: ListenerName, port: number, host: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      const where = `mesh ${l.what} port ${port}${host ? ` on ${host}` : ''}`;
      if (e.code === 'EADDRINUSE') {
        reject(new CanopyError('CANOPY_ERR_PORT_IN_USE', `${where} is in use; choose another with ${l.field}${l.flag ? ` or ${l.flag}` : ''} (is another Canopy or a mosquitto running? canopy doctor shows who holds it)`));
      } else if (e.code === 'EACCES') {
        reject(new CanopyError('CANOPY_ERR_PORT_IN_USE', `${where}: not allowed to listen there (ports below 1024 need root); choose another with ${l.field}${l.flag ? ` or ${l.flag}` : ''}`));
      } else reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function isDroneCommand(v: unknown): v is DroneCommand {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  const num = (k: string) => typeof c[k] === 'number' && Number.isFinite(c[k]);
  switch (c.command) {
    case 'arm':
    case 'disarm':
    case 'land':
    case 'rtl':
      return true;
    case 'takeoff':
      return num('altM');
    case 'goto':
      return num('lat') && num('lon') && num('altM');
    default:
      return false;
  }
}
