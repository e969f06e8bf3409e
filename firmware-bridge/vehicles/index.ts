export * from './link-quality.ts';
export * from './manager.ts';
export * from './modes.ts';
export * from './vehicle.ts';
export * from './streams.ts';
