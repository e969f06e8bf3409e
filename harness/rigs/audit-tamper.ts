/**
 * Neighbours that do not keep what they took, for the audit tests and bench: tamper() deletes a
 * share from a neighbour's store or alters one byte of it in place (under the store's back, as a
 * disk or a careless app would), and LyingHolder stands in for a neighbour's agent that answers
 * every `has` with "present" and every audit challenge with an answer it made up from what it
 * does have: another share (swapped), the share with one byte altered, or nothing (it deleted it).
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { MqttClient } from 'mqtt';
import { topicTree } from '../../common/topics.ts';
import { answerOf, ANSWER_BYTES, decodeChallenges } from '../../controller/store/audit-proof.ts';
import type { ChunkStore } from '../../controller/store/chunk-store.ts';
import { connectMqtt, decodeFrame, encodeFrame, storeTopics, subscribe } from '../../controller/store/protocol.ts';

export type Tampering = 'delete' | 'flip-byte';

/** Deletes the entry, or flips one byte of its body in the store's database (its bodies must be in SQLite). */
export function tamper(store: ChunkStore, addr: string, how: Tampering): void {
  if (how === 'delete') {
    store.delete(addr);
    return;
  }
  const db = new Database(join(store.dir, 'index.sqlite'));
  try {
    const { body } = db.prepare('SELECT body FROM chunks WHERE addr = ?').get(addr) as { body: Buffer };
    body[body.length >> 1] ^= 0x01;
    db.prepare('UPDATE chunks SET body = ? WHERE addr = ?').run(body, addr);
  } finally {
    db.close();
  }
}

export type Lie = 'swapped' | 'altered' | 'absent';

/** Answers what a neighbour's agent answers, lying about audits; `store` is what it really kept. */
export class LyingHolder {
  private constructor(private readonly client: MqttClient) {}

  static async start(opts: { url: string; name: string; password: string; store: ChunkStore; lie: Lie; baseTopic?: string }): Promise<LyingHolder> {
    const topics = storeTopics(topicTree(opts.baseTopic));
    const client = await connectMqtt(opts.url, { username: opts.name, password: opts.password });
    const held = opts.store.list({ cls: 'cold' }).map((e) => e.addr);
    const bytesFor = (addr: string): Uint8Array => {
      if (opts.lie === 'absent' || !opts.store.has(addr)) return Buffer.from(addr, 'hex'); // not the share: it has none
      if (opts.lie === 'swapped') return opts.store.get(held.find((a) => a !== addr) ?? addr);
      const altered = Buffer.from(opts.store.get(addr));
      altered[altered.length >> 1] ^= 0x01;
      return altered;
    };
    client.on('message', (topic, payload) => {
      const { header, body } = decodeFrame<{ op: string; rid: string; addrs?: string[] }>(payload);
      const replyTo = topics.response(opts.name, topic.split('/').at(-1)!);
      let data: Record<string, unknown> = { stored: true };
      let out: Uint8Array | undefined;
      if (header.op === 'has') data = { present: (header.addrs ?? []).map(() => true) };
      else if (header.op === 'audit') {
        const challenges = decodeChallenges(body) ?? [];
        const answers = Buffer.alloc(challenges.length * ANSWER_BYTES);
        challenges.forEach((c, j) => answers.set(answerOf(c.nonce, bytesFor(c.addr)), j * ANSWER_BYTES));
        data = { missing: [] };
        out = answers;
      } else if (header.op === 'get') {
        client.publish(replyTo, encodeFrame({ rid: header.rid, ok: false, code: 'CANOPY_ERR_STORE_NOT_FOUND', error: 'not here' }), { qos: 1 });
        return;
      }
      client.publish(replyTo, encodeFrame({ rid: header.rid, ok: true, data }, out), { qos: 1 });
    });
    await subscribe(client, topics.request(opts.name, '+'));
    return new LyingHolder(client);
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.client.end(true, {}, () => resolve()));
  }
}
