/**
 * Bench suite `mesh`: the hardened MQTT mesh (guard.ts, login-limiter.ts) and the MAVLink GCS
 * links, in one run, against clients that misbehave.
 *   clients_held                     subscribed MQTT clients ('canopy/#', QoS 0, anonymous viewers)
 *                                    connected at once (goal 5000; --quick 1000), connected in
 *                                    batches of 200
 *   clients_connect_s                seconds to connect and subscribe them all
 *   mass_disconnect_survived         every one of those sockets destroyed at once while drone state
 *                                    is published fast (20 retained messages every 5 ms): the open
 *                                    connections reach 0 and a fresh subscriber to
 *                                    'canopy/drones/+' still receives a new publish (goal true)
 *   mass_disconnect_s                from the destroy until mesh.connections is 0
 *   mass_disconnect_max_loop_lag_ms  the longest the event loop stalled meanwhile
 *   rss_growth_failed_logins_1000_mb peak RSS of the station's process (mesh-station.ts, sampled
 *                                    every 20 ms) minus its RSS before, while 1000 wrong-password
 *                                    logins from one address (127.0.0.2) arrive at once; users
 *                                    hashed with the default scrypt (N = 2^14, r = 8, p = 5), the
 *                                    default mesh limits, one valid login before (goal ≤ 50)
 *   valid_login_during_flood_s       the admin's login from 127.0.0.1 started right after the
 *                                    flood's 1000, until its CONNACK (goal ≤ 2)
 *   valid_login_during_flood_ok      that login was accepted
 *   failed_logins_refused_unchecked  flood logins refused without a password check (busy or
 *                                    backing off); the rest of the 1000 were refused a connection
 *                                    (failed_logins_refused_connections, maxConnectionsPerAddress)
 *                                    or checked (failed_logins_checked)
 *   rss_growth_oversized_connect_mb  the station's peak RSS growth while 8 raw sockets each send a CONNECT
 *                                    declaring 256 MB and then up to 32 MB of zeros as fast as the
 *                                    socket takes them (goal ≤ 10)
 *   oversized_connects_closed        of the 8, closed by the broker's packet guard
 *                                    (mesh.refusals.packets; goal 8)
 *   foreign_udp_commands_forwarded   COMMAND_LONG ARM frames sent to the station's udpout GCS
 *                                    link's local port from a socket that is not the GCS, that
 *                                    reached the drone (goal 0 of 10)
 *   own_udp_commands_forwarded       the control: the same from the GCS's own socket (goal 10 of 10)
 *   read_only_forwarded              one message of every known id sent on a read-only GCS link
 *                                    that reached the drone though not in READ_ONLY_ALLOWED (a
 *                                    COMMAND_LONG / COMMAND_INT counts unless its command is one of
 *                                    REQUEST_COMMANDS) (goal 0)
 *   read_only_allowed_forwarded      the control: allowed ids that reached the drone (the 12 of
 *                                    READ_ONLY_ALLOWED but COMMAND_LONG / COMMAND_INT, whose
 *                                    default command 0 is not a request)
 *   read_only_ids_sent               message ids that encoded and were sent
 *   read_only_dropped                the router's droppedReadOnly
 */
import { fork } from 'node:child_process';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createConnection, type Socket } from 'node:net';
import { common, type MavLinkData, type MavLinkDataConstructor } from 'mavlink-mappings';
import type { MqttClient } from 'mqtt';
import type { BenchSuite, Figures } from '../../controller/commands/bench.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { hashPassword, type MeshUser } from '../../controller/mesh/users.ts';
import { SystemClock } from '../../firmware-bridge/clock.ts';
import { createLink, createMemoryPair, type Link } from '../../firmware-bridge/links/index.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { knownMessageIds, messageInfo } from '../../firmware-bridge/protocol/dialect.ts';
import { decodeFrame, encodeFrame, type Frame } from '../../firmware-bridge/protocol/frame.ts';
import { READ_ONLY_ALLOWED, REQUEST_COMMANDS } from '../../firmware-bridge/router.ts';
import { connect, end, nextMessage, subscribeGranted, tryConnect } from '../rigs/mqtt.ts';
import { loaderFlags, siblingModule } from '../rigs/processes.ts';
import type { StationOptions, StationReply, StationRequest } from './mesh-station.ts';

const MB = 1024 * 1024;
const STATION = siblingModule(import.meta.url, 'mesh-station');
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor(cond: () => boolean, timeoutMs: number, stepMs = 10): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) return false;
    await sleep(stepMs);
  }
  return true;
}

/** How many subscribed clients the mesh holds at once, then all of them leaving at once. */
async function crowd(progress: (msg: string) => void, n: number, figures: Figures): Promise<void> {
  const station = await startStation({ anonymousRole: 'viewer', limits: { maxConnections: n + 100, maxConnectionsPerAddress: n + 100, maxPendingPerAddress: n + 100 } });
  const connections = async () => (await station.ask('state')).connections!;
  const url = `mqtt://127.0.0.1:${station.port}`;
  const clients: MqttClient[] = [];
  let watcher: MqttClient | undefined;
  try {
    progress(`crowd: connecting ${n} anonymous clients subscribed to canopy/# (QoS 0), 200 at a time`);
    const t0 = performance.now();
    let failed = 0;
    for (let i = 0; i < n; i += 200) {
      const batch = await Promise.allSettled(
        Array.from({ length: Math.min(200, n - i) }, async () => {
          const c = await connect(url);
          clients.push(c);
          if ((await subscribeGranted(c, 'canopy/#', 0)) !== 0) throw new Error('subscription refused');
          return c;
        }),
      );
      failed += batch.filter((r) => r.status === 'rejected').length;
      if ((i / 200) % 5 === 4) progress(`crowd: ${clients.length} connected (${failed} failed), mesh has ${await connections()}`);
    }
    figures.clients_connect_s = (performance.now() - t0) / 1000;
    const held = clients.filter((c) => c.connected).length;
    const counted = await connections();
    figures.clients_held = Math.min(held, counted);
    progress(`crowd: ${held} clients connected (mesh counts ${counted}), ${failed} failed`);

    progress('mass disconnect: drone state at 4000 msg/s, then every client socket destroyed at once');
    await station.ask('flow-start');
    await sleep(50);
    const t1 = performance.now();
    for (const c of clients) c.stream.destroy();
    const zero = await station.closed(120_000);
    figures.mass_disconnect_s = (performance.now() - t1) / 1000;
    const flow = await station.ask('flow-stop');
    figures.mass_disconnect_max_loop_lag_ms = flow.lagMs!;
    progress(
      `mass disconnect: ${zero ? 'connections at 0' : `still ${await connections()} connections`} after ${(figures.mass_disconnect_s as number).toFixed(2)} s ` +
        `(${flow.published} states published meanwhile; the station's event loop stalled up to ${Math.round(flow.lagMs!)} ms)`,
    );
    let delivered = false;
    if (zero) {
      try {
        watcher = await connect(url);
        await subscribeGranted(watcher, 'canopy/drones/+', 0);
        const marker = `after-${Date.now()}`;
        const next = nextMessage(watcher, (topic, payload) => topic === 'canopy/drones/d1' && payload.toString().includes(marker), 5000);
        await station.ask('publish', marker);
        await next;
        delivered = true;
      } catch (e) {
        progress(`mass disconnect: fresh subscriber failed: ${String(e)}`);
      }
    }
    figures.mass_disconnect_survived = zero && delivered;
  } finally {
    if (watcher) await end(watcher);
    for (const c of clients) c.end(true);
    await station.stop();
  }
}

/** The mesh in its own process (mesh-station.ts), so its RSS and its event loop are the broker's alone. */
async function startStation(options: StationOptions): Promise<{
  port: number;
  ask: (cmd: StationRequest['cmd'], marker?: string) => Promise<StationReply>;
  closed: (timeoutMs: number) => Promise<boolean>;
  stop: () => Promise<void>;
}> {
  const child = fork(STATION, [JSON.stringify(options)], { execArgv: [...loaderFlags(import.meta.url), '--expose-gc', ...(process.env.CANOPY_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.CANOPY_BENCH_PROFILE}`] : [])], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const pending = new Map<number, (r: StationReply) => void>();
  let next = 0;
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the bench station exited (${code}) before it was ready`)));
    child.on('message', (m: StationReply & { ready?: boolean; port?: number }) => {
      if (m.ready) resolve(m.port!);
      else pending.get(m.id)?.(m);
    });
  });
  const ask = (cmd: StationRequest['cmd'], marker?: string) =>
    new Promise<StationReply>((resolve) => {
      const id = next++;
      pending.set(id, (r) => {
        pending.delete(id);
        resolve(r);
      });
      child.send({ id, cmd, marker } satisfies StationRequest);
    });
  const closed = async (timeoutMs: number) => {
    const until = Date.now() + timeoutMs;
    while ((await ask('state')).connections! > 0) {
      if (Date.now() > until) return false;
      await sleep(10);
    }
    return true;
  };
  const stop = async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await ask('stop');
    await exited;
  };
  return { port, ask, closed, stop };
}

/** The hardened mesh with real users: a wrong-password flood, and CONNECTs declaring 256 MB. */
async function floods(progress: (msg: string) => void, figures: Figures): Promise<void> {
  progress('logins: hashing the users with the default scrypt parameters (N = 2^14, r = 8, p = 5)');
  const adminPassword = 'bench-admin-password';
  const users: MeshUser[] = [
    { username: 'admin', role: 'admin', passwordHash: await hashPassword(adminPassword) },
    { username: 'viewer', role: 'viewer', passwordHash: await hashPassword('bench-viewer-password') },
  ];
  const station = await startStation({ users });
  const port = station.port;
  const url = `mqtt://127.0.0.1:${port}`;
  const sockets: Socket[] = [];
  try {
    const n = 1000;
    progress(`logins: ${n} wrong-password logins at once from 127.0.0.2, and the admin's from 127.0.0.1`);
    // A station in service has had a login (its scrypt thread is up, its arena taken) before a flood comes.
    const first = await tryConnect(url, { username: 'admin', password: adminPassword });
    if (first.ok) await end(first.client);
    await station.ask('rss-start');
    const flood = Array.from({ length: n }, () =>
      tryConnect(url, { username: 'viewer', password: 'wrong' }, '127.0.0.2').then(
        (o) => {
          if (o.ok) {
            o.client.end(true);
            return 'accepted' as const;
          }
          return 'refused' as const;
        },
        () => 'closed' as const,
      ),
    );
    const t0 = performance.now();
    const valid = await tryConnect(url, { username: 'admin', password: adminPassword, connectTimeout: 60_000 }).catch((e: unknown) => e as Error);
    figures.valid_login_during_flood_s = (performance.now() - t0) / 1000;
    figures.valid_login_during_flood_ok = !(valid instanceof Error) && valid.ok;
    if (!(valid instanceof Error) && valid.ok) await end(valid.client);
    else progress(`logins: the admin's login failed: ${valid instanceof Error ? valid.message : `CONNACK ${valid.returnCode}`}`);
    const outcomes = await Promise.all(flood);
    figures.rss_growth_failed_logins_1000_mb = (await station.ask('rss-stop')).mb!;
    const { refusals } = await station.ask('state');
    figures.failed_logins_refused_unchecked = refusals!.loginsBusy + refusals!.loginsBackingOff;
    figures.failed_logins_refused_connections = refusals!.connections;
    figures.failed_logins_checked = n - (figures.failed_logins_refused_unchecked as number) - refusals!.connections;
    const accepted = outcomes.filter((o) => o === 'accepted').length;
    if (accepted > 0) figures.failed_logins_accepted = accepted;
    progress(
      `logins: admin in after ${(figures.valid_login_during_flood_s as number).toFixed(2)} s; flood: ${outcomes.filter((o) => o === 'refused').length} CONNACK refusals, ` +
        `${outcomes.filter((o) => o === 'closed').length} closed before CONNACK; refusals ${JSON.stringify(refusals)}`,
    );

    await station.closed(10_000);
    const packetsBefore = (await station.ask('state')).refusals!.packets;
    const count = 8;
    const each = 32 * MB;
    progress(`oversized: ${count} raw sockets each declaring a 256 MB CONNECT, then up to ${each / MB} MB of zeros`);
    await station.ask('rss-start');
    const zeros = Buffer.alloc(64 * 1024);
    const sent = await Promise.all(
      Array.from(
        { length: count },
        () =>
          new Promise<number>((resolve) => {
            const s = createConnection({ host: '127.0.0.1', port });
            sockets.push(s);
            let written = 0;
            let over = false;
            const finish = () => {
              if (over) return;
              over = true;
              resolve(written);
            };
            s.on('error', finish);
            s.on('close', finish);
            const pump = () => {
              while (!over && !s.destroyed && written < each) {
                written += zeros.length;
                if (!s.write(zeros)) {
                  s.once('drain', pump);
                  return;
                }
              }
              if (written >= each) s.end();
            };
            s.once('connect', () => {
              s.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
              pump();
            });
          }),
      ),
    );
    await station.closed(5000);
    figures.rss_growth_oversized_connect_mb = (await station.ask('rss-stop')).mb!;
    figures.oversized_connects_closed = (await station.ask('state')).refusals!.packets - packetsBefore;
    progress(`oversized: ${figures.oversized_connects_closed} of ${count} closed by the guard; written before the close: ${sent.map((b) => `${Math.round(b / 1024)} KiB`).join(', ')}`);
  } finally {
    for (const s of sockets) s.destroy();
    await station.stop();
  }
}

/** The drone's end of a radio: a MAVLink node (sysid 1) that counts what arrives. */
async function drone(clock: SystemClock): Promise<{ radio: Link; node: MavlinkNode; far: Link; frames: Frame[]; stop: () => Promise<void> }> {
  const [radio, far] = createMemoryPair('radio', 'drone');
  await far.start();
  const node = new MavlinkNode({ clock, sysid: 1, compid: 1, heartbeatHz: 1 });
  node.addLink(far);
  const frames: Frame[] = [];
  node.on('frame', (frame) => frames.push(frame));
  node.start();
  return {
    radio,
    node,
    far,
    frames,
    stop: async () => {
      node.stop();
      await far.stop();
    },
  };
}

function bindUdp(): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      s.off('error', reject);
      resolve(s);
    });
  });
}

function closeUdp(s: UdpSocket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

function sendUdp(s: UdpSocket, data: Buffer, port: number): Promise<void> {
  return new Promise((resolve, reject) => s.send(data, port, '127.0.0.1', (err) => (err ? reject(err) : resolve())));
}

function armCommand(): common.CommandLong {
  const msg = new common.CommandLong();
  msg.targetSystem = 1;
  msg.targetComponent = 1;
  msg.command = common.MavCmd.COMPONENT_ARM_DISARM;
  msg._param1 = 1;
  return msg;
}

/** ARM commands sent to a udpout GCS link from a stranger's socket, and from the GCS's own. */
async function foreignUdp(progress: (msg: string) => void, figures: Figures): Promise<void> {
  const clock = new SystemClock();
  const qgc = await bindUdp();
  const foreign = await bindUdp();
  const d = await drone(clock);
  const link = createLink(`udpout://127.0.0.1:${qgc.address().port}`, { clock });
  const gs = new GroundStation({ clock, droneLinks: [{ link: d.radio, name: 'radio' }], gcsLinks: [{ link, name: 'qgc' }] });
  let started = false;
  try {
    let stationPort: number | undefined;
    qgc.on('message', (_msg: Buffer, from: RemoteInfo) => {
      stationPort ??= from.port;
    });
    progress('udp: a station with a udpout GCS link to a "QGC" socket; waiting for its heartbeat and the drone\'s');
    await gs.start();
    started = true;
    const heard = await waitFor(() => stationPort !== undefined && gs.router.channelOf(1) !== undefined, 5000);
    if (!heard) throw new Error(`udp: no heartbeat (station port ${stationPort}, drone ${gs.router.channelOf(1) ? 'heard' : 'not heard'})`);
    const arms = (sysid: number) =>
      d.frames.filter((f) => {
        if (f.sysid !== sysid) return false;
        const m = decodeFrame(f);
        return m instanceof common.CommandLong && m.command === common.MavCmd.COMPONENT_ARM_DISARM;
      }).length;
    // The stranger speaks as sysid 200; the GCS's own socket as sysid 201, so the counts cannot mix.
    for (let i = 0; i < 10; i++) await sendUdp(foreign, encodeFrame(armCommand(), { sysid: 200, compid: 190, seq: i }), stationPort!);
    for (let i = 0; i < 10; i++) await sendUdp(qgc, encodeFrame(armCommand(), { sysid: 201, compid: 190, seq: i }), stationPort!);
    await waitFor(() => arms(201) >= 10, 2000);
    await sleep(200);
    figures.foreign_udp_commands_forwarded = arms(200);
    figures.own_udp_commands_forwarded = arms(201);
    progress(`udp: to port ${stationPort}: ${figures.foreign_udp_commands_forwarded} of 10 foreign ARMs reached the drone, ${figures.own_udp_commands_forwarded} of 10 of the GCS's own`);
  } finally {
    if (started) await gs.stop();
    else await link.stop().catch(() => {});
    await d.stop();
    await closeUdp(qgc);
    await closeUdp(foreign);
  }
}

/** One message of every known id on a read-only GCS link: what reaches the drone. */
async function readOnly(progress: (msg: string) => void, figures: Figures): Promise<void> {
  const clock = new SystemClock();
  const d = await drone(clock);
  const [gcsNear, gcsFar] = createMemoryPair('watcher', 'watcher-tool');
  const gs = new GroundStation({ clock, droneLinks: [{ link: d.radio, name: 'radio' }], gcsLinks: [{ link: gcsNear, name: 'watcher', readOnly: true }] });
  const tool = new MavlinkNode({ clock, sysid: 254, compid: 190, heartbeatHz: 1 });
  let started = false;
  try {
    await gcsFar.start();
    const channel = tool.addLink(gcsFar);
    await gs.start();
    started = true;
    tool.start();
    progress('read-only: waiting for the drone\'s heartbeat, then one message of every known id from the watcher (sysid 254)');
    if (!(await waitFor(() => gs.router.channelOf(1) !== undefined, 5000))) throw new Error('read-only: the drone was not heard');
    let sent = 0;
    const unencodable: string[] = [];
    const ids = knownMessageIds();
    for (const [i, id] of ids.entries()) {
      const info = messageInfo(id)!;
      try {
        const msg = new info.clazz() as unknown as Record<string, unknown>;
        const fields = (info.clazz as MavLinkDataConstructor<MavLinkData>).FIELDS;
        if (info.targetSystemOffset >= 0) msg[fields.find((f) => f.source === 'target_system')!.name] = 1;
        if (info.targetComponentOffset >= 0) msg[fields.find((f) => f.source === 'target_component')!.name] = 1;
        channel.send(msg as unknown as MavLinkData, tool);
        sent++;
      } catch {
        unencodable.push(info.name);
      }
      if (i % 50 === 49) await new Promise((resolve) => setImmediate(resolve));
    }
    await sleep(500);
    const through = new Map<number, number>();
    const allowedThrough = new Set<number>();
    for (const f of d.frames) {
      if (f.sysid !== 254) continue;
      let allowed = READ_ONLY_ALLOWED.has(f.msgid);
      if (allowed && (f.msgid === common.CommandLong.MSG_ID || f.msgid === common.CommandInt.MSG_ID)) {
        const m = decodeFrame(f) as common.CommandLong | common.CommandInt | undefined;
        allowed = m !== undefined && REQUEST_COMMANDS.has(m.command);
      }
      if (!allowed) through.set(f.msgid, (through.get(f.msgid) ?? 0) + 1);
      else allowedThrough.add(f.msgid);
    }
    figures.read_only_forwarded = [...through.keys()].length;
    figures.read_only_allowed_forwarded = allowedThrough.size;
    figures.read_only_ids_sent = sent;
    figures.read_only_dropped = gs.router.stats.droppedReadOnly;
    progress(
      `read-only: ${sent} of ${ids.length} ids sent (${unencodable.length} did not encode: ${unencodable.join(', ')}), ${figures.read_only_dropped} dropped, ${allowedThrough.size} allowed ids reached the drone, ` +
        `${figures.read_only_forwarded} not allowed reached the drone${through.size ? `: ${[...through.keys()].map((id) => messageInfo(id)?.name ?? id).join(', ')}` : ''}`,
    );
  } finally {
    tool.stop();
    if (started) await gs.stop();
    await gcsFar.stop();
    await d.stop();
  }
}

export const suite: BenchSuite = {
  description: 'mesh: subscribed clients held and leaving at once, login and oversized-CONNECT floods, foreign UDP and read-only GCS commands',
  async run(progress, { quick }) {
    const figures: Figures = {};
    await crowd(progress, quick ? 1000 : 5000, figures);
    await floods(progress, figures);
    await foreignUdp(progress, figures);
    await readOnly(progress, figures);
    return figures;
  },
};
