/**
 * The `store` bench's audit figures (docs/audits.md), over a real mesh with six neighbours' agents:
 *   audit_detect_pct            shares tampered or removed that one audit round caught (goal 100):
 *                               on each of five neighbours a share in three is deleted, has one
 *                               byte altered in place, or (a lying agent) is answered as if swapped,
 *                               altered or held when it is not
 *   audit_false_fail_pct        intact shares the round called failed (should be 0)
 *   audit_bytes_vs_share_bytes  the round's request and reply bytes ÷ the bytes of the shares it
 *                               covered (goal ≤ 0.01)
 *   audit_round_ms              one clean round over every share
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Figures } from '../../controller/commands/bench.ts';
import { audit } from '../../controller/store/audit.ts';
import { backup } from '../../controller/store/backup.ts';
import { ChunkStore } from '../../controller/store/chunk-store.ts';
import { Ledger } from '../../controller/store/ledger.ts';
import { openManifest } from '../../controller/store/manifest.ts';
import { PhoneAgent } from '../../controller/store/phone-agent.ts';
import { StoreClient } from '../../controller/store/protocol.ts';
import { LyingHolder, tamper, type Lie, type Tampering } from '../rigs/audit-tamper.ts';
import { password, startMesh, testUsers } from '../rigs/mesh.ts';

const NEIGHBOURS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

export async function auditFigures(work: string, quick: boolean): Promise<Figures> {
  const { mesh, url } = await startMesh({ users: await testUsers(NEIGHBOURS.filter((n) => n !== 'alice').map((username) => ({ username, role: 'neighbour' as const }))) });
  const stops: (() => Promise<void> | void)[] = [() => mesh.stop()];
  try {
    const phoneStore = new ChunkStore({ dir: join(work, 'audit-phone'), synchronous: 'NORMAL' });
    const phone = new PhoneAgent({ store: phoneStore, url, username: 'phone', password: password('phone'), name: 'phone', serveNeighbours: true });
    await phone.start();
    stops.push(async () => {
      await phone.stop();
      phoneStore.close();
    });
    const agents = new Map<string, { agent: PhoneAgent; store: ChunkStore }>();
    for (const name of NEIGHBOURS) {
      const store = new ChunkStore({ dir: join(work, `audit-${name}`), synchronous: 'NORMAL' });
      const agent = new PhoneAgent({ store, url, username: name, password: password(name), name });
      await agent.start();
      agents.set(name, { agent, store });
      // stop() is a no-op for an agent already stopped (the liars' stand-ins).
      stops.push(async () => {
        await agent.stop();
        store.close();
      });
    }
    const client = await StoreClient.connect({ url, username: 'phone', password: password('phone'), timeoutMs: 30_000 });
    stops.push(() => client.close());
    const ledger = new Ledger(join(work, 'audit-owner'));
    stops.push(() => ledger.close());

    const src = join(work, 'audit-src', 'tree');
    mkdirSync(src, { recursive: true });
    for (let i = 0; i < (quick ? 4 : 12); i++) writeFileSync(join(src, `file-${i}.bin`), randomBytes(1 << 20));
    const targets = { client, owner: 'phone', neighbours: NEIGHBOURS, k: 3, n: 6, uplink: false, timeoutMs: 10_000 } as const;
    const b = await backup({ ...targets, path: src, passphrase: 'bench', kdfLogN: 4, onReceipt: (r) => void ledger.keepReceipt(r) });
    const { body } = await openManifest(b.manifest, 'bench');

    const t0 = performance.now();
    const clean = await audit({ ...targets, manifest: b.manifest, passphrase: 'bench', ledger });
    const figures: Figures = { audit_round_ms: performance.now() - t0, audit_shares: clean.audited, audit_bytes_vs_share_bytes: clean.auditBytes / clean.shareBytes };

    // The tampering, on five of the six neighbours.
    const tampered = new Set<string>();
    const sharesOf = (nb: string) => body.chunks.flatMap((c) => c.shares.filter((s) => s.holder === nb));
    for (const [nb, how] of [['alice', 'delete'], ['bob', 'flip-byte']] as [string, Tampering][]) {
      for (const s of sharesOf(nb).filter((_, i) => i % 3 === 0)) {
        tamper(agents.get(nb)!.store, s.addr, how);
        tampered.add(s.addr);
      }
    }
    for (const [nb, lie] of [['dave', 'swapped'], ['erin', 'altered'], ['frank', 'absent']] as [string, Lie][]) {
      await agents.get(nb)!.agent.stop();
      const liar = await LyingHolder.start({ url, name: nb, password: password(nb), store: agents.get(nb)!.store, lie });
      stops.push(() => liar.stop());
      for (const s of sharesOf(nb)) tampered.add(s.addr);
    }
    // The detection round alone: no repair (the grant withheld), so the figure is the audit's.
    const caught = await audit({ ...targets, manifest: b.manifest, passphrase: 'bench', ledger, grant: () => false });
    const failed = new Set(caught.failed.map((f) => f.addr));
    figures.audit_tampered_shares = tampered.size;
    figures.audit_detect_pct = (100 * [...tampered].filter((a) => failed.has(a)).length) / tampered.size;
    figures.audit_false_fail_pct = (100 * [...failed].filter((a) => !tampered.has(a)).length) / Math.max(1, caught.audited - tampered.size);
    return figures;
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
}
