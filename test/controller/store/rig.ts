/**
 * A store test site: the mesh (one user per role, neighbours alice…frank), the owner's phone agent,
 * one agent per neighbour's phone, optionally the uplink relay to a simulated upstream broker with
 * the upstream store agent beside it, and the owner's store client. Everything on loopback, stopped
 * by the test.
 */
import type { TestContext } from 'node:test';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Aedes } from 'aedes';
import type { Mesh } from '../../../controller/mesh/mesh.ts';
import { Relay } from '../../../controller/relay/relay.ts';
import { ChunkStore, type ChunkStoreOptions } from '../../../controller/store/chunk-store.ts';
import { PhoneAgent, type PhoneAgentOptions } from '../../../controller/store/phone-agent.ts';
import { StoreClient } from '../../../controller/store/protocol.ts';
import { Upstream } from '../../../sim/cloud.ts';
import { password, startMesh, testUsers } from '../../../harness/rigs/mesh.ts';

export const OWNER = 'phone';
export const NEIGHBOURS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
export const PREFIX = 'up/site';
/** Cheap scrypt for tests (the CLI's default is 2^17). */
export const TEST_LOG_N = 4;

export interface Rig {
  mesh: Mesh;
  url: string;
  dir: string;
  phone: PhoneAgent;
  neighbours: Map<string, PhoneAgent>;
  client: StoreClient;
  upstream?: Upstream;
  upstreamAgent?: PhoneAgent;
  upstreamClient?: StoreClient;
  relay?: Relay;
  /** Every payload a neighbour's agent or the upstream broker received. */
  seenByOthers: Buffer[];
  /** Starts a neighbour's agent (again, after stopNeighbour). */
  startNeighbour(name: string): Promise<PhoneAgent>;
  stopNeighbour(name: string): Promise<void>;
}

export interface RigOptions {
  neighbours?: number;
  uplink?: boolean;
  phoneStore?: Partial<ChunkStoreOptions>;
  neighbourStore?: Partial<ChunkStoreOptions>;
  /** More options for the owner's phone agent (its reciprocity ledger). */
  phoneAgent?: Partial<PhoneAgentOptions>;
}

export async function storeRig(t: TestContext, opts: RigOptions = {}): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-store-rig-'));
  // The fixtures' users (alice is the neighbour) and the other neighbours.
  const { mesh: m2, url: url2 } = await startMesh({
    users: await testUsers(NEIGHBOURS.filter((n) => n !== 'alice').map((username) => ({ username, role: 'neighbour' as const }))),
  });
  const stops: (() => Promise<void> | void)[] = [];
  t.after(async () => {
    for (const s of stops.reverse()) await s();
    await m2.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const seenByOthers: Buffer[] = [];

  const phoneStore = new ChunkStore({ dir: join(dir, 'phone'), synchronous: 'NORMAL', ...opts.phoneStore });
  const phone = new PhoneAgent({ store: phoneStore, url: url2, username: OWNER, password: password(OWNER), name: OWNER, serveNeighbours: true, ...opts.phoneAgent });
  await phone.start();
  stops.push(async () => {
    await phone.stop();
    phoneStore.close();
  });

  const neighbours = new Map<string, PhoneAgent>();
  const stores = new Map<string, ChunkStore>();
  const startNeighbour = async (name: string) => {
    const store = stores.get(name) ?? new ChunkStore({ dir: join(dir, name), synchronous: 'NORMAL', ...opts.neighbourStore });
    stores.set(name, store);
    const agent = new PhoneAgent({ store, url: url2, username: name, password: password(name), name });
    await agent.start();
    // What the neighbour's phone gets: every request payload on its subtree.
    agent['client']!.on('message', (_topic: string, payload: Buffer) => seenByOthers.push(Buffer.from(payload)));
    neighbours.set(name, agent);
    return agent;
  };
  const stopNeighbour = async (name: string) => {
    await neighbours.get(name)?.stop();
    neighbours.delete(name);
  };
  for (const name of NEIGHBOURS.slice(0, opts.neighbours ?? 6)) await startNeighbour(name);
  stops.push(async () => {
    for (const name of [...neighbours.keys()]) await stopNeighbour(name);
    for (const s of stores.values()) s.close();
  });

  const rig: Rig = { mesh: m2, url: url2, dir, phone, neighbours, client: undefined as unknown as StoreClient, seenByOthers, startNeighbour, stopNeighbour };
  if (opts.uplink) {
    const upstream = await Upstream.start(PREFIX);
    stops.push(() => upstream.stop());
    (upstream.broker as Aedes).on('publish', (packet, client) => {
      if (client) seenByOthers.push(Buffer.from(packet.payload as Buffer));
    });
    const upStore = new ChunkStore({ dir: join(dir, 'upstream'), synchronous: 'NORMAL' });
    const upstreamAgent = new PhoneAgent({ store: upStore, url: upstream.url, name: OWNER, ingest: PREFIX });
    await upstreamAgent.start();
    stops.push(async () => {
      await upstreamAgent.stop();
      upStore.close();
    });
    const relay = new Relay({ mesh: m2, path: join(dir, 'outbox.sqlite'), origin: 'site', synchronous: 'NORMAL', upstream: { url: upstream.url, topicPrefix: PREFIX, backoffMs: { initial: 20, max: 200 } } });
    await relay.start();
    stops.push(() => relay.stop());
    const upstreamClient = await StoreClient.connect({ url: upstream.url, timeoutMs: 3000 });
    stops.push(() => upstreamClient.close());
    Object.assign(rig, { upstream, upstreamAgent, relay, upstreamClient });
  }
  rig.client = await StoreClient.connect({ url: url2, username: OWNER, password: password(OWNER), timeoutMs: 3000 });
  stops.push(() => rig.client.close());
  return rig;
}

/** A small tree with a marker string in every file; returns the markers. */
export function makeTree(root: string, marker = `PLAINTEXT-MARKER-${randomBytes(6).toString('hex')}`): string[] {
  mkdirSync(join(root, 'docs', 'deep'), { recursive: true });
  mkdirSync(join(root, 'empty-dir'), { recursive: true });
  const markers = [`${marker}-a`, `${marker}-b`, `${marker}-c`, `${marker}-d`];
  // Text that repeats its marker, so a chunk anywhere in the file carries it.
  const text = (m: string, n: number) => Buffer.from(Array.from({ length: n }, (_, i) => `${m} line ${i} of a private note\n`).join(''));
  writeFileSync(join(root, 'notes.txt'), text(markers[0]!, 20));
  writeFileSync(join(root, 'docs', 'report.txt'), text(markers[1]!, 12_000)); // ≈ 600 kB: several chunks
  writeFileSync(join(root, 'docs', 'deep', 'photo.bin'), Buffer.concat([Buffer.from(markers[2]!), randomBytes(300_000), Buffer.from(markers[2]!)]));
  writeFileSync(join(root, 'docs', 'deep', `${markers[3]}.name`), 'the file name is the secret here');
  writeFileSync(join(root, 'empty.txt'), '');
  return markers;
}

/** sha256 of every file under `root`, by relative path. */
export function treeHashes(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const rel of readdirSync(root, { recursive: true }) as string[]) {
    const abs = join(root, rel);
    if (statSync(abs).isFile()) out[relative(root, abs)] = createHash('sha256').update(readFileSync(abs)).digest('hex');
  }
  return out;
}
