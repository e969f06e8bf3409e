/**
 * Signing on from canopy.yaml (issue 15): keys from files and the environment, the policy of
 * each link, the local timestamp kept in the data directory, and `canopy signing setup`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { common } from 'mavlink-mappings';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { isCanopyError } from '../../common/errors.ts';
import { createMemoryPair } from '../../firmware-bridge/links/memory.ts';
import { keyFromPassphrase, MavlinkSigning } from '../../firmware-bridge/microservices/signing/index.ts';
import { MavlinkNode } from '../../firmware-bridge/node.ts';
import { encodeFrame } from '../../firmware-bridge/protocol/frame.ts';
import { parseConfig, type CanopyConfig } from '../../controller/config.ts';
import { GroundStation } from '../../controller/ground-station.ts';
import { linkSigning, SIGNING_TIMESTAMP_FILE } from '../../controller/signing.ts';
import { canopy, spawnCanopy } from '../helpers/cli.ts';
import { eventually } from '../helpers/events.ts';
import { flush } from '../helpers/nodes.ts';
import { freePort } from '../../harness/rigs/ports.ts';

const HEX = 'ab'.repeat(32);

function dir(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'canopy-signing-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

function config(d: string, yaml: string, env: NodeJS.ProcessEnv = {}): CanopyConfig {
  return parseConfig(`dataDir: data\n${yaml}`, join(d, 'canopy.yaml'), d, env);
}

test('keys come from a file (64 hex digits or a passphrase) or the environment; mistakes name their field', (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'net.key'), `${HEX}\n`);
  writeFileSync(join(d, 'd7.key'), 'drone seven passphrase\n');
  const c = config(d, 'links: { gcs: ["udpout://127.0.0.1:14550"] }\nsigning:\n  key: { file: net.key }\n  drones: { "7": { file: d7.key }, "8": { env: D8_KEY } }\n', {});
  const s = linkSigning(c, new ManualClock(), { D8_KEY: 'eight' })!;
  assert.ok(s.signing.wantsSigned(1), 'the network key for a drone without its own');
  assert.equal(s.gcs('udpout://127.0.0.1:14550'), undefined, 'GCS links are trusted by default');
  assert.throws(() => linkSigning(c, new ManualClock(), {}), (e: unknown) => isCanopyError(e, 'CANOPY_ERR_CONFIG') && /signing\.drones\.8\.env: the environment variable D8_KEY is not set/.test(e.message));
  const missing = config(d, 'signing: { key: { file: nowhere.key } }\n');
  assert.throws(() => linkSigning(missing, new ManualClock()), /signing\.key\.file: cannot read ".*nowhere\.key" \(ENOENT\)/);
  const stray = config(d, 'links: { gcs: [] }\nsigning: { key: { file: net.key }, gcsLinks: { "udpin://0.0.0.0:14550": signed } }\n');
  assert.throws(() => linkSigning(stray, new ManualClock()), /signing\.gcsLinks: "udpin:\/\/0\.0\.0\.0:14550" is not one of links\.gcs/);
  const noNetworkKey = config(d, 'links: { gcs: ["udpout://127.0.0.1:14550"] }\nsigning: { drones: { "7": { file: d7.key } }, gcs: signed }\n');
  assert.throws(() => linkSigning(noNetworkKey, new ManualClock())!.gcs('udpout://127.0.0.1:14550'), /no network key/);
  assert.throws(() => config(d, 'signing: { requireSigned: true }\n'), /give a network key \(key\) or keys per drone \(drones\)/);
  assert.throws(() => config(d, 'signing: { drones: { "300": { file: x } } }\n'), /a system id from 1 to 255/);
});

test('a signed GCS link drops forged, replayed and unsigned frames; a trusted one passes unsigned ones; the drone link requires signed', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'net.key'), 'swarm key');
  const c = config(d, 'links: { gcs: ["memory:qgc", "memory:tool"] }\nsigning: { key: { file: net.key }, gcsLinks: { "memory:qgc": signed } }\n');
  const clock = new ManualClock();
  const s = linkSigning(c, clock)!;
  const [radioNear, radioFar] = createMemoryPair('radio', 'radio-far');
  const [qgcNear, qgcFar] = createMemoryPair('qgc', 'qgc-far');
  const [toolNear, toolFar] = createMemoryPair('tool', 'tool-far');
  const gs = new GroundStation({
    clock,
    droneLinks: [{ link: radioNear, name: 'radio', signing: s.drones }],
    gcsLinks: [{ link: qgcNear, name: 'memory:qgc', signing: s.gcs('memory:qgc') }, { link: toolNear, name: 'memory:tool', signing: s.gcs('memory:tool') }],
  });
  const key = keyFromPassphrase('swarm key');
  const drone = new MavlinkNode({ clock, sysid: 1, compid: 1, heartbeatHz: 0 });
  drone.addLink(radioFar, { signing: new MavlinkSigning({ clock, networkKey: key }) });
  const got: number[] = [];
  drone.on('message', ({ message }) => got.push((message as common.CommandLong).command ?? -1));
  const qgc = new MavlinkNode({ clock, sysid: 254, compid: 190, heartbeatHz: 0 });
  const qgcSigning = new MavlinkSigning({ clock, networkKey: key });
  const qgcChannel = qgc.addLink(qgcFar, { signing: qgcSigning });
  const tool = new MavlinkNode({ clock, sysid: 253, compid: 190, heartbeatHz: 0 });
  const toolChannel = tool.addLink(toolFar);
  for (const l of [radioFar, qgcFar, toolFar]) await l.start();
  await gs.start();
  t.after(() => gs.stop());
  const arm = (cmd: common.MavCmd) => {
    const m = new common.CommandLong();
    m.targetSystem = 1;
    m.targetComponent = 1;
    m.command = cmd;
    return m;
  };
  // The drone is heard (signed) so the router knows where it is; an unsigned impostor on the radio is not.
  drone.broadcast(new common.SystemTime());
  const radioChannel = gs.node.channels.find((ch) => ch.name === 'radio')!;
  radioFar.write(encodeFrame(new common.SystemTime(), { sysid: 1, compid: 1, seq: 9 }));
  await flush();
  assert.equal(radioChannel.stats.rejected.unsigned, 1, 'the drone link requires signed');
  qgcChannel.send(arm(common.MavCmd.COMPONENT_ARM_DISARM), qgc); // signed: forwarded
  // Forged (another key), replayed (the same bytes again) and unsigned from the signed link: dropped.
  const forged = encodeFrame(arm(common.MavCmd.DO_SET_MODE), { sysid: 254, compid: 190, seq: 1, signed: true });
  new MavlinkSigning({ clock, networkKey: keyFromPassphrase('not the key') }).sign(forged, 0, 1);
  let replay: Buffer | undefined;
  qgcChannel.on('sent', (raw) => (replay ??= Buffer.from(raw)));
  qgcChannel.send(arm(common.MavCmd.NAV_TAKEOFF), qgc);
  await flush();
  qgcFar.write(forged);
  qgcFar.write(replay!);
  qgcFar.write(encodeFrame(arm(common.MavCmd.NAV_LAND), { sysid: 254, compid: 190, seq: 3 }));
  // From the trusted link an unsigned command passes Canopy (the drone's own policy decides).
  toolChannel.send(arm(common.MavCmd.NAV_RETURN_TO_LAUNCH), tool);
  await flush();
  const qgcIn = gs.node.channels.find((ch) => ch.name === 'memory:qgc')!.stats.rejected;
  assert.deepEqual([qgcIn['bad-signature'], qgcIn.replay, qgcIn.unsigned], [1, 1, 1]);
  assert.deepEqual(got.filter((x) => x > 0), [common.MavCmd.COMPONENT_ARM_DISARM, common.MavCmd.NAV_TAKEOFF, common.MavCmd.NAV_RETURN_TO_LAUNCH]);
});

test('the local signing timestamp is kept in the data directory: a restart resumes above it', (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'net.key'), HEX);
  const c = config(d, 'signing: { key: { file: net.key } }\n');
  mkdirSync(join(d, 'data'));
  const clock = new ManualClock();
  const first = linkSigning(c, clock)!.signing;
  let last = 0;
  for (let i = 0; i < 100; i++) last = first.nextTimestamp();
  const stored = Number(readFileSync(join(d, 'data', SIGNING_TIMESTAMP_FILE), 'utf8'));
  assert.ok(stored > last, 'a reservation above what was used');
  // The clock went back (a Pi without its RTC): the restart still starts above.
  const again = linkSigning(c, new ManualClock(clock.now() - 3_600_000))!.signing;
  assert.ok(again.nextTimestamp() > last);
});

test('canopy signing setup hands a simulated drone its key; it then signs with it', async (t) => {
  const d = dir(t);
  writeFileSync(join(d, 'net.key'), 'swarm key');
  writeFileSync(join(d, 'canopy.yaml'), 'dataDir: data\nlinks: { gcs: [] }\nsigning: { key: { file: net.key } }\n');
  const port = await freePort();
  const serve = spawnCanopy(t, 'sim', 'serve', '--link', `tcpin://127.0.0.1:${port}`, '--drones', '1');
  await eventually(() => /tcpin/.test(serve.output()) || serve.output().length > 0, 20_000, 'sim serve started');
  const r = await canopy('signing', 'setup', '--link', `tcp://127.0.0.1:${port}`, '--sysid', '1', '--config', join(d, 'canopy.yaml'), '--timeout', '20');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /drone 1 signs with its key \(\d+ signed frame\(s\) verified\)/);
  const wrong = await canopy('signing', 'setup', '--link', `tcp://127.0.0.1:${port}`, '--sysid', '0', '--config', join(d, 'canopy.yaml'));
  assert.equal(wrong.code, 64, 'EX_USAGE');
  assert.match(wrong.stderr, /--sysid must be a system id from 1 to 255/);
});
