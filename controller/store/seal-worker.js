// Entry point of a seal worker (seal-pool.ts). It is JavaScript on purpose: on Node 20 a worker
// thread inherits neither tsx's hooks registered by bin/canopy.js (tsx/esm/api register()) nor
// those of `node --import tsx` (execArgv with --import does not reach the worker's own entry
// either: "Unknown file extension .ts"), so the worker registers tsx itself, as bin/canopy.js
// does, and then loads the TypeScript worker. Where a newer Node does pass the hooks on, the
// second registration is harmless.
import { register } from 'tsx/esm/api';

register();
await import('./seal-worker.ts');
