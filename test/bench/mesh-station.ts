/**
 * The station's side of `bench mesh`'s floods, in a process of its own so the memory it reports is
 * the broker's and not the attacking clients': a Mesh with the given users and default limits,
 * driven over IPC. Started by mesh.ts with fork(); it sends { ready, port } and then answers
 *   { cmd: 'rss-start' }  starts sampling RSS every 20 ms (after a GC when --expose-gc)
 *   { cmd: 'rss-stop' }   { mb }: the peak minus the RSS at the start
 *   { cmd: 'state' }      { connections, refusals }
 *   { cmd: 'stop' }       stops the mesh and exits
 */
import { Mesh } from '../../controller/mesh/mesh.ts';
import type { MeshUser } from '../../controller/mesh/users.ts';

const MB = 1024 * 1024;

export type StationRequest = { id: number; cmd: 'rss-start' | 'rss-stop' | 'state' | 'stop' };
export type StationReply = { id: number; mb?: number; connections?: number; refusals?: Mesh['refusals'] };

const users = JSON.parse(process.argv[2] ?? '[]') as MeshUser[];
const mesh = new Mesh({ users, tcp: { host: '127.0.0.1', port: 0 }, ws: false });
await mesh.start();

let before = 0;
let peak = 0;
let sampler: NodeJS.Timeout | undefined;
const sample = () => {
  const m = process.memoryUsage();
  if (m.rss > peak && process.env.CANOPY_BENCH_DEBUG) console.error(JSON.stringify({ rss: m.rss >> 20, heap: m.heapUsed >> 20, ext: m.external >> 20, ab: m.arrayBuffers >> 20, conns: mesh.connections }));
  peak = Math.max(peak, m.rss);
};

process.on('message', async (req: StationRequest) => {
  const reply = (r: Omit<StationReply, 'id'>) => process.send!({ id: req.id, ...r });
  switch (req.cmd) {
    case 'rss-start':
      (globalThis as { gc?: () => void }).gc?.();
      before = peak = process.memoryUsage().rss;
      clearInterval(sampler);
      sampler = setInterval(sample, 20);
      return reply({});
    case 'rss-stop':
      clearInterval(sampler);
      sample();
      return reply({ mb: (peak - before) / MB });
    case 'state':
      return reply({ connections: mesh.connections, refusals: { ...mesh.refusals } });
    case 'stop':
      clearInterval(sampler);
      await mesh.stop();
      reply({});
      process.disconnect();
      return;
  }
});
process.send!({ ready: true, port: mesh.addresses().tcp });
