/**
 * The phone's hot cache as the downlink uses it: the four hot-item ops of the store protocol
 * (protocol.ts, answered by hot-items.ts on the phone), asked of one store agent through anything that can
 * send a store request — a StoreClient (tests, the bench) or the controller's own mesh
 * (meshRequester: the controller publishes on the agent's `req` topic as the trusted relay).
 */
import { randomBytes } from 'node:crypto';
import { CanopyError, isCanopyError } from '../../common/errors.ts';
import type { Mesh } from '../mesh/mesh.ts';
import type { HotList, HotStatus, HotWrite } from '../store/hot-items.ts';
import { encodeFrame, settleReply, storeTopics, type PendingReply, type StoreRequest } from '../store/protocol.ts';

export type { HotList, HotStatus, HotWrite };

export interface HotCache {
  /** The agent whose cache this is. */
  readonly agent: string;
  write(req: HotWrite, body: Uint8Array): Promise<HotStatus>;
  /** undefined when the agent has no such item. */
  status(item: string): Promise<HotStatus | undefined>;
  list(): Promise<HotList>;
  delete(item: string): Promise<boolean>;
}

/** Sends one store request to `agent` and resolves with the reply's data (StoreClient.request's shape). */
export type StoreRequester = (agent: string, req: StoreRequest, body?: Uint8Array) => Promise<{ data: unknown; body: Uint8Array }>;

/** The hot-item ops of `agent` over a requester. */
export function hotCache(agent: string, request: StoreRequester): HotCache {
  return {
    agent,
    write: async (req, body) => ((await request(agent, { op: 'hot-write', ...req }, body)).data as { status: HotStatus }).status,
    status: async (item) => {
      try {
        return ((await request(agent, { op: 'hot-status', item })).data as { status: HotStatus }).status;
      } catch (e) {
        if (isCanopyError(e) && e.code === 'CANOPY_ERR_STORE_NOT_FOUND') return undefined;
        throw e;
      }
    },
    list: async () => (await request(agent, { op: 'hot-list' })).data as HotList,
    delete: async (item) => ((await request(agent, { op: 'hot-delete', item })).data as { deleted: boolean }).deleted,
  };
}

/**
 * Store requests from inside the controller: published on `<base>/store/<agent>/req/<id>` by the
 * mesh itself (the trusted relay: no login), the replies taken from `res/<id>` by an in-process
 * subscription. start() before use, stop() after.
 */
export class MeshRequester {
  readonly id = `relay-${randomBytes(4).toString('hex')}`;
  private readonly topics: ReturnType<typeof storeTopics>;
  private readonly pending = new Map<string, PendingReply>();
  private unsubscribe: (() => Promise<void>) | undefined;
  private nextRid = 1;

  constructor(
    private readonly mesh: Mesh,
    private readonly timeoutMs = 10_000,
  ) {
    this.topics = storeTopics(mesh.topics);
  }

  async start(): Promise<void> {
    this.unsubscribe ??= await this.mesh.subscribe(this.topics.response('+', this.id), (_topic, payload) => settleReply(this.pending, payload));
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new CanopyError('CANOPY_ERR_CANCELLED', 'the relay stopped before the store agent answered'));
    }
    this.pending.clear();
  }

  readonly request: StoreRequester = (agent, req, body) => {
    const rid = `r${this.nextRid++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rid);
        reject(new CanopyError('CANOPY_ERR_TIMEOUT', `store agent "${agent}" did not answer ${req.op} within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
      this.mesh.publish(this.topics.request(agent, this.id), encodeFrame({ ...req, rid }, body), { qos: 1 }).catch((e: unknown) => {
        clearTimeout(timer);
        this.pending.delete(rid);
        reject(new CanopyError('CANOPY_ERR_LINK_DOWN', `store request to "${agent}" not sent: ${String(e)}`));
      });
    });
  };
}
