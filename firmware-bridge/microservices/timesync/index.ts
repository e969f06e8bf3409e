export * from './timesync.ts';
