import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { common, minimal } from 'mavlink-mappings';
import { MavLinkPacketSignature } from 'node-mavlink';
import { ManualClock } from '../../firmware-bridge/clock.ts';
import { MavlinkSigning, computeSignature, signingTimestamp, SIGNING_EPOCH_MS } from '../../firmware-bridge/microservices/signing/index.ts';
import { encodeFrame, frameFromRaw } from '../../firmware-bridge/protocol/frame.ts';
import { frameCrc } from '../../firmware-bridge/protocol/crc.ts';
import { collect, flush, nodePair } from '../helpers/nodes.ts';

const KEY = createHash('sha256').update('canopy test key').digest();

function heartbeat(): minimal.Heartbeat {
  const hb = new minimal.Heartbeat();
  hb.type = minimal.MavType.QUADROTOR;
  hb.autopilot = minimal.MavAutopilot.ARDUPILOTMEGA;
  hb.customMode = 4;
  return hb;
}

function signedFrame(signing: MavlinkSigning, seq = 0, linkId = 0): Buffer {
  const raw = encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq, signed: true });
  signing.sign(raw, linkId, 255);
  return raw;
}

test('signature matches the spec formula and node-mavlink on the same bytes', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const signing = new MavlinkSigning({ clock, networkKey: KEY });
  const raw = signedFrame(signing, 7, 3);
  const sigAt = raw.length - 13;
  assert.equal(raw[sigAt], 3, 'link id');
  assert.equal(raw.readUIntLE(sigAt + 1, 6), signingTimestamp(clock.now()));
  assert.equal(signingTimestamp(SIGNING_EPOCH_MS + 1), 100, 'unit is 10 µs');
  const byHand = createHash('sha256').update(KEY).update(raw.subarray(0, raw.length - 6)).digest().subarray(0, 6);
  assert.deepEqual(raw.subarray(raw.length - 6), byHand);
  assert.deepEqual(computeSignature(KEY, raw), byHand);
  assert.equal(new MavLinkPacketSignature(raw).calculate(KEY), byHand.toString('hex'));
});

test('timestamps strictly increase for back-to-back frames on a frozen clock, and survive a restart', () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  let saved: number | undefined;
  const store = { load: () => saved, save: (ts: number) => void (saved = ts) };
  const signing = new MavlinkSigning({ clock, networkKey: KEY, store });
  let last = -1;
  for (let i = 0; i < 1000; i++) {
    const raw = signedFrame(signing, i);
    const ts = raw.readUIntLE(raw.length - 12, 6);
    assert.ok(ts > last);
    last = ts;
  }
  assert.ok(saved !== undefined && saved > last, 'a reservation above the last timestamp is persisted');
  // Restart with the clock set back (e.g. a Pi without RTC before NTP): still above everything used.
  const restarted = new MavlinkSigning({ clock: new ManualClock(Date.UTC(2025, 0, 1)), networkKey: KEY, store });
  assert.ok(restarted.nextTimestamp() > last);
});

test('round trip between two nodes: signed frames verify; replay and tampering are refused', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const gcsSigning = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const droneSigning = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const { a: gcs, b: drone, ca, cb, lb } = await nodePair({ clock, a: { channel: { signing: gcsSigning } }, b: { channel: { signing: droneSigning } } });
  const atDrone = collect(drone);
  const cmd = new common.CommandLong();
  cmd.targetSystem = 1;
  cmd.targetComponent = 1;
  cmd.command = common.MavCmd.COMPONENT_ARM_DISARM;
  cmd._param1 = 1;
  const sent = ca.send(cmd, gcs, 1);
  await flush();
  assert.equal(atDrone.length, 1);
  assert.ok(atDrone[0]!.frame.signed);
  assert.equal(droneSigning.stats.verified, 1);

  // The same bytes again: a replay.
  lb.emit('data', Buffer.from(sent), 'attacker');
  // A tampered copy with a fresh timestamp: bad signature.
  const tampered = Buffer.from(ca.send(cmd, gcs, 1));
  await flush();
  // An attacker changes the payload and fixes the CRC; only the signature can tell.
  tampered[10] ^= 1;
  const len = tampered[1]!;
  tampered.writeUInt16LE(frameCrc(tampered, 1, 10 + len, common.CommandLong.MAGIC_NUMBER), 10 + len);
  lb.emit('data', tampered, 'attacker');
  await flush();
  assert.equal(atDrone.length, 2, 'only the genuine second command got through');
  assert.equal(droneSigning.stats.replayed, 1);
  assert.equal(droneSigning.stats.badSignature, 1);
  assert.equal(cb.stats.rejected.replay, 1);
  assert.equal(cb.stats.rejected['bad-signature'], 1);
});

test('require-signed drops unsigned frames except RADIO_STATUS; a stale new stream is refused', async () => {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const signing = new MavlinkSigning({ clock, networkKey: KEY, requireSigned: true });
  const unsignedHb = frameFromRaw(encodeFrame(heartbeat(), { sysid: 1, compid: 1, seq: 0 }));
  const radio = new common.RadioStatus();
  radio.rssi = 150;
  const unsignedRadio = frameFromRaw(encodeFrame(radio, { sysid: 51, compid: 68, seq: 0 }));
  assert.equal(signing.verify(unsignedHb, 0), 'unsigned');
  assert.equal(signing.verify(unsignedRadio, 0), 'unsigned-allowed');
  assert.equal(new MavlinkSigning({ clock, networkKey: KEY }).verify(unsignedHb, 0), 'unsigned-allowed');

  // A frame signed two minutes ago, from a stream never seen: refused as a replay.
  const oldSigner = new MavlinkSigning({ clock: new ManualClock(clock.now() - 120_000), networkKey: KEY });
  assert.equal(signing.verify(frameFromRaw(signedFrame(oldSigner)), 0), 'replay');
  const fresh = new MavlinkSigning({ clock, networkKey: KEY });
  assert.equal(signing.verify(frameFromRaw(signedFrame(fresh)), 0), 'ok');
});

test('keys are 32 bytes; a wrong size is a clear error', () => {
  assert.throws(() => new MavlinkSigning({ clock: new ManualClock(), networkKey: Buffer.alloc(16) }), /32 bytes/);
});
