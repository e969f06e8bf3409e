export * from './param.ts';
