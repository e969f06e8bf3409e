/**
 * MAVLink 2 signing from canopy.yaml's `signing:` section: the keys (from files or environment
 * variables), the policy of each link (drone links require signed frames; each GCS link is signed
 * or trusted), and the local timestamp kept in the data directory so a restart never reuses one
 * (mavlink.io message_signing.html "Timestamp handling").
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChannelSigning } from '../firmware-bridge/channel.ts';
import type { Clock } from '../firmware-bridge/clock.ts';
import { CanopyError } from '../common/errors.ts';
import { keyFromPassphrase, MavlinkSigning, type TimestampStore } from '../firmware-bridge/microservices/signing/index.ts';
import { dataDir, resolvePath, type CanopyConfig } from './config.ts';

type KeySource = { file: string } | { env: string };

/** The file in the data directory that holds the signing timestamp reservation. */
export const SIGNING_TIMESTAMP_FILE = 'signing-timestamp';

/** 64 hex digits are the key itself; anything else (trimmed, not empty) is a passphrase. */
export function keyFromText(text: string, where: string): Buffer {
  const t = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (!t) throw new CanopyError('CANOPY_ERR_CONFIG', `${where} is empty: put 64 hex digits or a passphrase in it`);
  return keyFromPassphrase(t);
}

export function loadKey(c: CanopyConfig, source: KeySource, field: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  if ('env' in source) {
    const v = env[source.env];
    if (v === undefined || v === '') throw new CanopyError('CANOPY_ERR_CONFIG', `${field}.env: the environment variable ${source.env} is not set`);
    return keyFromText(v, `the environment variable ${source.env}`);
  }
  const path = resolvePath(c, source.file);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new CanopyError('CANOPY_ERR_CONFIG', `${field}.file: cannot read "${path}" (${(e as NodeJS.ErrnoException).code})`, { cause: e });
  }
  return keyFromText(text, `${field}.file "${path}"`);
}

/** The local timestamp in a file, replaced atomically (a power cut leaves the old value or the new). */
export function fileTimestampStore(path: string): TimestampStore {
  return {
    load() {
      if (!existsSync(path)) return undefined;
      const n = Number(readFileSync(path, 'utf8').trim());
      return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
    },
    save(timestamp) {
      const tmp = `${path}.tmp`;
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(tmp, `${timestamp}\n`);
      renameSync(tmp, path);
    },
  };
}

export interface LinkSigning {
  signing: MavlinkSigning;
  /** The policy of the drone links. */
  drones: ChannelSigning;
  /** The policy of a GCS link (undefined: trusted, neither signed nor checked). */
  gcs(url: string): ChannelSigning | undefined;
}

/** The links' signing from the config; undefined when it has no `signing:` section. */
export function linkSigning(c: CanopyConfig, clock: Clock, env: NodeJS.ProcessEnv = process.env): LinkSigning | undefined {
  const s = c.signing;
  if (!s) return undefined;
  for (const url of Object.keys(s.gcsLinks)) {
    if (!c.links.gcs.includes(url)) throw new CanopyError('CANOPY_ERR_CONFIG', `signing.gcsLinks: "${url}" is not one of links.gcs (${c.links.gcs.join(', ') || 'none'})`);
  }
  const networkKey = s.key && loadKey(c, s.key, 'signing.key', env);
  const keys = new Map(Object.entries(s.drones).map(([sysid, source]) => [Number(sysid), loadKey(c, source, `signing.drones.${sysid}`, env)]));
  const signing = new MavlinkSigning({
    clock,
    networkKey,
    keys,
    requireSigned: s.requireSigned,
    store: fileTimestampStore(join(dataDir(c), SIGNING_TIMESTAMP_FILE)),
    futureTolerance: s.futureToleranceS * 100_000,
  });
  return {
    signing,
    drones: signing,
    gcs(url) {
      const policy = s.gcsLinks[url] ?? s.gcs;
      if (policy === 'trusted') return undefined;
      if (!networkKey) throw new CanopyError('CANOPY_ERR_CONFIG', `signing: the GCS link ${url} is "signed" but there is no network key (signing.key) for a GCS to sign with`);
      return signing.withPolicy({ requireSigned: true });
    },
  };
}
