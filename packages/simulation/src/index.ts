export * from './sim-cluster.js';
