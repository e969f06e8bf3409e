/**
 * MQTT client helpers for tests: connect and report the CONNACK outcome, publish and report
 * whether the broker acknowledged or closed the connection, subscribe and report granted QoS.
 */
import { createConnection } from 'node:net';
import mqtt, { MqttClient, type IClientOptions } from 'mqtt';

export type ConnectOutcome = { ok: true; client: MqttClient } | { ok: false; returnCode: number };

/**
 * Connects once (no reconnects); resolves with the client or the CONNACK refusal code. `from`
 * binds the client's end to a local address (any of 127.0.0.0/8 is loopback on Linux: a second
 * "host" for per-address limits).
 */
export function tryConnect(url: string, opts: IClientOptions = {}, from?: string): Promise<ConnectOutcome> {
  return new Promise((resolve, reject) => {
    const o = { reconnectPeriod: 0, connectTimeout: 5000, ...opts };
    let client: MqttClient;
    if (from) {
      const u = new URL(url);
      client = new MqttClient(() => createConnection({ host: u.hostname, port: Number(u.port), localAddress: from }), { protocolVersion: 4, ...o });
    } else client = mqtt.connect(url, o);
    const onClose = () => reject(new Error(`connection to ${url} closed before CONNACK`));
    client.once('connect', () => {
      client.off('close', onClose);
      resolve({ ok: true, client });
    });
    client.once('error', (err: Error & { code?: number }) => {
      client.off('close', onClose);
      client.end(true);
      if (typeof err.code === 'number') resolve({ ok: false, returnCode: err.code });
      else reject(err);
    });
    // A connection that dies before CONNACK (connect timeout, peer killed) ends with 'close' only.
    client.once('close', onClose);
  });
}

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const outcome = await tryConnect(url, opts);
  if (!outcome.ok) throw new Error(`CONNACK refused with return code ${outcome.returnCode}`);
  return outcome.client;
}

/** Publishes at QoS 1: 'acked' on PUBACK, 'closed' when the broker drops the connection instead. */
export function publishOutcome(client: MqttClient, topic: string, payload: string | Buffer): Promise<'acked' | 'closed'> {
  return new Promise((resolve) => {
    const onClose = () => resolve('closed');
    client.once('close', onClose);
    client.publish(topic, payload, { qos: 1 }, (err) => {
      if (err) return; // the close handler answers
      client.off('close', onClose);
      resolve('acked');
    });
  });
}

/** Subscribes and returns the granted QoS (128 = refused, MQTT 3.1.1 §3.9.3). */
export function subscribeGranted(client: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
  return new Promise((resolve, reject) => {
    // mqtt.js reports a refusal as an error carrying the SUBACK; the SUBACK's codes are the answer.
    client.subscribe(filter, { qos }, (err, _subs, suback) => {
      const code = suback?.granted?.[0];
      if (typeof code === 'number') resolve(code);
      else reject(err ?? new Error('SUBACK without a return code'));
    });
  });
}

/** Resolves with the next message on `topic` (or matching `predicate`), rejects after `ms`. */
export function nextMessage(client: MqttClient, predicate: (topic: string, payload: Buffer) => boolean, ms = 2000): Promise<{ topic: string; payload: Buffer }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('message', onMessage);
      reject(new Error(`no matching message within ${ms} ms`));
    }, ms);
    const onMessage = (topic: string, payload: Buffer) => {
      if (!predicate(topic, payload)) return;
      clearTimeout(timer);
      client.off('message', onMessage);
      resolve({ topic, payload });
    };
    client.on('message', onMessage);
  });
}

export function end(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(true, {}, () => resolve()));
}
