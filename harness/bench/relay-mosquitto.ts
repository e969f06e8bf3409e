/**
 * The `vs_mosquitto` side of the relay bench: the same backlog, link and windows through a
 * Mosquitto broker whose bridge forwards `canopy/relay/bulk/#` at QoS 1 to the upstream broker.
 * Mosquitto is configured as well as it allows for this job: persistent bridge session, no queue
 * limit, no in-flight limit, the shortest reconnect delay (1 s), a 5 s keepalive.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEnvelope } from '../../common/topics.ts';
import { connect, end } from '../rigs/mqtt.ts';
import { freePort } from '../rigs/ports.ts';
import { driveLink, type LinkScenario } from './relay.ts';

/** Goodput ratio of a Mosquitto bridge: distinct payload bytes ÷ (capacity × open time). */
export async function mosquittoGoodput(scenario: LinkScenario, backlogBytes: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'canopy-bench-mosquitto-'));
  chmodSync(dir, 0o777); // mosquitto started as root drops to its own user, which must write its store here
  const port = await freePort();
  const run = await driveLink(
    scenario,
    async (link) => {
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          `listener ${port} 127.0.0.1`,
          'allow_anonymous true',
          'persistence true',
          `persistence_location ${dir}/`,
          'max_queued_messages 0',
          'max_inflight_messages 0',
          'connection upstream',
          `address 127.0.0.1:${link.port}`,
          `topic # out 1 canopy/relay/bulk/ ${'bench/site/'}`,
          'cleansession false',
          'try_private false',
          'bridge_attempt_unsubscribe false',
          'notifications false', // aedes refuses $SYS publishes, the default notification topic
          'bridge_protocol_version mqttv311',
          'restart_timeout 1',
          'keepalive_interval 5',
          '',
        ].join('\n'),
      );
      const broker = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
      const publisher = await connectWithRetry(`mqtt://127.0.0.1:${port}`);
      const body = new Uint8Array(scenario.itemBytes);
      const publishes: Promise<void>[] = [];
      for (let i = 0; i * scenario.itemBytes < backlogBytes; i++) {
        publishes.push(new Promise((resolve, reject) => publisher.publish(`canopy/relay/bulk/backup/${i}`, Buffer.from(encodeEnvelope(`mosq:${i}`, body)), { qos: 1 }, (e) => (e ? reject(e) : resolve()))));
      }
      await Promise.all(publishes);
      await end(publisher);
      return broker;
    },
    async (broker) => {
      await new Promise<void>((resolve) => {
        broker.once('exit', () => resolve());
        broker.kill('SIGTERM');
      });
    },
  );
  rmSync(dir, { recursive: true, force: true });
  return run.deliveredBytes / ((scenario.bytesPerSec * run.openMs) / 1000);
}

async function connectWithRetry(url: string): Promise<Awaited<ReturnType<typeof connect>>> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await connect(url);
    } catch (e) {
      if (attempt > 100) throw e;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
