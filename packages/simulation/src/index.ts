export { type ElasticOptions, SimCluster, type SimClusterOptions, type SimCoordinator, type SimStorageNode } from './sim-cluster.js';
