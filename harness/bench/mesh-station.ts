/**
 * The station's side of `bench mesh`, in a process of its own so what it reports is the broker's
 * and not the clients': its memory, its event loop. A Mesh made from the options in argv[2]
 * (users, anonymousRole, limits), driven over IPC by mesh.ts (fork()). It sends { ready, port }
 * and then answers
 *   rss-start / rss-stop  samples RSS every 20 ms (after a GC when --expose-gc); stop: { mb }, the
 *                         peak minus the RSS at the start
 *   flow-start            drone state as the fleet publishes it under load: 20 retained states
 *                         every 5 ms on canopy/drones/d1, and a 10 ms timer watching the loop
 *   flow-stop             { published, lagMs }: states published, the longest the loop stalled
 *   publish               one retained state carrying `marker`
 *   state                 { connections, refusals }
 *   stop                  stops the mesh and exits
 */
import { Mesh, type MeshOptions } from '../../controller/mesh/mesh.ts';

const MB = 1024 * 1024;

export type StationOptions = Pick<MeshOptions, 'users' | 'anonymousRole' | 'limits'>;
export type StationRequest = { id: number; cmd: 'rss-start' | 'rss-stop' | 'flow-start' | 'flow-stop' | 'publish' | 'state' | 'stop'; marker?: string };
export type StationReply = { id: number; mb?: number; published?: number; lagMs?: number; connections?: number; refusals?: Mesh['refusals'] };

const options = JSON.parse(process.argv[2] ?? '{}') as StationOptions;
const mesh = new Mesh({ ...options, tcp: { host: '127.0.0.1', port: 0 }, ws: false });
await mesh.start();

let before = 0;
let peak = 0;
let sampler: NodeJS.Timeout | undefined;
const sample = () => {
  peak = Math.max(peak, process.memoryUsage().rss);
};

let published = 0;
let worstLag = 0;
let flow: NodeJS.Timeout | undefined;
let watch: NodeJS.Timeout | undefined;
const state = (extra: object = {}) => JSON.stringify({ id: 'd1', seq: published++, lat: 47.4, lon: 8.5, altM: 30, ...extra });

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
    case 'flow-start': {
      published = 0;
      worstLag = 0;
      flow = setInterval(() => {
        for (let i = 0; i < 20; i++) mesh.publish('canopy/drones/d1', state(), { retain: true }).catch(() => {});
      }, 5);
      let last = performance.now();
      watch = setInterval(() => {
        const now = performance.now();
        worstLag = Math.max(worstLag, now - last - 10);
        last = now;
      }, 10);
      return reply({});
    }
    case 'flow-stop':
      clearInterval(flow);
      clearInterval(watch);
      return reply({ published, lagMs: worstLag });
    case 'publish':
      await mesh.publish('canopy/drones/d1', state({ marker: req.marker }), { retain: true });
      return reply({});
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
